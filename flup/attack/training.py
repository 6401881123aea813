"""Training one obfuscation-aware ArcFace attacker from its training faces and validation set
(:mod:`flup.attack.attack_data`), through the study's one training loop (:func:`flup.training.loop.fit`):

- adapter (:func:`train_adapter`): a residual MLP on ArcFace embeddings of obfuscated faces, pulled towards sharp
  embeddings; the embeddings are computed once and kept in ``embeddings.npz``;
- finetune (:func:`train_finetune`): the embedded ArcFace converted to PyTorch, distilled on obfuscated faces
  towards the frozen model's embeddings of the same images' sharp faces.

Each writes its weights into the attacker's folder (``adapter.safetensors`` or ``model.safetensors``); the
train_attacker stage's driver (:mod:`flup.pipeline.train_attacker`) chooses the faces and writes ``meta.json`` and
``identities.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from flup.attack import adapter, arcface_torch
from flup.attack.attack_data import AttackFaces, ValidationSet, validation_scores
from flup.training.loop import resolve_device
from flup.training.weight_files import save_weights
from flup.verify import engine, recognition

if TYPE_CHECKING:
    from flup.config.schema import Attack

TRAINING_REGION = 1.0  # attackers train on obfuscations over the detected face box (flup.pipeline.train_attacker)


def cap_images(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """A seeded subset of at most ``limit`` rows (null = all), in the frame's order."""
    if limit is None or len(frame) <= int(limit):
        return frame
    keep = np.sort(np.random.default_rng([seed, 2]).choice(len(frame), size=int(limit), replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def adapter_embeddings(faces: AttackFaces, model: recognition.ArcFace, views: int, batch_size: int) -> dict:
    """ArcFace embeddings of every training image sharp, and of ``views`` obfuscated draws of it; ``kinds`` and
    ``levels`` (n, views) record each draw (kind ``sharp``, level 0: a draw left sharp)."""
    n = len(faces)
    sharp = np.zeros((n, 512), dtype=np.float32)
    obfuscated = np.zeros((n, views, 512), dtype=np.float32)
    levels = np.zeros((n, views), dtype=np.float32)
    kinds = np.full((n, views), "", dtype=object)
    for start in tqdm(range(0, n, batch_size), desc="embed training faces", unit="batch", mininterval=2.0):
        rows = range(start, min(n, start + batch_size))
        sharp_crops, obf_crops = [], []
        for i in rows:
            for view in range(views):
                s, o, (kind, level) = faces.sample(i, view)
                if view == 0:
                    sharp_crops.append(s)
                obf_crops.append(o)
                kinds[i, view], levels[i, view] = kind, level
        sharp[start:start + len(rows)] = model.embed(sharp_crops)
        obfuscated[start:start + len(rows)] = model.embed(obf_crops).reshape(len(rows), views, 512)
    return {"images": faces.frame["image"].to_numpy(dtype=str),
            "identities": faces.frame["identity"].to_numpy(dtype=str),
            "sharp": sharp, "obfuscated": obfuscated, "kinds": kinds.astype(str), "levels": levels}


def train_adapter(settings: Attack, faces: AttackFaces, val: ValidationSet, onnx_path: Path, out: Path) -> dict:
    cfg = settings.adapter
    model = recognition.ArcFace(onnx_path)
    batch = settings.batch_size
    cache = adapter_embeddings(faces, model, cfg.views, batch)
    with open(out / "embeddings.npz", "wb") as handle:
        np.savez(handle, **cache)
    views = cache["obfuscated"].shape[1]
    if cfg.target == "identity_mean":
        targets = adapter.identity_means(cache["sharp"], cache["identities"])
    else:  # same_image
        targets = cache["sharp"]
    inputs = cache["obfuscated"].reshape(-1, 512)
    targets = np.repeat(targets, views, axis=0)

    val_sharp = engine.in_batches(model.embed, val.sharp, batch)
    val_obf = engine.in_batches(model.embed, val.obfuscated, batch)
    net = adapter.EmbeddingAdapter(512, cfg.hidden, cfg.depth)

    def validate(a):
        return validation_scores(val, val_sharp, adapter.apply(a, val_obf))

    before = validate(net)
    history = adapter.train(net, inputs, targets, cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay,
                            settings.seed, validate)
    save_weights(net, out / "adapter.safetensors")
    return {"hidden": cfg.hidden, "depth": cfg.depth, "samples": len(inputs), "val_before": before,
            "history": history}


def train_finetune(settings: Attack, faces: AttackFaces, val: ValidationSet, onnx_path: Path, out: Path) -> dict:
    cfg = settings.finetune
    batch = settings.batch_size
    model = recognition.ArcFace(onnx_path)
    teacher = engine.in_batches(lambda rows: model.embed([faces.sharp(i) for i in rows]), range(len(faces)), batch,
                                desc="teacher embeddings")
    device = resolve_device(settings.device)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    student = arcface_torch.convert(onnx_path).to(device)

    def validate(m):
        return validation_scores(val, arcface_torch.embed(m, val.sharp, batch, device),
                                 arcface_torch.embed(m, val.obfuscated, batch, device))

    before = validate(student)
    history = arcface_torch.finetune(student, faces, teacher, cfg.epochs, cfg.batch_size, cfg.lr,
                                     cfg.samples_per_epoch, settings.seed, device, validate)
    save_weights(student.cpu(), out / "model.safetensors")
    return {"val_before": before, "history": history}
