"""The train stage's driver: one replica of a dual-stream model of the study's model table (params.yaml
``variants``), trained resumably.

The model learns from its protocol's training identities (``data/protocols/<protocol>/train.csv``), on the
faces detected in ``data/faces/lfw.parquet``; a split of those identities validates it after each epoch.
A checkpoint under ``data/checkpoints/<name>/`` is resumed only when everything but the epoch count, the
workers, the device and the number of torchrun processes matches: same settings, same policy and the same
training images and boxes. Under torchrun only rank 0 writes (checkpoint folder, dvclive).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from torch import nn

from flup.config.paths import CHECKPOINTS, LFW_FACES, LFW_IMAGES, protocol_files, replica
from flup.faces.detection import BOX_COLUMNS
from flup.io import read_table, write_json
from flup.models import embedding, model, trainer
from flup.models.sampling import Policy, QuadrupletDataset
from flup.training import distributed
from flup.training.checkpoint import CHECKPOINT, load_checkpoint
from flup.training.holdout import split_identities
from flup.training.loop import log_epoch, pin_cpu_threads, resolve_device

if TYPE_CHECKING:
    from flup.config import Study

log = logging.getLogger(__name__)
# Settings that may change between a checkpoint and its resumption.
NOT_FINGERPRINTED = ("epochs", "num_workers", "device", "nproc")


def training_frame(protocol: str, images: Path = LFW_IMAGES, faces: Path = LFW_FACES) -> pd.DataFrame:
    """The protocol's training images that have a face, with their boxes and absolute ``path``."""
    train = read_table(protocol_files(protocol)[0])
    detections = read_table(faces)
    frame = train.merge(detections[detections["status"] == "ok"][["image", *BOX_COLUMNS]], on="image", how="inner")
    frame["path"] = [str((images / image).resolve()) for image in frame["image"]]
    return frame


def data_digest(*frames: pd.DataFrame) -> str:
    """sha256 of the training and validation images and their face boxes."""
    digest = hashlib.sha256()
    for frame in frames:
        for row in frame[["image", *BOX_COLUMNS]].itertuples(index=False):
            digest.update(f"{row[0]},{row[1]:.3f},{row[2]:.3f},{row[3]:.3f},{row[4]:.3f}\n".encode())
        digest.update(b"--\n")
    return digest.hexdigest()


def checkpoint_folder(folder: Path, fingerprint: dict) -> Path:
    """``folder``, emptied first if its checkpoint was trained with another ``fingerprint``; stamped with it."""
    stamp = folder / "settings.json"
    if stamp.exists() and json.loads(stamp.read_text()) != json.loads(json.dumps(fingerprint)):
        log.info("settings changed since the last checkpoint: starting over")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(stamp, fingerprint)
    return folder


@dataclass
class TrainedVariant:
    model: nn.Module
    meta: dict  # what data/models/<name>/meta.json records
    identities: int  # identities the model trained on
    samples_per_epoch: int


def train_variant(cfg: Study, name: str, seed: int, checkpoints: Path = CHECKPOINTS) -> TrainedVariant:
    """Train the replica ``seed`` of variant ``name`` (train: with the variant's overrides); the first replica of
    ``train.seeds`` logs its curves to ``dvclive/<name>`` (every replica's are in its meta.json)."""
    settings = cfg.train_settings(name).for_seed(seed)
    policy = Policy(**cfg.policy(name).model_dump())
    protocol = settings.protocol
    frame = training_frame(protocol)
    train_frame, val_frame = split_identities(frame, settings.val_fraction, settings.seed)
    dataset = QuadrupletDataset(train_frame, policy, settings.input_size, seed=settings.seed,
                                positive=settings.positive, samples_per_epoch=settings.samples_per_epoch)
    net = model.build_dual_stream(settings.head, settings.input_size, settings.pretrained, seed=settings.seed)
    device = resolve_device(settings.device)
    pin_cpu_threads(device, settings.cpu_threads)
    validate = embedding.validation_auc_fn(val_frame, policy, settings.input_size, settings.val_pairs, settings.seed,
                                           device=device)

    fingerprint = {k: v for k, v in settings.model_dump().items() if k not in NOT_FINGERPRINTED}
    fingerprint["policy"] = vars(policy)
    fingerprint["data_sha256"] = data_digest(train_frame, val_frame)
    folder = replica(checkpoints / name, seed)
    checkpoint = folder / CHECKPOINT
    state = None
    with distributed.main_first() as here:
        if here.is_main:
            checkpoint_folder(folder, fingerprint)
            # A checkpoint that cannot be resumed (corrupt, or trained past train.epochs) is moved aside here.
            state = load_checkpoint(checkpoint, resume_epochs=settings.epochs) if checkpoint.exists() else None

    from dvclive import Live  # imported by the stage that logs, only

    logs = here.is_main and seed == cfg.train_settings(name).seeds[0]
    live_log = Live(dir=f"dvclive/{name}", resume=False, save_dvc_exp=False, dvcyaml=False) if logs else None
    with live_log if live_log is not None else nullcontext() as live:
        for record in state["history"] if state else []:  # a resumed run logs its earlier epochs again
            log_epoch(live, record)
        history = trainer.train(net, dataset, validate, trainer.TrainConfig.from_params(settings.model_dump()),
                                 folder, live=live)

    meta = {
        "name": name, "seed": int(seed), "policy": vars(policy), "head": settings.head,
        "input_size": settings.input_size,
        "protocol": protocol, "positive": settings.positive, "epochs": settings.epochs,
        "train_identities": int(train_frame["identity"].nunique()), "train_images": len(train_frame),
        "val_identities": int(val_frame["identity"].nunique()), "history": history,
    }
    return TrainedVariant(net.cpu(), meta, len(dataset.identities), len(dataset))
