"""The embedding adapter: a residual MLP mapping ArcFace embeddings of obfuscated faces towards sharp ones.

``adapt(x) = normalize(x + MLP(x))``. The MLP's last layer starts at zero, so an untrained adapter is
the identity: training can only move it away from plain ArcFace where the loss says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flup.attack.arcface_torch import cosine_loss
from flup.training import distributed
from flup.training.loop import fit
from flup.training.sharding import shard

log = logging.getLogger(__name__)


class EmbeddingAdapter(nn.Module):
    def __init__(self, dim: int = 512, hidden: int = 1024, depth: int = 2):
        super().__init__()
        if depth < 1:
            raise ValueError(f"adapter depth is {depth}; expected >= 1")
        layers: list[nn.Module] = []
        width = dim
        for _ in range(depth - 1):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        last = nn.Linear(width, dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x + self.mlp(x), dim=1)


def identity_means(embeddings: np.ndarray, identities: np.ndarray) -> np.ndarray:
    """Each row's identity's mean embedding, L2-normalised (n, dim)."""
    names, index = np.unique(identities, return_inverse=True)
    sums = np.zeros((len(names), embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, index, embeddings)
    means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return means[index].astype(np.float32)


def loss(adapter: EmbeddingAdapter, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cosine loss between the adapted inputs and their targets, ``batch = (inputs, targets)``."""
    inputs, targets = batch
    return cosine_loss(adapter(inputs), targets)


def train(
    adapter: EmbeddingAdapter,
    inputs: np.ndarray,
    targets: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    validate: Callable[[EmbeddingAdapter], dict] | None = None,
) -> list[dict]:
    """Cosine loss between ``adapter(inputs[i])`` and ``targets[i]``, AdamW, seeded shuffles; through :func:`fit`."""
    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=lr, weight_decay=weight_decay)
    world = distributed.world()

    def batches(epoch: int):
        order = torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(len(x)))
        if world.size > 1:  # this rank's part of each global batch, with its weight (see fit)
            parts = [shard(rows, world) for rows in order.split(batch_size)]
            return [((x[part], y[part]), weight) for part, weight in parts]
        return [(x[rows], y[rows]) for rows in order.split(batch_size)]

    history = fit(adapter, optimizer, loss, batches, epochs, validate=validate, name="adapter", mean=np.mean)
    adapter.eval()
    return history


@torch.no_grad()
def apply(adapter: EmbeddingAdapter, embeddings: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    adapter.eval()
    if not len(embeddings):
        return embeddings
    x = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    return torch.cat([adapter(chunk) for chunk in x.split(batch_size)]).numpy()
