"""The train_attacker stage's driver: one replica of an obfuscation-aware ArcFace attacker of the study's
``attackers`` table, trained into its folder.

Its training samples are obfuscated by one family over a level range, or by a mixture of families (the family
drawn uniformly per sample, then its level): :func:`flup.attack.attack_data.sampler_for`. It learns from the
protocol's training identities only (checked against its test pairs); the adapter or fine-tuned model is trained by
:mod:`flup.attack.training`.

Outputs (in the attacker's folder): ``meta.json``, ``identities.csv`` (every identity the attacker loaded,
train or val) and ``adapter.safetensors`` (with ``embeddings.npz``) or ``model.safetensors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flup.attack.attack_data import AttackFaces, check_disjoint, sampler_for, training_faces, validation_set
from flup.attack.training import TRAINING_REGION, cap_images, train_adapter, train_finetune
from flup.config.paths import LFW_FACES, LFW_IMAGES, protocol_files
from flup.io import read_table, write_json, write_table
from flup.pipeline import model_files
from flup.training.holdout import split_identities
from flup.training.loop import pin_cpu_threads, resolve_device

if TYPE_CHECKING:
    from flup.config import Study


def train_attacker(cfg: Study, name: str, seed: int, out: Path) -> dict:
    """Train the replica ``seed`` (one of ``attack.seeds``) of attacker ``name`` (its entry, with attack: merged
    under its overrides) into the empty folder ``out``; returns what ``meta.json`` (written there too) records."""
    attacker = cfg.attacker(name)
    settings = attacker.attack.for_seed(seed)
    seed, protocol = settings.seed, settings.protocol
    pin_cpu_threads(resolve_device(settings.device), settings.cpu_threads)
    sampler = sampler_for(attacker.ranges, settings.sharp_fraction)
    onnx_path = model_files.recognizer_file(cfg)

    train_file, pairs_file = protocol_files(protocol)
    frame = training_faces(read_table(train_file), read_table(LFW_FACES), LFW_IMAGES)
    check_disjoint(frame["identity"], read_table(pairs_file), str(pairs_file))
    train_frame, val_frame = split_identities(frame, settings.val_fraction, seed, fraction_param="attack.val_fraction")
    train_frame = cap_images(train_frame, settings.max_images, seed)
    # The attacker learns the obfuscation as the render stage applies it (blur_border) over the detected face box
    # (region 1.0), whatever render.regions lists: one attacker is scored on every region, and changing the
    # regions does not retrain it.
    faces = AttackFaces(train_frame, sampler, seed, TRAINING_REGION, cfg.render.blur_border)
    val = validation_set(val_frame, sampler, settings.val_pairs, seed, TRAINING_REGION, cfg.render.blur_border)

    identities = pd.concat([pd.DataFrame({"identity": sorted(faces.identities), "split": "train"}),
                            pd.DataFrame({"identity": sorted(set(val_frame["identity"])), "split": "val"})])
    write_table(out / "identities.csv", identities)
    train = train_adapter if attacker.method == "adapter" else train_finetune
    result = train(settings, faces, val, onnx_path, out)
    meta = {
        "name": name, "seed": int(seed), "method": attacker.method, "protocol": protocol,
        "obfuscation": attacker.trained_on,
        # one family: its [low, high] (as before); every family trained on, mixture or not: ranges
        **({} if attacker.is_mixture else {"levels": [attacker.low, attacker.high]}),
        "ranges": {kind: [low, high] for kind, (low, high) in attacker.ranges.items()},
        "sharp_fraction": sampler.sharp_fraction,
        "train_identities": len(faces.identities), "train_images": len(faces),
        "val_identities": int(val_frame["identity"].nunique()), **result,
    }
    write_json(out / "meta.json", meta)
    return meta
