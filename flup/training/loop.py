"""The study's one training loop, used by every trained recogniser: the dual-stream models
(:mod:`flup.models.trainer`) and the attackers (:mod:`flup.attack.adapter`, :mod:`flup.attack.arcface_torch`).

:func:`fit` runs the epochs, validates after each and hands the record to a callback (a checkpoint, a dvclive
log: :func:`log_epoch`); under torchrun (:mod:`flup.training.distributed`) each step runs in
DistributedDataParallel (:mod:`flup.training.data_parallel`) on this rank's part of the global batch
(:mod:`flup.training.sharding`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm import tqdm

from flup.training import data_parallel, distributed

log = logging.getLogger(__name__)

# loss_fn(model, batch) -> scalar loss tensor: what the training loop minimises.
LossFn = Callable[[nn.Module, object], torch.Tensor]


def resolve_device(name: str) -> torch.device:
    """The named device; under torchrun, ``auto`` and ``cuda`` are this rank's GPU (``cuda:LOCAL_RANK``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    here = distributed.world()
    if name == "cuda" and here.size > 1:
        return torch.device("cuda", here.local_rank)
    return torch.device(name)


def pin_cpu_threads(device: torch.device, threads: int | None) -> None:
    """Train on the CPU with ``threads`` threads (``train.cpu_threads``/``attack.cpu_threads``), not one per core:
    the weight gradients are summed in per-thread parts, so another number of threads gives other bits (with the
    kernels pinned by stages/__init__.py, the same number gives the same bits on any x86-64 CPU with AVX2).
    ``None`` keeps torch's choice (one thread per core); a GPU's numbers do not depend on it."""
    if device.type == "cpu" and threads is not None:
        torch.set_num_threads(int(threads))


def optimizer_step(model: nn.Module, optimizer, loss_fn: LossFn, batch) -> torch.Tensor:
    """One step: ``loss_fn(model, batch)``, then zero the gradients, backpropagate and step; the detached loss."""
    loss = loss_fn(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_epoch(model: nn.Module, optimizer, loss_fn: LossFn, batches: Iterable, *, desc: str = "epoch",
                total: int | None = None, progress: bool = True,
                mean: Callable[[list[float]], float] | None = None, ranks: bool = False) -> float:
    """One pass over ``batches`` in train mode; the epoch's mean step loss.

    The mean is the float64 running sum over the steps divided by their number; on CUDA the sum stays on
    the device (no per-step sync stalls the queue), elsewhere each loss is read as it comes. ``mean``
    instead reduces the list of step losses (the adapter keeps numpy's pairwise mean). ``ranks``: the
    step losses are torchrun ranks' parts, averaged over the ranks once, at the end of the epoch.
    """
    model.train()
    bar = tqdm(batches, desc=desc, unit="batch", leave=False, total=total, disable=not progress)
    if ranks:
        parts = [optimizer_step(model, optimizer, loss_fn, batch) for batch in bar]
        losses = distributed.mean_over_ranks(torch.stack(parts)).tolist() if parts else []
        return float(mean(losses)) if mean is not None else sum(losses) / max(len(losses), 1)
    losses: list[float] = []
    running, total_loss, steps = None, 0.0, 0
    for batch in bar:
        loss = optimizer_step(model, optimizer, loss_fn, batch)
        steps += 1
        if mean is None and loss.device.type == "cuda":
            running = loss.double() if running is None else running + loss.double()
            continue
        value = loss.item()
        if mean is not None:
            losses.append(value)
        else:
            total_loss += value
            bar.set_postfix(loss=f"{total_loss / steps:.4f}")
    if mean is not None:
        return float(mean(losses))
    if running is not None:
        total_loss = float(running)
    return total_loss / max(steps, 1)


def fit(model: nn.Module, optimizer, loss_fn: LossFn, batches: Callable[[int], Iterable], epochs: int, *,
        validate: Callable[[nn.Module], Mapping] | None = None, name: str = "train",
        resumed: tuple[int, list] = (0, []), on_epoch_end: Callable[[int, list], None] | None = None,
        deadline: float | None = None, steps_per_epoch: int | None = None, progress: bool = True,
        mean: Callable[[list[float]], float] | None = None) -> list[dict]:
    """The study's one training loop: epochs ``resumed[0] + 1 .. epochs`` (1-based) of :func:`train_epoch`.

    ``batches(epoch)`` gives the epoch's batches and ``loss_fn(model, batch)`` their loss. After each
    epoch ``validate(model)`` (eval mode, no gradients) adds its entries to the epoch's record
    ``{"epoch", "loss", ...}``, then ``on_epoch_end(epoch, history)`` runs (a checkpoint, a dvclive
    log). ``resumed``: the epochs done and their history, from a checkpoint. ``deadline``
    (``time.monotonic()`` seconds) stops before an epoch that would end after it, judged by the last
    epoch's time. Returns the whole history, resumed epochs included.

    Under torchrun (:mod:`flup.training.distributed`) ``batches(epoch)`` yields this rank's parts of the
    global batches as ``(batch, weight)`` (:func:`flup.training.sharding.shard`); the step runs in
    DistributedDataParallel (:mod:`flup.training.data_parallel`), the epoch loss is the ranks' mean, every
    rank validates, and only rank 0 runs ``on_epoch_end`` while the others wait.
    """
    done, history = resumed[0], list(resumed[1])
    last_epoch_s = 0.0
    ranks = distributed.world().size > 1
    stepped, step_loss = data_parallel.wrap(model, loss_fn) if ranks else (model, loss_fn)
    for epoch in range(done + 1, epochs + 1):
        if deadline is not None and distributed.any_rank(time.monotonic() + last_epoch_s > deadline):
            log.info("deadline: stopping after epoch %d of %d", epoch - 1, epochs)
            break
        started = time.monotonic()
        record = {"epoch": epoch, "loss": train_epoch(stepped, optimizer, step_loss, batches(epoch),
                                                      desc=f"{name} {epoch}/{epochs}", total=steps_per_epoch,
                                                      progress=progress, mean=mean, ranks=ranks)}
        if validate is not None:
            model.eval()
            with torch.no_grad():
                record.update(validate(model))
        history.append(record)
        log.info("%s: epoch %d/%d: %s", name, epoch, epochs,
                 ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in record.items() if k != "epoch"))
        if on_epoch_end is not None and distributed.world().is_main:
            on_epoch_end(epoch, history)
        distributed.barrier()
        last_epoch_s = time.monotonic() - started
    return history


def log_epoch(live, record: Mapping) -> None:
    """One epoch's record to a dvclive ``Live`` at step ``epoch - 1``: ``train/loss`` and ``val/auc``."""
    live.step = record["epoch"] - 1
    live.log_metric("train/loss", record["loss"])
    if record.get("val_auc") is not None:
        live.log_metric("val/auc", record["val_auc"])
    live.next_step()
