"""From per-pair score tables to verification metrics, plot data and privacy thresholds.

Input: the score stages' long table, one row per pair x obfuscation x region x level x mode (see
``SCORE_COLUMNS``; the region is the face-box scale factor of ``render.regions``). A row's ``status``
says how it counts:

- ``ok``: scored normally;
- ``not_detected``: the attacker found no face in the obfuscated image. That is a failure to
  verify, so the pair stays in the metrics as a non-match (score -1, whatever the table says)
  and is counted under ``failures``;
- ``excluded``: the pair's sharp image had no face, so the pair says nothing about obfuscation.
  It is dropped from the metrics and counted under ``pairs_excluded``.

Everything here is pure: DataFrames in, dicts and DataFrames out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve
from tqdm import tqdm

from flup.evaluate import replicas
from flup.evaluate.face_size import (
    level_per_face,
    median_face_width,
    saturated_levels,
    study_faces,
    with_level_per_face,
)
from flup.io import read_table
from flup.obfuscate import families
from flup.verify import metrics
from flup.verify.metrics import group_seed
from flup.verify.scoring import (  # noqa: F401 (re-exported)
    FAILURE_SCORE,
    GROUP_KEYS,
    SCORE_COLUMNS,
    SEEN_MARK,
    STATUSES,
    level_key,
)

if TYPE_CHECKING:
    from flup.config.schema import Study

CURVE_METRICS = [
    "auc", "auc_low", "auc_high", "accuracy", "tar_far_1e-2", "tar_far_1e-3", "eer",
    "mean_cos_same", "mean_one_minus_cos_diff", "detection_rate", "n_pairs",
]
SEED_COLUMNS = ["n_seeds", "auc_seed_min", "auc_seed_max"]  # training replicas (flup.evaluate.replicas)
CURVE_COLUMNS = ["dataset", "protocol", "recognizer", "mode", "series", "obfuscation", "region", "level",
                 "level_per_face", *CURVE_METRICS, *SEED_COLUMNS]
ROC_COLUMNS = ["dataset", "protocol", "series", "obfuscation", "region", "level", "fpr", "tpr"]
THRESHOLD_COLUMNS = [
    "dataset", "protocol", "recognizer", "mode", "series", "obfuscation", "region", "bound", "reached", "level",
    "level_per_face", "auc", "auc_low", "auc_high", "holds_above", "max_level_tested", "max_level_per_face",
    "n_levels", "status", "identifies_level", "uniform_level", "saturated_level", *SEED_COLUMNS, "description",
]
# A threshold record's status (see :func:`bracket`): where the answer lies between two tested levels.
BRACKETED = "bracketed"  # a tested level that identifies directly below the threshold level, which is private
PRIVATE_AT_WEAKEST = "private_at_weakest"  # the weakest tested level is private; below it: the unobfuscated image
UNIFORM_STILL_IDENTIFIES = "uniform_still_identifies"  # not reached, the strongest level is uniform: an answer
# not reached, the strongest level fills the frame (a family whose level is a region): stronger levels render the
# same images, an answer (flup.evaluate.face_size.saturated_levels)
SATURATED_STILL_IDENTIFIES = "saturated_still_identifies"
GRID_ENDS = "grid_ends"  # not reached, the strongest level is neither: the grid stopped before the answer
THRESHOLD_STATUSES = (BRACKETED, PRIVATE_AT_WEAKEST, UNIFORM_STILL_IDENTIFIES, SATURATED_STILL_IDENTIFIES, GRID_ENDS)
# A series' strongest levels: a (dataset, obfuscation, region, level) at which the family saturates the dataset.
SaturatedKey = tuple[str, str, float, float]
ROC_MAX_POINTS = 200

# A progress wrapper: progress(iterable, total) -> iterable (e.g. a tqdm factory).
Progress = Callable[[Iterable, int], Iterable]


def region_key(region: float) -> str:
    """The JSON key of a region (``render.regions``) in verification.json and privacy.json: ``"region=1.3"``."""
    return f"region={level_key(region)}"


def series_name(recognizer: str, mode: str) -> str:
    return f"{recognizer}/{mode}"


def seed_key(key: Sequence, region: float) -> tuple:
    """A group's key for :func:`group_seed` (``key`` without the region): region 1.0 adds nothing, so the
    detected box keeps the bootstrap seeds, and so the numbers, it had before ``render.regions`` existed."""
    return tuple(key) if float(region) == 1.0 else (*key, "region", float(region))


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
    return _jsonable(out)


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


@dataclass(frozen=True)
class Bracket:
    """Where a threshold lies among the tested levels of one series (see :func:`bracket`)."""

    status: str  # one of THRESHOLD_STATUSES
    identifies_level: float | None  # the strongest tested level below the threshold (or of all) not private
    uniform_level: float | None  # the weakest tested level at which the box is uniform (families.uniform)
    saturated_level: float | None = None  # the weakest tested level at which the region fills the frame


def bracket(levels: Sequence[float], private: Sequence[bool], uniform: Sequence[bool],
            threshold: float | None, saturated: Sequence[bool] | None = None) -> Bracket:
    """The status of a threshold over ascending tested ``levels`` with their ``private``, ``uniform`` and
    ``saturated`` flags (``saturated``: the region fills the frame, stronger levels render the same images; None =
    never).

    ``threshold`` is the weakest private level (None if none is). Reached: ``bracketed`` when a tested level
    lies below it (every such level is not private; the strongest is ``identifies_level``), else
    ``private_at_weakest`` (the lower bracket is the unobfuscated image). Not reached: ``uniform_still_identifies``
    when the strongest level is uniform, ``saturated_still_identifies`` when it is saturated (either way stronger
    levels cannot hide more: an answer), else ``grid_ends``.
    """
    saturated = [False] * len(levels) if saturated is None else list(saturated)
    if not len(levels) == len(private) == len(uniform) == len(saturated):
        raise ValueError(f"levels, private, uniform and saturated differ in length: {len(levels)}, {len(private)}, "
                         f"{len(uniform)}, {len(saturated)}")
    uniform_level = next((float(lv) for lv, u in zip(levels, uniform, strict=True) if u), None)
    saturated_level = next((float(lv) for lv, s in zip(levels, saturated, strict=True) if s), None)
    if threshold is not None:
        below = [float(lv) for lv, p in zip(levels, private, strict=True) if lv < threshold and not p]
        return Bracket(BRACKETED if below else PRIVATE_AT_WEAKEST, max(below) if below else None, uniform_level,
                       saturated_level)
    if uniform and uniform[-1]:
        status = UNIFORM_STILL_IDENTIFIES
    elif saturated and saturated[-1]:
        status = SATURATED_STILL_IDENTIFIES
    else:
        status = GRID_ENDS
    return Bracket(status, float(levels[-1]) if levels else None, uniform_level, saturated_level)


def bracket_text(found: Bracket, threshold: float | None, max_level: float, interval: str,
                 unobfuscated: str) -> str:
    """A threshold record's description: the threshold with its bracket, or why there is none.
    ``unobfuscated`` names the lower bracket of ``private_at_weakest`` (the unobfuscated image's AUC)."""
    if found.status == BRACKETED:
        return (f"reached at level {level_key(threshold)} (bracket ({level_key(found.identifies_level)}, "
                f"{level_key(threshold)}]; {interval})")
    if found.status == PRIVATE_AT_WEAKEST:
        return (f"reached at level {level_key(threshold)}, the weakest tested (bracket (unobfuscated, "
                f"{level_key(threshold)}]; {interval}; unobfuscated: {unobfuscated})")
    if found.status == UNIFORM_STILL_IDENTIFIES:
        return (f"uniform at level {level_key(found.uniform_level)} and still identifies (max level "
                f"{level_key(max_level)}: {interval})")
    if found.status == SATURATED_STILL_IDENTIFIES:
        return (f"the region fills the frame from level {level_key(found.saturated_level)} and still identifies "
                f"(max level {level_key(max_level)}: {interval})")
    return f"grid ends at level {level_key(max_level)} before the threshold ({interval})"


def _series_uniform(kind: str, levels: Sequence[float], face_width: float | None, region: float) -> list[bool]:
    return [families.uniform(kind, lv, face_width, region) for lv in levels]


def series_saturated(saturated: Collection[SaturatedKey], dataset: str, kind: str, region: float,
                     levels: Sequence[float]) -> list[bool]:
    """Per level of one series: whether (dataset, kind, region, level) is in ``saturated``."""
    return [(dataset, kind, float(region), float(lv)) in saturated for lv in levels]


def privacy_thresholds(curves: pd.DataFrame, bound: float,
                       face_widths: Mapping[str, float | None] | None = None,
                       saturated: Collection[SaturatedKey] = ()) -> pd.DataFrame:
    """Privacy threshold per dataset x protocol x recognizer x mode x obfuscation x region.

    The threshold is ``metrics.privacy_threshold``: the weakest level whose AUC upper bound is
    <= ``bound``. If reached, the record carries that level's AUC interval and ``holds_above``
    (every stronger level tested is also at chance); if not, ``level`` is None and the AUC
    interval is that of the strongest level tested. ``status``, ``identifies_level`` and ``uniform_level``
    bracket it (:func:`bracket`); whether a level leaves the box uniform is ``families.uniform``, which for blur
    and pixelate needs ``face_widths`` (dataset -> median face-box width, px): without it they never count as
    uniform, so a series that does not reach the threshold reads ``grid_ends``. ``saturated`` holds the
    (dataset, obfuscation, region, level) at which the region fills the frame (``face_size.saturated_levels``).
    Levels also come per face width (``level_per_face``, ``max_level_per_face``) where ``curves`` has them.
    """
    face_widths = dict(face_widths or {})
    records = []
    keys = ["dataset", "protocol", "recognizer", "mode", "obfuscation", "region"]
    sharp = _sharp_aucs(curves)
    for key, frame in curves.groupby(keys, sort=True):
        frame = frame.sort_values("level")
        levels = frame["level"].astype(float).tolist()
        dataset, protocol, recognizer, mode, obfuscation, region = key
        if all(families.is_identity(obfuscation, lv) for lv in levels):
            continue  # only the unobfuscated image (render.baseline_only): a baseline, no threshold to find
        highs = [None if _missing(v) else float(v) for v in frame["auc_high"]]
        threshold = metrics.privacy_threshold(levels, highs, bound)
        max_level = max(levels)
        private = [hi is not None and hi <= bound for hi in highs]
        found = bracket(levels, private, _series_uniform(obfuscation, levels, face_widths.get(dataset), region),
                        threshold, series_saturated(saturated, dataset, obfuscation, region, levels))
        if threshold is not None:
            row = frame[frame["level"] == threshold].iloc[0]
            above = [hi for lv, hi in zip(levels, highs, strict=True) if lv >= threshold]
            holds = all(hi is not None and hi <= bound for hi in above)
        else:
            row = frame.iloc[-1]
            holds = False
        auc, low, high = (None if _missing(row[c]) else float(row[c]) for c in ("auc", "auc_low", "auc_high"))
        per_face = _per_face(row) if threshold is not None else None
        max_per_face = _per_face(frame.iloc[-1])
        seeds = {c: (None if c not in row.index or _missing(row[c]) else float(row[c])) for c in SEED_COLUMNS}
        n_seeds = int(seeds["n_seeds"] or 1)
        interval = "AUC n/a" if auc is None else f"AUC {auc:.3f} [{low:.3f}, {high:.3f}]"
        if auc is not None and n_seeds > 1:
            interval = (f"AUC {auc:.3f}, mean of {n_seeds} seeds ({seeds['auc_seed_min']:.3f}–"
                        f"{seeds['auc_seed_max']:.3f}), 95% intervals [{low:.3f}, {high:.3f}]")
        sharp_auc = sharp.get((dataset, protocol, recognizer, mode, float(region)))
        unobfuscated = ("not scored (no blur σ = 0 in this series and region)" if sharp_auc is None
                        else f"AUC {sharp_auc:.3f} (blur σ = 0, same recognizer, mode and region)")
        description = bracket_text(found, threshold, max_level, interval, unobfuscated)
        if threshold is not None and not holds:
            description += "; some stronger level is above the bound again"
        records.append({
            "dataset": dataset, "protocol": protocol, "recognizer": recognizer, "mode": mode,
            "series": series_name(recognizer, mode), "obfuscation": obfuscation, "region": float(region),
            "bound": float(bound),
            "reached": threshold is not None, "level": None if threshold is None else float(threshold),
            "level_per_face": per_face, "auc": auc, "auc_low": low, "auc_high": high, "holds_above": holds,
            "max_level_tested": float(max_level), "max_level_per_face": max_per_face, "n_levels": len(levels),
            "status": found.status, "identifies_level": found.identifies_level, "uniform_level": found.uniform_level,
            "saturated_level": found.saturated_level,
            **seeds, "n_seeds": n_seeds, "description": description,
        })
    return pd.DataFrame(records, columns=THRESHOLD_COLUMNS)


def _sharp_aucs(curves: pd.DataFrame) -> dict[tuple, float]:
    """(dataset, protocol, recognizer, mode, region) -> the AUC of the unobfuscated image there: the family's
    identity level that every family shares, blur σ = 0."""
    identity = families.FAMILIES["blur"].identity
    sharp = curves[(curves["obfuscation"] == "blur") & (curves["level"] == identity)]
    return {(r.dataset, r.protocol, r.recognizer, r.mode, float(r.region)): float(r.auc)
            for r in sharp.itertuples(index=False) if not _missing(r.auc)}


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

    Each level also comes per face width (``level_per_face``, ``flup.evaluate.face_size``) from
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

    first_replica: dict[str, int] = {}  # ROC curves of a replicated recogniser: its first seed's
    for name in frame["recognizer"].unique():
        base, replica_seed = replicas.split_name(name)
        if replica_seed is not None:
            first_replica[base] = min(first_replica.get(base, replica_seed), replica_seed)
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
            kept = group[group["status"] != "excluded"]
            points = roc_points(kept["score"].to_numpy(), kept["label"].to_numpy())
            if not points.empty:
                points.insert(0, "level", level)
                points.insert(0, "region", region)
                points.insert(0, "obfuscation", obfuscation)
                points.insert(0, "series", series)
                points.insert(0, "protocol", protocol)
                points.insert(0, "dataset", dataset)
                roc_parts.append(points)

    curves = pd.DataFrame(curve_rows, columns=[c for c in CURVE_COLUMNS if c not in SEED_COLUMNS])
    curves = replicas.fold_curves(curves, GROUP_KEYS, CURVE_METRICS)
    curves["series"] = [series_name(r, m) for r, m in zip(curves["recognizer"], curves["mode"], strict=True)]
    curves = curves.sort_values(GROUP_KEYS, kind="stable", ignore_index=True)[CURVE_COLUMNS]
    nested = replicas.fold_metrics(nested)
    for column in ["region", "level_per_face", *CURVE_METRICS, *SEED_COLUMNS]:
        curves[column] = pd.to_numeric(curves[column], errors="coerce").astype(np.float64)
    curves["n_pairs"] = curves["n_pairs"].astype(np.int64)
    curves["n_seeds"] = curves["n_seeds"].astype(np.int64)
    roc = pd.concat(roc_parts, ignore_index=True) if roc_parts else pd.DataFrame(columns=ROC_COLUMNS)
    thresholds = privacy_thresholds(curves, privacy_bound, face_widths, saturated)
    return nested, curves, roc, thresholds


def privacy_report(thresholds: pd.DataFrame, bound: float, relative: pd.DataFrame | None = None,
                   margin: float | None = None, face_widths: Mapping[str, float | None] | None = None) -> dict:
    """``metrics/privacy.json``: the bound, a compact summary and every threshold record.

    ``summary`` maps dataset -> protocol -> recognizer -> mode -> obfuscation -> region key (``region_key``) ->
    the threshold level, or the string "identifies even when uniform (max <level>)" (``uniform_still_identifies``)
    or "identifies even over the whole frame (max <level>)" (``saturated_still_identifies``) or "grid ends (max
    <level>)" (``grid_ends``); ``n_grid_ends`` counts the latter. With ``relative`` (the records of
    ``flup.evaluate.relative.relative_thresholds``) and its ``margin``, the relative threshold ("no more
    revealing than a black box") follows in the same shapes, under ``relative_*`` keys. ``face_widths``
    (dataset -> median face width, px) is recorded as the unit of the records' ``*_per_face`` levels.
    """
    summary: dict = {}
    for rec in thresholds.itertuples(index=False):
        node = summary
        for part in (rec.dataset, rec.protocol, rec.recognizer, rec.mode, rec.obfuscation):
            node = node.setdefault(part, {})
        node[region_key(rec.region)] = summary_value(rec.reached, rec.level, rec.status, rec.max_level_tested)
    reached = int(thresholds["reached"].sum()) if len(thresholds) else 0
    report = {
        "privacy_auc_upper": float(bound),
        "rule": "weakest level whose bootstrap 95% AUC upper bound is <= privacy_auc_upper",
        "status_rule": STATUS_RULE,
        "n_reached": reached,
        "n_not_reached": int(len(thresholds) - reached),
        "n_grid_ends": int((thresholds["status"] == GRID_ENDS).sum()) if len(thresholds) else 0,
        "summary": summary,
        "thresholds": thresholds.to_dict(orient="records"),
    }
    if face_widths is not None:
        report["face_width_px"] = dict(face_widths)
        report["per_face_rule"] = ("level_per_face: blur sigma and pixelate block / the dataset's median face-box "
                                   "width (face_width_px, the detected box at region 1.0); face_gaussian, "
                                   "face_pixelate: the level x the region; "
                                   "blackbox, deface: null")
    if relative is not None:
        report |= _relative_report(relative, float(margin))
    return _jsonable(report)


STATUS_RULE = ("status: bracketed (the threshold level is private and the tested level below it, "
               "identifies_level, is not) | private_at_weakest (the weakest tested level is private; below it only "
               "the unobfuscated image) | uniform_still_identifies (not reached, and the strongest level leaves the "
               f"box uniform: blur sigma >= {families.UNIFORM_AT['blur']}, pixelate block >= "
               f"{families.UNIFORM_AT['pixelate']} x the region-scaled box width, face_pixelate >= "
               f"{families.UNIFORM_AT['face_pixelate']}, face_gaussian >= {families.UNIFORM_AT['face_gaussian']}, "
               "blackbox always, deface never; stronger levels cannot hide more) | "
               "saturated_still_identifies (not reached, and the strongest level's region fills the frame of at "
               f"least {families.SATURATED_SHARE:.0%} of the obfuscated images: deface, whose level is a region; "
               "stronger levels render the same images) | grid_ends (not reached and the strongest level is "
               "neither: the grid stopped before the answer)")


def summary_value(reached, level, status: str, max_level: float) -> float | str:
    """A threshold in privacy.json's summaries: the level if reached, else why not ("grid ends (max 24)")."""
    if reached:
        return float(level)
    if status == UNIFORM_STILL_IDENTIFIES:
        return f"identifies even when uniform (max {level_key(max_level)})"
    if status == SATURATED_STILL_IDENTIFIES:
        return f"identifies even over the whole frame (max {level_key(max_level)})"
    return f"grid ends (max {level_key(max_level)})"


def grid_end_warnings(privacy: Mapping) -> list[str]:
    """One line per ``grid_ends`` record of ``privacy`` (absolute and relative), naming the series, family,
    region and strongest level, and what to extend."""
    lines = []
    for name, records in (("privacy threshold", privacy.get("thresholds", [])),
                          ("relative threshold", privacy.get("relative_thresholds", []))):
        for r in records:
            if r.get("status") == GRID_ENDS:
                limit = ("its region fills the frame" if families.family(r["obfuscation"]).region_level
                         else "the box is uniform")
                lines.append(f"{name} not bracketed: {r['dataset']}/{r['protocol']} {r['series']}, {r['obfuscation']} "
                             f"at region {level_key(r['region'])}: the grid ends at level "
                             f"{level_key(r['max_level_tested'])} before the threshold and before {limit}; extend "
                             f"render.obfuscations.{r['obfuscation']} in params.yaml")
    return lines


def _relative_report(relative: pd.DataFrame, margin: float) -> dict:
    summary: dict = {}
    for rec in relative.itertuples(index=False):
        node = summary
        for part in (rec.dataset, rec.protocol, rec.recognizer, rec.mode, rec.obfuscation):
            node = node.setdefault(part, {})
        region = region_key(rec.region)
        if rec.reached is None or _missing(rec.reached):
            node[region] = "no black box on these pairs"
        else:
            node[region] = summary_value(rec.reached, rec.level, rec.status, rec.max_level_tested)
    records = relative.astype(object).where(relative.notna(), None).to_dict(orient="records")
    return {
        "relative_margin": margin,
        "relative_rule": "weakest level whose paired bootstrap 95% interval of AUC(level) - AUC(black box, same "
                         "pairs, same region) has its upper end < relative_margin",
        "relative_n_reached": sum(r["reached"] is True for r in records),
        "relative_n_not_reached": sum(r["reached"] is False for r in records),
        "relative_n_grid_ends": sum(r["status"] == GRID_ENDS for r in records),
        "relative_summary": summary,
        "relative_thresholds": records,
    }


def _per_face(row) -> float | None:
    value = row.get("level_per_face")
    return None if _missing(value) else float(value)


def _missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value))


def _jsonable(value):
    """Convert numpy scalars to Python ones and NaN/inf to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
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
    return json.dumps(_jsonable(data), indent=2, allow_nan=False)


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


@dataclass
class StudyEvaluation:
    verification: dict  # metrics/verification.json
    privacy: dict  # metrics/privacy.json
    curves: pd.DataFrame  # plots/data/curves.csv
    roc: pd.DataFrame  # plots/data/roc.csv
    summary: str  # one line for the log


def evaluate_study(cfg: Study, folder: Path) -> StudyEvaluation:
    """Every score table of the study (see :func:`read_scores`) evaluated with params.yaml ``evaluate``, levels
    also per face width of each dataset's obfuscated images (``flup.evaluate.face_size``)."""
    settings = cfg.evaluate
    scores, files = read_scores(folder, list(cfg.datasets))
    faces = study_faces(cfg)
    widths = {name: median_face_width(table, table["image"]) for name, table in faces.items()}
    saturated = saturated_levels(faces, scores[["dataset", "obfuscation", "region", "level"]].drop_duplicates()
                                 .itertuples(index=False, name=None))

    def progress(groups, total):
        return tqdm(groups, total=total, desc="evaluate", unit="group")

    verification, curves, roc, thresholds = evaluate(
        scores, progress=progress, n_boot=settings.n_boot, seed=settings.seed,
        privacy_bound=settings.privacy_auc_upper, roc_levels=settings.roc_levels.as_dict(), face_widths=widths,
        saturated=saturated)
    from flup.evaluate import relative  # here: relative imports this module

    differences = relative.level_differences(validate_scores(scores), settings.n_boot, settings.seed)
    differences = replicas.fold_differences(differences, [*relative.SERIES_KEYS, "obfuscation", "level"])
    relative_thresholds = relative.relative_thresholds(differences, settings.relative_margin, widths,
                                                       saturated)
    relative_thresholds = with_level_per_face(relative_thresholds, widths)
    relative_thresholds = with_level_per_face(relative_thresholds, widths, "max_level_tested", "max_level_per_face")
    privacy = privacy_report(thresholds, settings.privacy_auc_upper, relative_thresholds, settings.relative_margin,
                             widths)
    counts = scores["status"].value_counts()
    roc_keys = ["dataset", "protocol", "series", "obfuscation", "region", "level"]
    roc_curves = roc.groupby(roc_keys).ngroups if len(roc) else 0
    summary = (f"{len(files)} score tables, {len(scores)} rows -> {len(curves)} groups, {roc_curves} ROC curves; "
               f"failures={int(counts.get('not_detected', 0))} excluded={int(counts.get('excluded', 0))}; "
               f"privacy threshold reached {int(thresholds['reached'].sum())}/{len(thresholds)}, "
               f"no more revealing than a black box {privacy['relative_n_reached']}/{len(relative_thresholds)}; "
               f"grid ends before the answer {privacy['n_grid_ends']} + {privacy['relative_n_grid_ends']}")
    return StudyEvaluation(verification, privacy, curves, roc, summary)
