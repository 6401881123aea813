"""The training step under torchrun: the model in DistributedDataParallel, BatchNorm over the global batch.

DDP synchronises gradients only through its ``forward``, but the study's losses call other methods of
their models (the dual-stream model's two streams); so what DDP wraps is the loss itself, a module whose
forward is ``loss_fn(model, batch) * weight`` (the part's weight, :mod:`flup.training.sharding`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from flup.training import sync_norm


class _LossStep(nn.Module):
    def __init__(self, model: nn.Module, loss_fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch, weight: float) -> torch.Tensor:
        return self.loss_fn(self.model, batch) * weight


def wrap(model: nn.Module, loss_fn: Callable) -> tuple[nn.Module, Callable]:
    """``(ddp, step_loss)`` for :func:`flup.training.loop.optimizer_step`: ``step_loss(ddp, (batch, weight))``.

    The model's BatchNorm layers become synchronised ones in place, sharing parameters and buffers (an
    optimiser over ``model.parameters()`` stays valid); DDP starts every rank from rank 0's weights.
    """
    device = next(model.parameters()).device
    if device.type == "cuda":
        for name, child in list(model.named_children()):
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        ddp = DistributedDataParallel(_LossStep(model, loss_fn), device_ids=[device.index])
    else:
        sync_norm.convert(model)
        ddp = DistributedDataParallel(_LossStep(model, loss_fn))

    def step_loss(wrapped: nn.Module, part) -> torch.Tensor:
        batch, weight = part
        return wrapped(batch, weight)

    return ddp, step_loss
