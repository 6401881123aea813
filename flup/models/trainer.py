"""Training the dual-stream model with the seed's two triplet losses, resumably.

Its loss on quadruplets (:data:`INPUT_KEYS`), its two feeds (a DataLoader over
:class:`flup.models.sampling.QuadrupletDataset`, or :class:`flup.models.device_feed.DeviceFeed` on a GPU), and
:func:`train`, which drives a :class:`Trainer` through the study's one training loop (:func:`flup.training.loop.fit`)
with a checkpoint after every epoch (:mod:`flup.training.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from flup.config.params import ParamError
from flup.models.device_feed import DeviceFeed
from flup.models.sampling import EpochSampler, normalise
from flup.training import distributed
from flup.training.checkpoint import CHECKPOINT, resume, save_checkpoint
from flup.training.loop import fit, log_epoch, optimizer_step, resolve_device, train_epoch
from flup.training.sharding import ShardedBatchSampler, global_batches, shard

log = logging.getLogger(__name__)

INPUT_KEYS = ("sharp_a", "blurred_pos_p", "blurred_b", "sharp_pos_q")
# Changing these invalidates a checkpoint; epochs, workers and device may change on resume.
RESUME_KEYS = ("lr", "margin", "batch_size", "seed")
WORKER_TIMEOUT_S = 300  # a stuck worker fails the run instead of stalling it forever
FEEDS = ("auto", "cpu", "device")
PRECISIONS = ("fp32", "bf16")
# Learning rate for other batch sizes: square-root scaling from the seed's batch 32 (Adam's rule,
# Malladi et al. 2022: lr ~ sqrt(batch)); params.yaml's train.lr is used as given, see scaled_lr.
BASE_BATCH = 32
def scaled_lr(lr: float, batch_size: int, base_batch: int = BASE_BATCH) -> float:
    """``lr`` (tuned at ``base_batch``) for ``batch_size``: ``lr * sqrt(batch_size / base_batch)``."""
    return float(lr) * math.sqrt(batch_size / base_batch)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float = 2e-4
    margin: float = 1.0
    num_workers: int = 0
    device: str = "auto"
    seed: int = 0
    feed: str = "auto"  # cpu (per-sample DataLoader) | device (batched on the device) | auto (device on CUDA)
    precision: str = "fp32"  # fp32 | bf16 (autocast on CUDA only; CPU always runs fp32)
    compile: bool = False  # torch.compile the loss step (CUDA only)

    def __post_init__(self) -> None:
        if self.feed not in FEEDS:
            raise ParamError(f"train.feed is {self.feed!r}; expected one of {', '.join(FEEDS)}")
        if self.precision not in PRECISIONS:
            raise ParamError(f"train.precision is {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        if not isinstance(self.compile, bool):
            raise ParamError(f"train.compile must be true or false, got {self.compile!r}")

    @classmethod
    def from_params(cls, params: Mapping) -> TrainConfig:
        """Pick this config's fields from a params section (other keys are left to other code)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("epochs", "batch_size") if n not in params]
        if missing:
            raise ParamError(f"training parameter(s) missing: {', '.join(missing)}")
        return cls(**{k: v for k, v in params.items() if k in names})


def resolve_feed(name: str, device: torch.device) -> str:
    return ("device" if device.type == "cuda" else "cpu") if name == "auto" else name


def loss_on_inputs(model: nn.Module, x: Mapping, margin: float = 1.0) -> torch.Tensor:
    """The seed's loss on normalised inputs ``x[k]`` for ``k`` in :data:`INPUT_KEYS` (see loss_on_batch)."""
    n = x["sharp_a"].shape[0]
    # One pass per stream: BatchNorm then normalises over both images a stream sees.
    sharp_a, sharp_pos_q = model.embed_sharp(torch.cat([x["sharp_a"], x["sharp_pos_q"]])).split(n)
    blurred_pos_p, blurred_b = model.embed_blurred(torch.cat([x["blurred_pos_p"], x["blurred_b"]])).split(n)
    # The loss in float32 (a no-op without autocast).
    sharp_a, sharp_pos_q = sharp_a.float(), sharp_pos_q.float()
    blurred_pos_p, blurred_b = blurred_pos_p.float(), blurred_b.float()
    triplet = nn.TripletMarginLoss(margin=margin)
    return triplet(sharp_a, blurred_pos_p, blurred_b) + triplet(blurred_b, sharp_pos_q, sharp_a)


def loss_on_batch(model: nn.Module, batch: Mapping, margin: float = 1.0) -> torch.Tensor:
    """The seed's loss, a sum of two triplets (anchor, positive, negative).

    SharpNet's: (sharp A, blurred P-positive, blurred B); BlurNet's: (blurred B, sharp Q-positive, sharp A).
    Images arrive as uint8 pixels (see :func:`flup.models.sampling.to_pixels`) and are normalised on the device.
    """
    device = next(model.parameters()).device
    x = {k: normalise(batch[k].to(device, non_blocking=True)) for k in INPUT_KEYS}
    return loss_on_inputs(model, x, margin)


def _worker_init(worker_id: int) -> None:
    # Samples use their own seeded rngs; this only keeps stray global-rng use reproducible.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    cv2.setNumThreads(1)  # safe: spawned workers have no inherited OpenCV pool


def make_loader(dataset, cfg: TrainConfig, device: torch.device,
                world: distributed.World = distributed.ALONE) -> tuple[DataLoader, EpochSampler]:
    """A DataLoader over ``(epoch, index)`` keys; workers are spawned, persistent and seeded. In a world of
    several ranks it loads this rank's parts of the global batches (:class:`ShardedBatchSampler`).

    Spawn, not fork: a forked worker inherits the parent's OpenCV thread pool (and other
    libraries' locks) mid-use and can deadlock on its first cv2 call. Scripts that train with
    workers therefore need an ``if __name__ == "__main__":`` guard.
    """
    sampler = EpochSampler(len(dataset), seed=cfg.seed)
    batching = ({"batch_sampler": ShardedBatchSampler(sampler, cfg.batch_size, world)} if world.size > 1
                else {"batch_size": cfg.batch_size, "sampler": sampler})
    loader = DataLoader(
        dataset,
        **batching,
        num_workers=cfg.num_workers,
        worker_init_fn=_worker_init,
        generator=torch.Generator().manual_seed(cfg.seed),
        persistent_workers=cfg.num_workers > 0,
        multiprocessing_context="spawn" if cfg.num_workers > 0 else None,
        timeout=WORKER_TIMEOUT_S if cfg.num_workers > 0 else 0,
        pin_memory=device.type == "cuda",
    )
    return loader, sampler


class Trainer:
    """One dual-stream model's training state: model and optimiser on the device, the feed, the loss.

    :func:`train` drives one through :func:`fit`; a script may drive several in turn (one epoch each,
    round robin). ``store`` (a :class:`flup.models.device_feed.ImageStore`) lets several device feeds
    share the decoded images.
    """

    def __init__(self, model: nn.Module, dataset, cfg: TrainConfig | Mapping, store=None) -> None:
        if not isinstance(cfg, TrainConfig):
            cfg = TrainConfig.from_params(cfg)
        self.cfg = cfg
        self.device = device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        # The checkpoint stores Python's and NumPy's global generators for resumption: seeded here, a rerun
        # writes the same checkpoint bytes (unseeded, they differed on every run though the weights did not).
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        else:
            # Reproducible on the same device and software: fixed (not benchmarked) cuDNN algorithms.
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        self.model = model.to(device)
        cuda = device.type == "cuda"
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, **({"fused": True} if cuda else {}))
        self.feed_kind = resolve_feed(cfg.feed, device)
        self.autocast = cuda and cfg.precision == "bf16"
        self.dataset = dataset
        self.sampler = EpochSampler(len(dataset), seed=cfg.seed)
        self._store = store
        self._loader = self._feed = None
        self._loss = torch.compile(loss_on_inputs) if cfg.compile and cuda else loss_on_inputs
        self.steps_per_epoch = math.ceil(len(dataset) / cfg.batch_size)

    def batches(self, epoch: int):
        """The epoch's batches; under torchrun this rank's ``(part, weight)`` of each (see :func:`fit`)."""
        self.sampler.set_epoch(epoch)
        world = distributed.world()
        if self.feed_kind == "device":
            if self._feed is None:
                self._feed = DeviceFeed(self.dataset, self._store, device=self.device,
                                        workers=max(1, self.cfg.num_workers))
            if world.size > 1:
                parts = (shard(keys, world) for keys in global_batches(list(self.sampler), self.cfg.batch_size))
                return ((self._feed.batch(epoch, [i for _, i in keys]), weight) for keys, weight in parts)
            return self._feed.batches(self.sampler, self.cfg.batch_size)
        if self._loader is None:
            self._loader, self._loader_sampler = make_loader(self.dataset, self.cfg, self.device, world)
        self._loader_sampler.set_epoch(epoch)
        if world.size > 1:
            return zip(self._loader, self._loader.batch_sampler.weights(), strict=True)
        return self._loader

    def loss(self, model: nn.Module, batch: Mapping) -> torch.Tensor:
        """The seed's loss on a batch of the feed (the CPU feed's uint8 pixels are normalised on the device)."""
        if self.feed_kind == "device":
            x = batch
        else:
            x = {k: normalise(batch[k].to(self.device, non_blocking=True)) for k in INPUT_KEYS}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            return self._loss(model, x, self.cfg.margin)

    def step(self, batch: Mapping) -> torch.Tensor:
        return optimizer_step(self.model, self.optimizer, self.loss, batch)

    def run_epoch(self, epoch: int, progress: bool = True) -> tuple[float, int]:
        """Train one epoch; returns (mean loss, samples seen). Syncs with the device once, at the end.
        One process only (the benchmarks' round robin); under torchrun train through :func:`fit`."""
        if distributed.world().size > 1:
            raise RuntimeError("Trainer.run_epoch trains in one process; under torchrun use trainer.train / fit")
        samples = 0

        def counted(batches):
            nonlocal samples
            for batch in batches:
                samples += batch["sharp_a"].shape[0]
                yield batch

        loss = train_epoch(self.model, self.optimizer, self.loss, counted(self.batches(epoch)),
                           desc=f"epoch {epoch}/{self.cfg.epochs}", total=self.steps_per_epoch, progress=progress)
        return loss, samples

    def save(self, path: Path, epoch: int, history: list) -> None:
        save_checkpoint(path, self.model, self.optimizer, epoch, self.cfg, history)


def train(
    model: nn.Module,
    dataset,
    val_pairs_fn: Callable[[nn.Module], float] | None,
    cfg: TrainConfig | Mapping,
    out_dir: str | os.PathLike,
    live=None,
    *,
    store=None,
    deadline: float | None = None,
) -> list[dict]:
    """Train for ``cfg.epochs`` epochs (1-based) through :func:`fit`, resuming from ``out_dir/checkpoint.pt``.

    ``val_pairs_fn(model) -> AUC`` runs after each epoch in eval mode under ``no_grad``. Returns the
    full history (including epochs from a resumed checkpoint), each record ``{"epoch", "loss",
    "val_auc"}``; ``live`` (a dvclive ``Live``) gets ``train/loss`` and ``val/auc`` per epoch, with its
    step set to ``epoch - 1``. The checkpoint is saved after every epoch. ``deadline``: see :func:`fit`;
    ``store``: see :class:`Trainer`.
    """
    trainer = Trainer(model, dataset, cfg, store=store)
    cfg = trainer.cfg
    checkpoint = Path(out_dir) / CHECKPOINT
    with distributed.main_first():  # rank 0 may move a bad checkpoint aside; the others then read what is left
        resumed = resume(checkpoint, model, trainer.optimizer, cfg, RESUME_KEYS) if checkpoint.exists() else (0, [])
    if resumed[0] >= cfg.epochs:
        log.info("checkpoint already at epoch %d of %d: nothing to train", resumed[0], cfg.epochs)
        return resumed[1]

    def validate(net: nn.Module) -> dict:
        return {"val_auc": None if val_pairs_fn is None else float(val_pairs_fn(net))}

    def on_epoch_end(epoch: int, history: list) -> None:
        trainer.save(checkpoint, epoch, history)
        if live is not None:
            log_epoch(live, history[-1])

    return fit(model, trainer.optimizer, trainer.loss, trainer.batches, cfg.epochs, validate=validate,
               name="dual-stream", resumed=resumed, on_epoch_end=on_epoch_end, deadline=deadline,
               steps_per_epoch=trainer.steps_per_epoch)
