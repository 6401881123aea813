"""Training replicas: a trained recogniser (a dual-stream model, an attacker) trained once per seed of
``train.seeds`` / ``attack.seeds``, and the one row the study reports for it.

Each replica is evaluated on its own, under a marked name (``adapter_blur [seed 1]``), exactly as any recogniser;
these functions then fold the replicas of one recogniser into its row:

- ``auc`` (and every other curve metric) is the mean over seeds; ``auc_seed_min`` / ``auc_seed_max`` their range;
  the metrics keep each seed's AUC and interval under ``seeds``;
- ``auc_low`` / ``auc_high`` span the seeds' 95% intervals: the lowest lower end and the **highest upper end**.

So a privacy threshold (upper end <= the bound) holds only where it holds for every seed: the worst-case seed, not
the pooled one. An attacker's owner keeps the best of several training runs, and at the scales this study trains
two seeds differ by more than one interval's width; a threshold from pooled seeds would credit the obfuscation with
the average run's weakness. The relative threshold folds its paired differences the same way (highest upper end).
A recogniser trained with one seed keeps its plain name and its own numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

# How a metric folds over one recogniser's seeds (any metric not named: the mean): interval ends to the widest,
# counts to the largest. Both folds below (the curves table, verification.json) read these two tables.
FOLD_RULES = {
    "auc_low": "min", "auc_high": "max", "diff_low": "min", "diff_high": "max",
    "n_pairs": "max", "n_same": "max", "n_diff": "max", "pairs_excluded": "max", "failures": "max",
}
# A seed without an interval's upper end (no pairs scored, no black box) leaves these folded values undefined, not
# optimistic: the worst-case seed decides, and that seed's bound is unknown.
UNDEFINED_WITHOUT = {"auc_high": ("auc", "auc_low", "auc_high"), "diff_high": ("auc_diff", "diff_low", "diff_high")}

MARK = " [seed {}]"
_MARKED = re.compile(r"^(?P<base>.*) \[seed (?P<seed>\d+)\]$")
NOT_TRAINED = -1  # train_seed of a recogniser nobody trained here (ArcFace)


def replica_name(recognizer: str, seed: int) -> str:
    return recognizer + MARK.format(int(seed))


def split_name(recognizer: str) -> tuple[str, int | None]:
    """(base name, seed) of a replica's name; (name, None) for any other."""
    found = _MARKED.match(recognizer)
    return (found["base"], int(found["seed"])) if found else (recognizer, None)


def mark(recognizers: pd.Series, train_seeds: pd.Series) -> pd.Series:
    """Recogniser names, each row of a recogniser scored with more than one training seed marked with its seed."""
    seeds = pd.to_numeric(train_seeds, errors="raise").astype(np.int64)
    counts = seeds.groupby(recognizers.to_numpy()).nunique()
    replicated = recognizers.map(counts).fillna(1).to_numpy() > 1
    if (replicated & (seeds.to_numpy() < 0)).any():
        raise ValueError("a recogniser's rows mix trained replicas (train_seed >= 0) with untrained ones")
    marked = recognizers.copy()
    marked[replicated] = [replica_name(r, s) for r, s in zip(recognizers[replicated], seeds[replicated], strict=True)]
    return marked


def _seed_column(frame: pd.DataFrame, column: str = "recognizer") -> tuple[pd.Series, pd.Series]:
    parts = [split_name(r) for r in frame[column]]
    return (pd.Series([p[0] for p in parts], index=frame.index),
            pd.Series([p[1] for p in parts], index=frame.index, dtype="Int64"))


def fold_rule(metric: str) -> str:
    """How ``metric`` folds over seeds: "min", "max" or "mean" (see ``FOLD_RULES``)."""
    return FOLD_RULES.get(metric, "mean")


def _fold_frame(replicas: pd.DataFrame, keys: list[str], columns: list[str],
                extra: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """``columns`` of ``replicas`` folded per ``keys`` by ``fold_rule`` and ``UNDEFINED_WITHOUT``, beside the
    named aggregations ``extra`` ({name: (column, how)}), all in one grouping."""
    numeric = replicas.assign(**{c: pd.to_numeric(replicas[c], errors="coerce") for c in columns})
    grouped = numeric.groupby(keys, sort=False, dropna=False)
    folded = grouped.agg(**{c: (c, fold_rule(c)) for c in columns}, **(extra or {}))
    for end, dependents in UNDEFINED_WITHOUT.items():
        if end in columns:
            missing = grouped[end].apply(lambda v: v.isna().any())
            folded.loc[missing, [c for c in dependents if c in columns]] = np.nan
    return folded


SEED_RANGE = {"n_seeds": ("auc", "size"), "auc_seed_min": ("auc", "min"), "auc_seed_max": ("auc", "max")}
SEED_COLUMNS = list(SEED_RANGE)  # the curves' and threshold records' columns of a recogniser's seeds


def fold_curves(curves: pd.DataFrame, keys: Iterable[str], metrics: Iterable[str]) -> pd.DataFrame:
    """``curves`` (one row per group, replicas under marked names) with each recogniser's replicas folded into one
    row per ``keys`` by ``FOLD_RULES`` (the mean, ``auc_low`` the lowest and ``auc_high`` the highest of the seeds'
    interval ends), ``n_seeds`` and the seeds' AUC range ``auc_seed_min`` / ``auc_seed_max`` added (1 and the row's
    own AUC for an unreplicated recogniser). ``metrics`` include ``auc``."""
    keys, metrics = list(keys), list(metrics)
    base, seeds = _seed_column(curves)
    plain = curves[seeds.isna()]
    plain = plain.assign(n_seeds=1, auc_seed_min=plain["auc"], auc_seed_max=plain["auc"])
    replicas = curves[seeds.notna()].assign(recognizer=base[seeds.notna()])
    if replicas.empty:
        return plain.reset_index(drop=True)
    same_per_replica = [c for c in curves.columns if c not in keys and c not in metrics]  # e.g. series, level_per_face
    folded = _fold_frame(replicas, keys, metrics,
                         {**SEED_RANGE, **{c: (c, "first") for c in same_per_replica}}).reset_index()
    return pd.concat([plain, folded[[*curves.columns, *SEED_RANGE]]], ignore_index=True)


def fold_metrics(nested: Mapping) -> dict:
    """``metrics/verification.json``'s nesting (dataset -> protocol -> recognizer -> mode -> obfuscation -> region ->
    level -> metrics) with each recogniser's replicas folded into one record per level as :func:`fold_curves` does,
    the seeds' own AUCs and intervals kept under ``seeds`` ({seed: {auc, auc_low, auc_high}})."""
    out: dict = {}
    for dataset, protocols in nested.items():
        for protocol, recognizers in protocols.items():
            target = out.setdefault(dataset, {}).setdefault(protocol, {})
            replicas: dict[str, dict[int, Mapping]] = {}
            for recognizer, tree in recognizers.items():
                base, seed = split_name(recognizer)
                if seed is None:
                    target[recognizer] = tree
                else:
                    replicas.setdefault(base, {})[seed] = tree
            for base, by_seed in replicas.items():
                target[base] = _fold_tree(by_seed)
    return out


def _fold_tree(by_seed: Mapping[int, Mapping]) -> dict:
    first = next(iter(by_seed.values()))
    if "auc" in first or "n_pairs" in first:  # a leaf: one level's metrics per seed
        return _fold_leaf(by_seed)
    keys = list(dict.fromkeys(k for tree in by_seed.values() for k in tree))
    return {k: _fold_tree({s: tree[k] for s, tree in by_seed.items() if k in tree}) for k in keys}


def _fold_leaf(by_seed: Mapping[int, Mapping]) -> dict:
    seeds = sorted(by_seed)
    leaves = [by_seed[s] for s in seeds]

    def values(key):
        return [v for leaf in leaves if (v := leaf.get(key)) is not None]

    folded: dict = {}
    for key in leaves[0]:
        found = values(key)
        if found and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in found):
            how = fold_rule(key)
            folded[key] = min(found) if how == "min" else max(found) if how == "max" else float(np.mean(found))
        else:
            folded[key] = leaves[0][key] if found else None
    for end, dependents in UNDEFINED_WITHOUT.items():
        if end in folded and len(values(end)) < len(leaves):
            folded |= {key: None for key in dependents if key in folded}
    aucs = values("auc")
    folded["n_seeds"] = len(seeds)
    folded["auc_seed_min"] = min(aucs) if aucs else None
    folded["auc_seed_max"] = max(aucs) if aucs else None
    folded["seeds"] = {str(s): {k: by_seed[s].get(k) for k in ("auc", "auc_low", "auc_high")} for s in seeds}
    return folded


def fold_differences(differences: pd.DataFrame, keys: Iterable[str]) -> pd.DataFrame:
    """The relative threshold's paired differences (``relative.level_differences``) with each recogniser's replicas
    folded per ``keys``: the mean difference, the lowest lower end and the highest upper end of the seeds'
    intervals (the worst-case seed decides, as for the absolute threshold)."""
    keys = list(keys)
    base, seeds = _seed_column(differences)
    plain = differences[seeds.isna()]
    replicas = differences[seeds.notna()].assign(recognizer=base[seeds.notna()])
    if replicas.empty:
        return differences
    folded = _fold_frame(replicas, keys, ["auc_diff", "diff_low", "diff_high", "n_pairs"],
                         {"reference_level": ("reference_level", "first")}).reset_index()
    return pd.concat([plain, folded[differences.columns]], ignore_index=True)
