"""The learning curve of one adapter attacker: its AUC on view1's test pairs against its number of training images.
The pieces are here; the learning_curve stage's driver is :mod:`flup.pipeline.learning_curve`.

The attacker (``learning_curve.attacker``, an adapter entry of the ``attackers`` table, ``attack:`` merged) keeps
the training identities train_attacker uses (the same identity split: the validation identities stay out); those
images are put in one seeded order, and each point of ``learning_curve.images`` trains on the first ``n`` of it,
so a smaller training set is a subset of every larger one. The largest set is embedded once (ArcFace, sharp and
``attack.adapter.views`` obfuscated draws per image, as :func:`flup.attack.training.adapter_embeddings` does for
the attacker), and each point trains a fresh adapter on its rows with the attacker's settings (same epochs, so a
smaller set takes fewer steps: the curve is of the recipe as the study runs it).

Each adapter scores view1's test pairs none of whose people it trained on (:func:`flup.verify.scored_set.unseen_by`)
at ``learning_curve.levels`` over ``learning_curve.region``, oracle box: the obfuscated crops come from the render
stores, and their ArcFace embeddings from score_arcface's ``data/embeddings/arcface.npz`` (computed only where
missing), so scoring costs one adapter pass per point. Plain ArcFace (0 training images: an untrained adapter is
the identity) is scored alongside as the curve's start. Each point gets the AUC and its bootstrap 95% interval
(:func:`flup.verify.metrics.bootstrap_auc_ci`, ``evaluate.n_boot`` replicates, a seed derived from
``evaluate.seed`` and the point).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flup.attack import adapter
from flup.config.params import ParamError
from flup.faces.detection import landmarks_of
from flup.obfuscation import render
from flup.verify import engine, recognition
from flup.verify.metrics import bootstrap_auc_ci, group_seed, roc_auc
from flup.verify.scoring import score_pairs

if TYPE_CHECKING:
    from flup.config.schema import Attack

MODE = "oracle_box"
BASELINE = "arcface"  # the rows of plain ArcFace: 0 training images
COLUMNS = ["recognizer", "images_requested", "images", "capped", "identities", "obfuscation", "level", "region",
           "mode", "n_pairs", "n_same", "n_different", "auc", "auc_low", "auc_high"]
ORDER_STREAM = 3  # the permutation's own stream of the attack seed (cap_images uses 2, the sampler its own)


def attack_seed(settings: Attack) -> int:
    """The seed the curve draws everything from: the first of the attacker's ``attack.seeds`` (its first replica;
    the one place it is read)."""
    return int(settings.seeds[0])


def nested_order(n_images: int, seed: int) -> np.ndarray:
    """One seeded permutation of ``n_images`` rows; the training set of size ``n`` is its first ``n`` rows."""
    return np.random.default_rng([int(seed), ORDER_STREAM]).permutation(int(n_images))


def resolve_sizes(requested: list[int | None], available: int) -> list[tuple[int | None, int]]:
    """(requested, used) per point: null = every image; a size beyond ``available`` is capped to it."""
    return [(n, available if n is None else min(int(n), available)) for n in requested]


def nested_subsets(n_images: int, sizes: list[int | None], seed: int) -> dict[int, np.ndarray]:
    """Row indices of each training set (keyed by the size used): the first ``n`` of :func:`nested_order`."""
    order = nested_order(n_images, seed)
    return {used: order[:used] for _, used in resolve_sizes(sizes, n_images)}


def train_point(cache: dict, rows: int, settings: Attack) -> adapter.EmbeddingAdapter:
    """An adapter trained on the first ``rows`` images of ``cache`` (:func:`adapter_embeddings`' arrays)."""
    cfg = settings.adapter
    sharp, obfuscated = cache["sharp"][:rows], cache["obfuscated"][:rows]
    views = obfuscated.shape[1]
    if cfg.target == "identity_mean":
        targets = adapter.identity_means(sharp, cache["identities"][:rows])
    else:  # same_image
        targets = sharp
    net = adapter.EmbeddingAdapter(512, cfg.hidden, cfg.depth)
    adapter.train(net, obfuscated.reshape(-1, 512), np.repeat(targets, views, axis=0), cfg.epochs, cfg.batch_size,
                  cfg.lr, cfg.weight_decay, attack_seed(settings))
    return net


def embed_test_pairs(test, protocol: str, images: Path, render_dir: Path, arcface: engine.Embedder,
                     levels: list[tuple[str, float]], region: float,
                     batch_size: int) -> tuple[pd.DataFrame, str, dict, dict]:
    """The pairs of ``protocol`` in ``test`` (a test set: flup.verify.scored_set), the sharp side's column letter, and
    ``arcface``'s embeddings of the sharp side (image -> row) and of the obfuscated side at each (kind, level) of the
    render in ``render_dir`` over ``region``, oracle box."""
    pairs = test.pairs[protocol]
    sharp_side = test.sharp_side
    obfuscated_side = "a" if sharp_side == "b" else "b"
    rendered, names = engine.rendered_levels(render_dir)
    wanted = set(pairs[f"image_{obfuscated_side}"])
    names = [n for n in names if n in wanted]
    sharp_names = [n for n in test.sharp_images if n in set(pairs[f"image_{sharp_side}"])]
    landmarks = {name: landmarks_of(test.faces.loc[name]) for name in {*sharp_names, *names}}
    sharp_crops = {n: recognition.align(engine.read_image(images, n), landmarks[n]) for n in sharp_names}
    sharp = engine.embed_named(arcface, sharp_crops, batch_size)
    obfuscated = {}
    for kind, level in levels:
        store = next((render.store_path(render_dir, *entry) for entry in rendered if entry[0] == kind
                      and math.isclose(entry[1], level) and math.isclose(entry[2], region)), None)
        if store is None:
            raise ParamError(f"learning_curve.levels: {kind} {level:g} over region {region:g} is not in the render "
                             f"({render_dir}); expected a level of render.obfuscations and a region of "
                             "render.regions (rerun the render stage)")
        crops = engine.level_crops(render.RenderStore(store), names, images, landmarks, [MODE])
        obfuscated[(kind, level)] = engine.embed_named(arcface, crops.oracle_box, batch_size)
    return pairs, sharp_side, sharp, obfuscated


def point_row(pairs: pd.DataFrame, sharp_side: str, sharp: dict, obfuscated: dict, *, recognizer: str, kind: str,
              level: float, region: float, n_boot: int, seed: int, **fields) -> dict:
    """One point's row: the pairs scored by cosine, their AUC and its bootstrap 95% interval."""
    table = score_pairs(pairs, sharp_side, sharp, obfuscated, region=region, dataset="lfw", protocol="view1",
                        recognizer=recognizer, mode=MODE, obfuscation=kind, level=float(level))
    kept = table[table["status"] != "excluded"]
    scores, labels = kept["score"].to_numpy(dtype=float), kept["label"].to_numpy(dtype=int)
    images = int(fields.get("images", 0))
    low, high = bootstrap_auc_ci(scores, labels, n_boot=n_boot,
                                 seed=group_seed(seed, ("learning_curve", recognizer, images, kind, float(level),
                                                        float(region))))
    return {"recognizer": recognizer, **fields, "obfuscation": kind, "level": float(level), "region": float(region),
            "mode": MODE, "n_pairs": len(kept), "n_same": int(labels.sum()), "n_different": int((labels == 0).sum()),
            "auc": roc_auc(scores, labels), "auc_low": low, "auc_high": high}


