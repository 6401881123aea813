"""Training one dual-stream model of the study's model table (params.yaml ``variants``), resumably; scoring it.

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
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

from flup.config.paths import (
    CHECKPOINTS,
    LFW,
    LFW_FACES,
    LFW_IMAGES,
    MODELS,
    dataset_paths,
    protocol_files,
    replica,
)
from flup.faces.detection import BOX_COLUMNS
from flup.io import read_json, read_table, write_json
from flup.models import distributed, embedding, model, training
from flup.models.sampling import Policy, QuadrupletDataset
from flup.verify.test_set import load_test_set, training_people, unseen_by

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
    train_frame, val_frame = embedding.split_identities(frame, settings.val_fraction, settings.seed)
    dataset = QuadrupletDataset(train_frame, policy, settings.input_size, seed=settings.seed,
                                positive=settings.positive, samples_per_epoch=settings.samples_per_epoch)
    net = model.build_dual_stream(settings.head, settings.input_size, settings.pretrained, seed=settings.seed)
    device = training.resolve_device(settings.device)
    validate = embedding.validation_auc_fn(val_frame, policy, settings.input_size, settings.val_pairs, settings.seed,
                                           device=device)

    fingerprint = {k: v for k, v in settings.model_dump().items() if k not in NOT_FINGERPRINTED}
    fingerprint["policy"] = vars(policy)
    fingerprint["data_sha256"] = data_digest(train_frame, val_frame)
    folder = replica(checkpoints / name, seed)
    checkpoint = folder / training.CHECKPOINT
    state = None
    with distributed.main_first() as here:
        if here.is_main:
            checkpoint_folder(folder, fingerprint)
            # A checkpoint that cannot be resumed (corrupt, or trained past train.epochs) is moved aside here.
            state = training.load_checkpoint(checkpoint, resume_epochs=settings.epochs) if checkpoint.exists() else None

    from dvclive import Live

    logs = here.is_main and seed == cfg.train_settings(name).seeds[0]
    live_log = Live(dir=f"dvclive/{name}", resume=False, save_dvc_exp=False, dvcyaml=False) if logs else None
    with live_log if live_log is not None else nullcontext() as live:
        for record in state["history"] if state else []:  # a resumed run logs its earlier epochs again
            training.log_epoch(live, record)
        history = training.train(net, dataset, validate, training.TrainConfig.from_params(settings.model_dump()),
                                 folder, live=live)

    meta = {
        "name": name, "seed": int(seed), "policy": vars(policy), "head": settings.head,
        "input_size": settings.input_size,
        "protocol": protocol, "positive": settings.positive, "epochs": settings.epochs,
        "train_identities": int(train_frame["identity"].nunique()), "train_images": len(train_frame),
        "val_identities": int(val_frame["identity"].nunique()), "history": history,
    }
    return TrainedVariant(net.cpu(), meta, len(dataset.identities), len(dataset))


def load_trained(name: str, seed: int, models: Path = MODELS) -> tuple[model.DualStream, dict]:
    """Replica ``seed`` of trained model ``name`` (``models/<name>/seed<seed>/``: its safetensors weights, read
    without unpickling) on the CPU, in eval mode, and its ``meta.json``."""
    folder = replica(models / name, seed)
    meta = read_json(folder / "meta.json")
    net = model.build_dual_stream(meta["head"], int(meta["input_size"]), "none")
    model.load_weights(net, folder / "model.safetensors")
    return net.eval(), meta


@dataclass(frozen=True)
class ScoringWorker:
    """A trained model's embedder as a worker factory for :class:`flup.executor.ActorPool` (picklable: a name, a
    folder, a batch size): each actor loads the model from its files (:func:`load_trained`), on CUDA when it has
    a GPU, and embeds (prepared inputs, stream) -> rows with :func:`embedding.embed_prepared`, as in-process."""

    name: str
    seed: int
    models: Path  # absolute: actors need not share the driver's working directory
    batch_size: int

    def __call__(self, threads: int | None = None, gpu: bool = False) -> embedding.StreamEmbedder:
        if threads is not None:
            torch.set_num_threads(threads)
        device = torch.device("cuda" if gpu else "cpu")
        net = load_trained(self.name, self.seed, self.models)[0].to(device)
        return partial(embedding.embed_prepared, net, batch_size=self.batch_size, device=device)


def score_variant(cfg: Study, name: str, seed: int, dataset: str = LFW,
                  embed: embedding.StreamEmbedder | None = None) -> pd.DataFrame:
    """Replica ``seed`` of the trained model ``name`` (data/models/<name>/seed<seed>/) scores the rendered test pairs
    of ``dataset``; its rows carry ``train_seed``.

    ``embed``: where the inputs are embedded (an ActorPool over :class:`ScoringWorker`, ``score_model.batch_size``
    inputs a piece: the same batches); None: the model in this process, on ``score_model.device``."""
    paths = dataset_paths(cfg, dataset)
    meta = read_json(replica(MODELS / name, seed) / "meta.json")
    policy = Policy.from_params(meta["policy"])
    size = int(meta["input_size"])
    device = training.resolve_device(cfg.score_model.device)
    net = load_trained(name, seed)[0].to(device) if embed is None else None
    test = unseen_by(load_test_set(paths, cfg.render.obfuscated_side), paths.name, meta["protocol"],
                     training_people(meta["protocol"]))
    scores = embedding.score_rendered(net, policy, size, test, paths.images, paths.render, paths.name, name,
                                      cfg.score_model.batch_size, device, embed)
    return scores.assign(train_seed=int(seed))
