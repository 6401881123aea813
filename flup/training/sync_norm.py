"""BatchNorm over the global batch when the ranks train on CPU (gloo).

torch's SyncBatchNorm runs on GPUs only (its kernels have no CPU version). Without it each rank would
normalise over its part of the batch alone, and two processes would not train as one does. This module
computes the same statistics from all-reduced sums (whose backward sums the ranks' gradients, as
SyncBatchNorm's does); in eval mode, and in a one-process world, it is plain BatchNorm.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradient: each rank's loss depends on every
    rank's inputs through the shared statistics."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm of any dimension (1d, 2d, 3d) over the ranks' global batch."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {x.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, *range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64)
        dist.all_reduce(count)
        n = float(count.item())
        mean = _SumOverRanks.apply(x.sum(dims)) / n
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims)) / n
        if self.running_mean is not None:  # else track_running_stats=False: batch statistics only
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(var.detach() * (n / max(n - 1, 1)), alpha=momentum)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is None:
            return out
        return out * self.weight.view(shape) + self.bias.view(shape)


def convert(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm (1d, 2d, 3d) replaced in place by a :class:`CpuSyncBatchNorm` sharing
    its parameters and buffers (an optimiser built before keeps working)."""
    for name, child in module.named_children():
        if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
            synced = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                      child.track_running_stats)
            synced.weight, synced.bias = child.weight, child.bias
            synced.running_mean, synced.running_var = child.running_mean, child.running_var
            synced.num_batches_tracked = child.num_batches_tracked
            synced.train(child.training)
            setattr(module, name, synced)
        else:
            convert(child)
    return module
