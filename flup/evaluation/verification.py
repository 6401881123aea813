"""From per-pair score tables to verification metrics and plot data: the folding of the score stages' tables.

Input: the score stages' long table, one row per pair x obfuscation x region x level x mode (see
``SCORE_COLUMNS``; the region is the face-box scale factor of ``render.regions``). A row's ``status``
says how it counts:

- ``ok``: scored normally;
- ``not_detected``: the attacker found no face in the obfuscated image. That is a failure to
  verify, so the pair stays in the metrics as a non-match (score -1, whatever the table says)
  and is counted under ``failures``;
- ``excluded``: the pair's sharp image had no face, so the pair says nothing about obfuscation.
  It is dropped from the metrics and counted under ``pairs_excluded``.

Output: ``metrics/verification.json``'s nesting, the curves table (one row per group, replicas folded by
``flup.evaluation.replicas``), ROC points, and the absolute thresholds of the curves (``flup.evaluation.absolute``).

Everything here is pure: DataFrames in, dicts and DataFrames out (:func:`read_scores` reads the tables of a folder).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from flup.evaluation import replicas
from flup.evaluation.absolute import privacy_thresholds
from flup.evaluation.face_size import level_per_face
from flup.evaluation.replicas import SEED_COLUMNS
from flup.evaluation.series import SaturatedKey, region_key, seed_key, series_name
from flup.io import read_table
from flup.verify import metrics
from flup.verify.metrics import group_seed
from flup.verify.scoring import FAILURE_SCORE, GROUP_KEYS, SCORE_COLUMNS, SEEN_MARK, STATUSES, level_key

CURVE_METRICS = [
    "auc", "auc_low", "auc_high", "accuracy", "tar_far_1e-2", "tar_far_1e-3", "eer",
    "mean_cos_same", "mean_one_minus_cos_diff", "detection_rate", "n_pairs",
]
CURVE_COLUMNS = ["dataset", "protocol", "recognizer", "mode", "series", "obfuscation", "region", "level",
                 "level_per_face", *CURVE_METRICS, *SEED_COLUMNS]
ROC_COLUMNS = ["dataset", "protocol", "series", "obfuscation", "region", "level", "fpr", "tpr"]
ROC_MAX_POINTS = 200

# A progress wrapper: progress(iterable, total) -> iterable (e.g. a tqdm factory).
Progress = Callable[[Iterable, int], Iterable]


def validate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Check the score table and return a normalised copy (typed columns, failures scored -1).

    Raises ValueError naming the problem: missing columns, unknown statuses, labels other
    than 0/1, a scored row without a finite score, or the same pair twice in one group.
    """
    # Tables written before these columns existed: nothing seen, the detected face box, no training replicas.
    optional = {"seen_identities": False, "region": 1.0}
    train_seed = (scores["train_seed"].fillna(replicas.NOT_TRAINED) if "train_seed" in scores.columns
                  else pd.Series(replicas.NOT_TRAINED, index=scores.index))  # untrained recognisers: none
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns and c not in optional]
    if missing:
        raise ValueError(f"score table lacks columns {missing}; expected {SCORE_COLUMNS}")
    frame = scores.assign(**{c: v for c, v in optional.items() if c not in scores.columns})[SCORE_COLUMNS].copy()
    if frame.empty:
        raise ValueError("score table is empty")
    for column in ("dataset", "protocol", "recognizer", "mode", "obfuscation", "status"):
        frame[column] = frame[column].astype(str)
    # Rows scored on the recogniser's own training people stay apart, under a visibly marked name.
    seen = frame.pop("seen_identities").astype(bool).to_numpy()
    frame.loc[seen, "recognizer"] = frame.loc[seen, "recognizer"] + SEEN_MARK
    # Each replica of a recogniser trained with several seeds is evaluated apart, under a marked name, then folded.
    frame["recognizer"] = replicas.mark(frame["recognizer"], train_seed)
    bad_status = sorted(set(frame["status"]) - set(STATUSES))
    if bad_status:
        raise ValueError(f"unknown status values {bad_status}; expected one of {', '.join(STATUSES)}")
    frame["level"] = pd.to_numeric(frame["level"], errors="raise").astype(np.float64)
    if not np.isfinite(frame["level"]).all():
        raise ValueError("score table has non-finite levels")
    frame["region"] = pd.to_numeric(frame["region"], errors="raise").astype(np.float64)
    if not (np.isfinite(frame["region"]) & (frame["region"] > 0)).all():
        raise ValueError("score table has regions that are not finite numbers > 0")
    frame["pair_id"] = frame["pair_id"].astype(np.int64)
    frame["fold"] = frame["fold"].astype(np.int64)
    if not frame["label"].isin((0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got {sorted(frame['label'].unique().tolist())[:10]}")
    frame["label"] = frame["label"].astype(np.int8)
    frame["score"] = pd.to_numeric(frame["score"], errors="raise").astype(np.float64)
    failed = frame["status"] == "not_detected"
    frame.loc[failed, "score"] = FAILURE_SCORE
    scored = frame["status"] == "ok"
    if not np.isfinite(frame.loc[scored, "score"]).all():
        bad = frame[scored & ~np.isfinite(frame["score"])].iloc[0]
        raise ValueError(
            "rows with status ok need a finite score; e.g. "
            + ", ".join(f"{k}={bad[k]}" for k in [*GROUP_KEYS, "pair_id"])
        )
    duplicated = frame.duplicated([*GROUP_KEYS, "pair_id"])
    if duplicated.any():
        bad = frame[duplicated].iloc[0]
        raise ValueError(
            f"{int(duplicated.sum())} duplicate pair rows; e.g. "
            + ", ".join(f"{k}={bad[k]}" for k in [*GROUP_KEYS, "pair_id"])
        )
    # Row order must not matter (the bootstrap resamples by position): sort each group by pair.
    return frame.sort_values([*GROUP_KEYS, "pair_id"], kind="stable", ignore_index=True)


def _empty_summary() -> dict:
    return {
        "n_pairs": 0, "n_same": 0, "n_diff": 0, "auc": None, "auc_low": None, "auc_high": None,
        "accuracy": None, "accuracy_std": None, "accuracy_protocol": None, "tar_far_1e-2": None,
        "tar_far_1e-3": None, "eer": None, "mean_cos_same": None, "mean_one_minus_cos_diff": None,
    }


def evaluate_group(group: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """Metrics of one (dataset, protocol, recognizer, mode, obfuscation, region, level) group.

    ``group`` must already be normalised by ``validate_scores``. ``metrics.summarize`` runs on
    the non-excluded rows, with k-fold accuracy when they span more than one fold.
    """
    kept = group[group["status"] != "excluded"]
    if kept.empty:
        out = _empty_summary()
    else:
        folds = kept["fold"].to_numpy() if kept["fold"].nunique() > 1 else None
        out = metrics.summarize(
            kept["score"].to_numpy(), kept["label"].to_numpy(), folds=folds, n_boot=n_boot, seed=seed
        )
    n_ok = int((kept["status"] == "ok").sum())
    out |= {
        "pairs_excluded": int(len(group) - len(kept)),
        "failures": int((kept["status"] == "not_detected").sum()),
        "detection_rate": n_ok / len(kept) if len(kept) else None,
    }
    return jsonable(out)


def roc_points(scores: np.ndarray, labels: np.ndarray, max_points: int = ROC_MAX_POINTS) -> pd.DataFrame:
    """ROC corner points (fpr, tpr), thinned to at most ``max_points`` spread evenly along the curve.

    The ROC runs from (0, 0) to (1, 1) with fpr + tpr rising by 2 in total; points are kept at
    (about) equal steps of that path length, so steep and flat parts both keep their shape.
    Both end points are always kept. Empty if only one class is present.
    """
    y = np.asarray(labels)
    if y.size == 0 or y.min() == y.max():
        return pd.DataFrame({"fpr": [], "tpr": []})
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    fpr, tpr, _ = roc_curve(y, np.asarray(scores, dtype=np.float64), drop_intermediate=True)
    if fpr.size > max_points:
        path = fpr + tpr  # monotone non-decreasing from 0 to 2
        targets = np.linspace(0.0, path[-1], max_points)
        idx = np.unique(np.clip(np.searchsorted(path, targets, side="left"), 0, fpr.size - 1))
        idx = np.unique(np.r_[0, idx, fpr.size - 1])
        if idx.size > max_points:  # only possible by the two forced end points
            idx = np.r_[idx[0], idx[1:-1][: max_points - 2], idx[-1]]
        fpr, tpr = fpr[idx], tpr[idx]
    return pd.DataFrame({"fpr": fpr.astype(np.float64), "tpr": tpr.astype(np.float64)})


def _wanted_level(levels: Sequence[float] | None, level: float) -> bool:
    return bool(levels) and any(math.isclose(float(lv), level, rel_tol=0, abs_tol=1e-9) for lv in levels)


def evaluate(
    scores: pd.DataFrame,
    n_boot: int,
    seed: int,
    privacy_bound: float,
    roc_levels: Mapping[str, Sequence[float]] | None = None,
    progress: Progress | None = None,
    face_widths: Mapping[str, float | None] | None = None,
    saturated: Collection[SaturatedKey] = (),
) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Evaluate every group of a score table.

    Returns ``(metrics, curves, roc, thresholds)``:

    - ``metrics``: nested dict dataset -> protocol -> recognizer -> mode -> obfuscation -> region key
      (``region_key``) -> level key (``level_key``) -> metric dict (``metrics.summarize`` plus ``pairs_excluded``,
      ``failures``, ``detection_rate``); JSON-ready, None where undefined.
    - ``curves``: one row per group (``CURVE_COLUMNS``).
    - ``roc``: ROC points (``ROC_COLUMNS``) of the groups whose level is listed in
      ``roc_levels[obfuscation]`` (at every region), at most ``ROC_MAX_POINTS`` per curve.
    - ``thresholds``: ``privacy_thresholds(curves, privacy_bound, face_widths, saturated)``.

    Each level also comes per face width (``level_per_face``, ``flup.evaluation.face_size``) from
    ``face_widths`` (dataset -> median face-box width, px) and the group's region; None without them.

    Each group's bootstrap seed is ``group_seed(seed, seed_key(group key, region))``, so results do not depend on
    which other groups are present or on their order.
    """
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    frame = validate_scores(scores)
    roc_levels = dict(roc_levels or {})
    face_widths = dict(face_widths or {})
    groups = frame.groupby(GROUP_KEYS, sort=True)
    iterator: Iterable = groups
    if progress is not None:
        iterator = progress(groups, groups.ngroups)
    first_replica = _first_replicas(frame["recognizer"].unique())
    nested: dict = {}
    curve_rows, roc_parts = [], []
    for key, group in iterator:
        dataset, protocol, recognizer, mode, obfuscation, region, level = key
        level, region = float(level), float(region)
        seed_of = seed_key((dataset, protocol, recognizer, mode, obfuscation, level), region)
        result = evaluate_group(group, int(n_boot), group_seed(seed, seed_of))
        result["level_per_face"] = level_per_face(obfuscation, level, face_widths.get(dataset), region)
        node = nested
        for part in (dataset, protocol, recognizer, mode, obfuscation, region_key(region)):
            node = node.setdefault(part, {})
        node[level_key(level)] = result
        series = series_name(recognizer, mode)
        curve_rows.append({
            "dataset": dataset, "protocol": protocol, "recognizer": recognizer, "mode": mode, "series": series,
            "obfuscation": obfuscation, "region": region, "level": level, "level_per_face": result["level_per_face"],
            **{m: result[m] for m in CURVE_METRICS},
        })
        base, replica_seed = replicas.split_name(recognizer)
        if _wanted_level(roc_levels.get(obfuscation), level) and replica_seed in (None, first_replica.get(base)):
            roc_parts.append(_roc_part(group, dataset, protocol, series, obfuscation, region, level))
    curves = _curves(curve_rows)
    roc_parts = [part for part in roc_parts if not part.empty]
    roc = pd.concat(roc_parts, ignore_index=True) if roc_parts else pd.DataFrame(columns=ROC_COLUMNS)
    thresholds = privacy_thresholds(curves, privacy_bound, face_widths, saturated)
    return replicas.fold_metrics(nested), curves, roc, thresholds


def _first_replicas(recognizers: Iterable[str]) -> dict[str, int]:
    """Replicated recogniser -> its first training seed (whose ROC curves stand for it)."""
    first: dict[str, int] = {}
    for name in recognizers:
        base, replica_seed = replicas.split_name(name)
        if replica_seed is not None:
            first[base] = min(first.get(base, replica_seed), replica_seed)
    return first


def _roc_part(group: pd.DataFrame, dataset: str, protocol: str, series: str, obfuscation: str, region: float,
              level: float) -> pd.DataFrame:
    """One group's ROC points (``ROC_COLUMNS``; empty with one class only)."""
    kept = group[group["status"] != "excluded"]
    points = roc_points(kept["score"].to_numpy(), kept["label"].to_numpy())
    if not points.empty:
        for column, value in (("level", level), ("region", region), ("obfuscation", obfuscation),
                              ("series", series), ("protocol", protocol), ("dataset", dataset)):
            points.insert(0, column, value)
    return points


def _curves(rows: list[dict]) -> pd.DataFrame:
    """The curves table (``CURVE_COLUMNS``) of one row per group: replicas folded, typed, sorted by group."""
    curves = pd.DataFrame(rows, columns=[c for c in CURVE_COLUMNS if c not in SEED_COLUMNS])
    curves = replicas.fold_curves(curves, GROUP_KEYS, CURVE_METRICS)
    curves["series"] = [series_name(r, m) for r, m in zip(curves["recognizer"], curves["mode"], strict=True)]
    curves = curves.sort_values(GROUP_KEYS, kind="stable", ignore_index=True)[CURVE_COLUMNS]
    for column in ["region", "level_per_face", *CURVE_METRICS, *SEED_COLUMNS]:
        curves[column] = pd.to_numeric(curves[column], errors="coerce").astype(np.float64)
    curves["n_pairs"] = curves["n_pairs"].astype(np.int64)
    curves["n_seeds"] = curves["n_seeds"].astype(np.int64)
    return curves


def jsonable(value):
    """Convert numpy scalars to Python ones and NaN/inf to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


def to_json(data) -> str:
    """Canonical JSON text (used to compare runs for determinism)."""
    return json.dumps(jsonable(data), indent=2, allow_nan=False)


def read_scores(folder: Path, datasets: Sequence[str] = ()) -> tuple[pd.DataFrame, list[Path]]:
    """LFW's score tables (``folder/*.parquet``) and those of the enabled datasets (``folder/<name>/``).

    Tables of datasets no longer in params.yaml may linger in the workspace; they are not read.
    """
    files = sorted(folder.glob("*.parquet"))
    for name in datasets:
        found = sorted((folder / name).glob("*.parquet"))
        if not found:
            raise FileNotFoundError(f"{folder / name}: no score tables for dataset {name!r} (params.yaml datasets)")
        files += found
    if not files:
        raise FileNotFoundError(f"{folder}: no score tables (*.parquet); run the score stages first")
    return pd.concat([read_table(f) for f in files], ignore_index=True), files


