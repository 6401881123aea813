"""Training checkpoints, resumable: ``<out_dir>/checkpoint.pt``, written atomically after every epoch, plain dicts,
lists, numbers and tensors only, so it loads with ``torch.load(..., weights_only=True)``::

    {"format": "flup-checkpoint-v1", "epoch": int (1-based, last completed),
     "model": state_dict, "optimizer": state_dict, "config": {the training config's fields},
     "history": [{"epoch", "loss", "val_auc"}, ...],
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor, ...], "numpy": {...tensors}, "python": {...}}}
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flup.io import atomic_path
from flup.training.weight_files import WeightsFileError, read_torch_file

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "flup-checkpoint-v1"


def rng_state() -> dict:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": torch.tensor(pos),
            "has_gauss": torch.tensor(has_gauss),
            "cached_gaussian": torch.tensor(cached, dtype=torch.float64),
        },
        "python": {
            "version": torch.tensor(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": torch.tensor(math.nan if gauss_next is None else gauss_next, dtype=torch.float64),
        },
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    npy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npy["keys"].numpy().astype(np.uint32),
            int(npy["pos"]),
            int(npy["has_gauss"]),
            float(npy["cached_gaussian"]),
        )
    )
    py = state["python"]
    gauss_next = float(py["gauss_next"])
    random.setstate(
        (int(py["version"]), tuple(py["internal"].tolist()), None if math.isnan(gauss_next) else gauss_next)
    )


def save_checkpoint(path: Path, model: nn.Module, optimizer, epoch: int, cfg, history: list) -> None:
    """The state after ``epoch``; ``cfg``: the training config (a dataclass), kept to check a resumption."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": dataclasses.asdict(cfg),
        "history": history,
        "rng": rng_state(),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, resume_epochs: int | None = None) -> dict | None:
    """A checkpoint's state (tensors and plain containers only: nothing is unpickled).

    A file that cannot be read raises :class:`flup.training.weight_files.WeightsFileError` naming it. With
    ``resume_epochs`` (the run's ``train.epochs``) a checkpoint that cannot be resumed instead is moved
    aside to ``<name>.discarded`` with a warning and None is returned, so training starts over: a
    truncated or corrupt file, and one trained past ``resume_epochs`` (its weights would be trained
    longer than asked; raising ``epochs`` still resumes).
    """
    path = Path(path)
    try:
        state = read_torch_file(path)
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise WeightsFileError(path, f"not a {CHECKPOINT_FORMAT} training checkpoint")
    except WeightsFileError as error:
        if resume_epochs is None:
            raise
        reason = error.reason
    else:
        if resume_epochs is None or int(state["epoch"]) <= resume_epochs:
            return state
        reason = (f"checkpoint is at epoch {int(state['epoch'])}, past train.epochs = {resume_epochs}; "
                  "its weights are trained longer than asked")
    aside = path.with_name(path.name + ".discarded")
    os.replace(path, aside)
    log.warning("%s: %s; moved to %s, training starts over", path, reason, aside.name)
    return None


def resume(path: Path, model: nn.Module, optimizer, cfg, keys: Sequence[str]) -> tuple[int, list]:
    """Load the checkpoint at ``path`` into ``model``, ``optimizer`` and the random generators; (epochs done, their
    history). ``cfg``: the run's training config (with ``epochs``); its ``keys`` must be as the checkpoint's, or
    ValueError. A checkpoint that cannot be resumed (:func:`load_checkpoint` with ``resume_epochs``): (0, []).
    """
    state = load_checkpoint(path, resume_epochs=cfg.epochs)
    if state is None:  # unreadable, or trained past cfg.epochs: moved aside, start from scratch
        return 0, []
    saved = state["config"]
    changed = [k for k in keys if saved.get(k) != getattr(cfg, k)]
    if changed:
        raise ValueError(
            f"{path}: checkpoint was trained with different {', '.join(changed)} "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}); delete it to start over"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    log.info(
        "resuming from %s: epoch %d done, continuing at epoch %d", path, state["epoch"], state["epoch"] + 1
    )
    return int(state["epoch"]), list(state["history"])
