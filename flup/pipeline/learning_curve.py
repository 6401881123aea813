"""The learning_curve stage's driver: one adapter attacker's AUC on view1's test pairs against its number of
training images (params.yaml ``learning_curve``); the method and its pieces are :mod:`flup.attack.learning_curve`'s.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flup.attack import adapter
from flup.attack.attack_data import AttackFaces, check_disjoint, sampler_for, training_faces
from flup.attack.learning_curve import (
    BASELINE,
    COLUMNS,
    MODE,
    attack_seed,
    embed_test_pairs,
    nested_order,
    point_row,
    resolve_sizes,
    train_point,
)
from flup.attack.training import TRAINING_REGION, adapter_embeddings
from flup.config.params import ParamError
from flup.config.paths import ARCFACE_EMBEDDINGS, LFW_FACES, LFW_IMAGES, dataset_paths, protocol_files
from flup.io import read_table
from flup.pipeline import model_files
from flup.training.holdout import split_identities
from flup.training.loop import pin_cpu_threads, resolve_device
from flup.verify import engine, recognition
from flup.verify.scored_set import load_test_set, training_people, unseen_by

if TYPE_CHECKING:
    from flup.config.schema import Attack, Study

log = logging.getLogger(__name__)


def curve_training_frame(cfg: Study, settings: Attack) -> pd.DataFrame:
    """The attacker's training images (train_attacker's identity split, no ``max_images`` cap), in the curve's
    seeded order."""
    seed = attack_seed(settings)
    train_file, pairs_file = protocol_files(settings.protocol)
    frame = training_faces(read_table(train_file), read_table(LFW_FACES), LFW_IMAGES)
    check_disjoint(frame["identity"], read_table(pairs_file), str(pairs_file))
    train_frame, _ = split_identities(frame, settings.val_fraction, seed, fraction_param="attack.val_fraction")
    return train_frame.iloc[nested_order(len(train_frame), seed)].reset_index(drop=True)


def scored_embeddings(cfg: Study, protocol: str, onnx_path: Path, levels: list[tuple[str, float]], region: float,
                      batch_size: int) -> tuple[pd.DataFrame, str, dict, dict]:
    """The pairs of ``protocol`` the attacker may score, the sharp side's column letter, ArcFace embeddings of the
    sharp side (image -> row) and of the obfuscated side at each (kind, level) over ``region``, oracle box
    (:func:`flup.attack.learning_curve.embed_test_pairs`), reusing what score_arcface saved."""
    paths = dataset_paths(cfg)
    test = unseen_by(load_test_set(paths, cfg.render.obfuscated_side), paths.name, protocol,
                     training_people(protocol_files(protocol)[0]))
    known = {}
    if ARCFACE_EMBEDDINGS.exists():
        known = engine.load_embeddings(ARCFACE_EMBEDDINGS, engine.model_id(onnx_path))
    arcface = engine.Deduplicated(recognition.ArcFace(onnx_path).embed, known=known)
    embedded = embed_test_pairs(test, protocol, paths.images, paths.render, arcface, levels, region, batch_size)
    log.info("test embeddings: %d of %d crops computed, the rest reused from %s", arcface.computed, arcface.calls,
             ARCFACE_EMBEDDINGS)
    return embedded


def empty_result(cfg: Study) -> tuple[dict, pd.DataFrame]:
    curve = cfg.learning_curve
    return ({"enabled": False, "attacker": curve.attacker, "images": [], "rows": []},
            pd.DataFrame(columns=COLUMNS))


def learning_curve(cfg: Study) -> tuple[dict, pd.DataFrame]:
    """The curve of ``cfg.learning_curve``: (what metrics/learning_curve.json holds, the table of its rows: one per
    (training-set size, level), plus plain ArcFace's at 0 images). Disabled (``images: []``): empty results."""
    curve = cfg.learning_curve
    if not curve.enabled:
        return empty_result(cfg)
    name = curve.attacker
    if name is None:
        raise ParamError(f"{cfg.where('learning_curve.attacker')}: learning_curve.attacker: expected an adapter "
                         "entry of the attackers table, got null")
    attacker = cfg.attacker(name)
    if attacker.method != "adapter":
        raise ParamError(f"{cfg.where('learning_curve.attacker')}: learning_curve.attacker: {name} is a "
                         f"{attacker.method} attacker; the learning curve trains adapters only (method: adapter)")
    settings = attacker.attack
    seed = attack_seed(settings)
    pin_cpu_threads(resolve_device(settings.device), settings.cpu_threads)
    started = time.monotonic()
    frame = curve_training_frame(cfg, settings)
    sizes = resolve_sizes(list(curve.images), len(frame))
    for requested, used in sizes:
        if requested is not None and used < requested:
            log.warning("learning_curve.images: %d is more than the %d training images of %s (train_attacker's "
                        "identity split of %s); that point trains on all %d (capped: true)", requested, len(frame),
                        name, settings.protocol, used)
    largest = max(used for _, used in sizes)
    onnx_path = model_files.recognizer_file(cfg)
    faces = AttackFaces(frame.iloc[:largest], sampler_for(attacker.ranges, settings.sharp_fraction), seed,
                        TRAINING_REGION, cfg.render.blur_border)
    cache = adapter_embeddings(faces, recognition.ArcFace(onnx_path), settings.adapter.views, settings.batch_size)
    embedded = time.monotonic()

    levels = curve.levels.pairs()
    pairs, sharp_side, sharp, obfuscated = scored_embeddings(cfg, settings.protocol, onnx_path, levels, curve.region,
                                                           settings.batch_size)
    n_boot, boot_seed = cfg.evaluate.n_boot, cfg.evaluate.seed
    rows = [point_row(pairs, sharp_side, sharp, obfuscated[(kind, level)], recognizer=BASELINE, kind=kind, level=level,
                      region=curve.region, n_boot=n_boot, seed=boot_seed, images_requested=0, images=0, capped=False,
                      identities=0)
            for kind, level in levels]
    trained: dict[int, adapter.EmbeddingAdapter] = {}
    for requested, used in sizes:
        if used not in trained:
            trained[used] = train_point(cache, used, settings)
        net = trained[used]
        identities = len(set(cache["identities"][:used].tolist()))
        for kind, level in levels:
            named = obfuscated[(kind, level)]
            adapted = dict(zip(named, adapter.apply(net, np.stack(list(named.values()))), strict=True)) if named else {}
            rows.append(point_row(pairs, sharp_side, sharp, adapted, recognizer=name, kind=kind, level=level,
                                  region=curve.region, n_boot=n_boot, seed=boot_seed,
                                  images_requested=None if requested is None else int(requested), images=used,
                                  capped=requested is not None and used < requested, identities=identities))
    table = pd.DataFrame(rows, columns=COLUMNS)
    log.info("%s: %d points x %d levels; embedding %d training images %.0f s, training and scoring %.0f s", name,
             len(sizes), len(levels), largest, embedded - started, time.monotonic() - embedded)
    metrics = {
        "enabled": True, "attacker": name, "protocol": settings.protocol, "mode": MODE, "region": float(curve.region),
        "seed": seed, "available_images": len(frame), "images": [used for _, used in sizes],
        "capped": [requested for requested, used in sizes if requested is not None and used < requested],
        "rows": [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in rows],
    }
    return metrics, table
