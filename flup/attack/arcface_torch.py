"""The embedded ArcFace recogniser as a PyTorch module, and its fine-tuning on obfuscated faces.

The module is rebuilt from the ONNX file with onnx2torch every time (the architecture is never
pickled); fine-tuned weights are a safetensors state_dict loaded into that rebuilt module.
The ONNX graph has its BatchNorms folded into the convolutions but one, a BatchNorm1d on the
embedding, which normalises over the batch while fine-tuning (over all ranks' parts under torchrun).
Input: 112x112 BGR crops from ``recognition.align``; the preprocessing matches InsightFace's (RGB,
(x - 127.5) / 127.5).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flup.attack.attack_data import AttackFaces
from flup.training import distributed
from flup.training.loop import fit
from flup.training.sharding import shard
from flup.training.weight_files import load_weights
from flup.verify.engine import in_batches

log = logging.getLogger(__name__)


def convert(onnx_path: str | Path) -> nn.Module:
    """The ONNX recogniser as an equivalent torch module (onnx2torch), in eval mode."""
    import onnx
    from onnx2torch import convert as onnx_to_torch

    module = onnx_to_torch(onnx.load(str(onnx_path)))
    # Channels-last: about 2x faster on CPU (oneDNN), the same numbers up to float rounding.
    return module.to(memory_format=torch.channels_last).eval()


def load(onnx_path: str | Path, weights: str | Path) -> nn.Module:
    """The architecture from ``onnx_path`` with fine-tuned ``weights`` (.safetensors) loaded strictly."""
    return load_weights(convert(onnx_path), weights).eval()


def to_tensor(crops: Sequence[np.ndarray]) -> torch.Tensor:
    batch = np.stack(crops)[:, :, :, ::-1].astype(np.float32)
    # HWC pixels permuted to NCHW are already laid out channels-last: keep that layout.
    return torch.from_numpy((batch - 127.5) / 127.5).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def embed(module: nn.Module, crops: Sequence[np.ndarray], batch_size: int = 64, device="cpu") -> np.ndarray:
    """L2-normalised embeddings (n, 512) of aligned BGR crops."""
    module.eval()
    return in_batches(lambda chunk: F.normalize(module(to_tensor(chunk).to(device)), dim=1).float().cpu().numpy(),
                      crops, batch_size)


def cosine_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (1 - F.cosine_similarity(predicted, target, dim=1)).mean()


def finetune(
    student: nn.Module,
    faces: AttackFaces,
    teacher: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    samples_per_epoch: int | None,
    seed: int,
    device: torch.device,
    validate: Callable[[nn.Module], dict] | None = None,
) -> list[dict]:
    """Distil the frozen recogniser into ``student`` on obfuscated faces.

    Sample ``i`` of ``faces`` (obfuscated, or sharp with the sampler's ``sharp_fraction``) is pulled
    towards ``teacher[i]``, the frozen model's embedding of the same image's sharp crop.
    """
    if len(teacher) != len(faces):
        raise ValueError(f"{len(teacher)} teacher embeddings for {len(faces)} training faces")
    torch.manual_seed(seed)
    student.to(device)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    targets = torch.from_numpy(np.ascontiguousarray(teacher, dtype=np.float32))
    n = len(faces) if samples_per_epoch is None else min(int(samples_per_epoch), len(faces))

    world = distributed.world()

    def batches(epoch: int):
        order = np.random.default_rng([seed, epoch]).permutation(len(faces))[:n]
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            if world.size > 1:  # this rank's part of the global batch, with its weight (see fit)
                rows, weight = shard(rows, world)
                yield (to_tensor([faces.sample(int(i), epoch)[1] for i in rows]), targets[rows]), weight
            else:
                yield to_tensor([faces.sample(int(i), epoch)[1] for i in rows]), targets[rows]

    def loss_fn(model: nn.Module, batch) -> torch.Tensor:
        crops, target = batch
        return cosine_loss(model(crops.to(device)), target.to(device))

    history = fit(student, optimizer, loss_fn, batches, epochs, validate=validate, name="fine-tune",
                  steps_per_epoch=math.ceil(n / batch_size))
    student.eval()
    return history
