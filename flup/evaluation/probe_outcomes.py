"""Each probe of the identification protocol ranked against its fold's sharp gallery, under every condition of
:class:`flup.verify.identification.ProbeEmbeddings`: one row per probe x condition x threat model with the raw rank
counts (:class:`flup.evaluation.identification.IdentificationOutcomes`), from which every metric is computed.

A recogniser enters through ``transform``: the map from ArcFace embeddings of obfuscated probes to its own (plain
ArcFace: unchanged; an adapter attacker: the fold's cross-fitted adapter). The gallery stays plain ArcFace: it is
sharp.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from flup.evaluation.balanced_verification import pair_partners, pair_scores
from flup.evaluation.identification import IdentificationOutcomes, outcomes_from_embeddings
from flup.verify.identification import ProbeEmbeddings

OUTCOME_COLUMNS = ["mode", "obfuscation", "level", "region", "fold", "probe_id", "identity", "weight", "missed",
                   "targets_above", "targets_tied", "gallery_above", "gallery_tied", "n_targets", "n_gallery",
                   "matched", "mismatched"]
CONDITION_COLUMNS = ["mode", "obfuscation", "level", "region"]

Transform = Callable[[int, np.ndarray], np.ndarray]  # (fold, ArcFace embeddings of obfuscated probes) -> attacker's


def unchanged(fold: int, embeddings: np.ndarray) -> np.ndarray:
    """Plain ArcFace: the obfuscated probes' embeddings as they are."""
    return embeddings


def outcome_table(scored: ProbeEmbeddings, gallery: pd.DataFrame, probes: pd.DataFrame,
                  transform: Transform = unchanged, pair_seed: int = 0) -> pd.DataFrame:
    """One row per probe x condition x threat model (OUTCOME_COLUMNS): the probe ranked against its fold's gallery
    after ``transform(fold, probe embeddings)`` (the gallery stays plain ArcFace: it is sharp), and the scores of
    its balanced verification pairs (:mod:`flup.evaluation.balanced_verification`, ``matched`` and ``mismatched``;
    NaN for a missed face). The mismatched partners are a derangement over the people of every fold together,
    seeded by ``pair_seed`` (a fold of an audit's few probes may hold a single person)."""
    gallery_row = {image: i for i, image in enumerate(scored.gallery_images)}
    probe_row = {image: i for i, image in enumerate(scored.probe_images)}
    folds = []  # (fold, its probes, their gallery columns, its gallery's targets, its gallery embeddings)
    for fold in sorted(set(gallery["fold"])):
        entries = gallery[gallery["fold"] == fold].reset_index(drop=True)
        held = probes[probes["fold"] == fold]
        if held.empty:
            continue
        column = {identity: i for i, identity in enumerate(entries["identity"])}
        true_column = np.array([column[identity] for identity in held["identity"]], dtype=np.int64)
        folds.append((int(fold), held, true_column, entries["target"].to_numpy(dtype=bool),
                      scored.gallery[[gallery_row[image] for image in entries["image"]]]))
    if not folds:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    rows = [np.array([probe_row[image] for image in held["image"]], dtype=np.int64) for _, held, *_ in folds]
    own_gallery = np.concatenate([fold_gallery[true] for _, _, true, _, fold_gallery in folds])
    partner = pair_partners(np.concatenate([held["identity"].to_numpy(dtype=str) for _, held, *_ in folds]),
                            pair_seed)
    frames: dict[tuple[int, int, int], pd.DataFrame] = {}
    for m, mode in enumerate(scored.modes):
        for c, condition in enumerate(scored.conditions):
            vectors, missed, outcomes = [], [], []
            for (fold, _, true_column, is_target, fold_gallery), fold_rows in zip(folds, rows, strict=True):
                found = scored.missed[m, c, fold_rows]
                fold_vectors = transform(fold, scored.probes[m, c, fold_rows])
                outcomes.append(outcomes_from_embeddings(fold_vectors, fold_gallery, true_column, is_target, found))
                vectors.append(fold_vectors)
                missed.append(found)
            matched, mismatched = pair_scores(np.concatenate(vectors), own_gallery, partner, np.concatenate(missed))
            start = 0
            for (fold, held, *_), outcome in zip(folds, outcomes, strict=True):
                end = start + len(held)
                frames[(fold, m, c)] = pd.DataFrame({
                    "mode": mode, "obfuscation": condition.obfuscation, "level": condition.level,
                    "region": condition.region, "fold": fold, "probe_id": held["probe_id"].to_numpy(),
                    "identity": held["identity"].to_numpy(dtype=str), "weight": held["weight"].to_numpy(),
                    "missed": outcome.missed, "targets_above": outcome.targets_above,
                    "targets_tied": outcome.targets_tied, "gallery_above": outcome.gallery_above,
                    "gallery_tied": outcome.gallery_tied, "n_targets": outcome.n_targets,
                    "n_gallery": outcome.n_gallery, "matched": matched[start:end], "mismatched": mismatched[start:end],
                })
                start = end
    return pd.concat([frames[key] for key in sorted(frames)], ignore_index=True)[OUTCOME_COLUMNS]


def outcomes_of(rows: pd.DataFrame) -> IdentificationOutcomes:
    """The outcomes of one fold's rows of an outcome table, as :mod:`flup.evaluation.identification` computes
    metrics from them (the true column is a per-probe index: metrics do not read it beyond the clusters)."""
    n_targets, n_gallery = (int(rows[c].iloc[0]) for c in ("n_targets", "n_gallery"))
    if rows["n_targets"].nunique() != 1 or rows["n_gallery"].nunique() != 1:
        raise ValueError("outcomes_of: rows of more than one fold (their gallery sizes differ)")
    above, tied, gallery_above, gallery_tied = (rows[name].to_numpy(dtype=np.int64) for name in
                                                ("targets_above", "targets_tied", "gallery_above", "gallery_tied"))
    return IdentificationOutcomes(np.arange(len(rows)), rows["missed"].to_numpy(dtype=bool), above, tied,
                                  gallery_above, gallery_tied, n_targets, n_gallery)
