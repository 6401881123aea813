"""The absolute privacy threshold of every series: the weakest level at which the attacker is at chance.

Per dataset x protocol x recognizer x mode x obfuscation x region of the curves table
(``flup.evaluation.verification``), the weakest level whose bootstrap 95% AUC upper bound is <=
``evaluate.privacy_auc_upper`` (``flup.evaluation.thresholds.absolute_rule``), bracketed among the tested levels.

Pure: the curves table in, one record per series out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from flup.evaluation.replicas import SEED_COLUMNS
from flup.evaluation.series import SaturatedKey, missing, series_name, series_saturated, series_uniform
from flup.evaluation.thresholds import absolute_rule, bracket_text, search
from flup.obfuscation import families

THRESHOLD_COLUMNS = [
    "dataset", "protocol", "recognizer", "mode", "series", "obfuscation", "region", "bound", "reached", "level",
    "level_per_face", "auc", "auc_low", "auc_high", "holds_above", "max_level_tested", "max_level_per_face",
    "n_levels", "status", "identifies_level", "uniform_level", "saturated_level", *SEED_COLUMNS, "description",
]


def privacy_thresholds(curves: pd.DataFrame, bound: float,
                       face_widths: Mapping[str, float | None] | None = None,
                       saturated: Collection[SaturatedKey] = ()) -> pd.DataFrame:
    """Privacy threshold per dataset x protocol x recognizer x mode x obfuscation x region.

    The threshold is ``thresholds.privacy_threshold``: the weakest level whose AUC upper bound is
    <= ``bound``. If reached, the record carries that level's AUC interval and ``holds_above``
    (every stronger level tested is also at chance); if not, ``level`` is None and the AUC
    interval is that of the strongest level tested. ``status``, ``identifies_level`` and ``uniform_level``
    bracket it (``thresholds.bracket``); whether a level leaves the box uniform is ``families.uniform``, which for
    blur and pixelate needs ``face_widths`` (dataset -> median face-box width, px): without it they never count as
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
        highs = [None if missing(v) else float(v) for v in frame["auc_high"]]
        found = search(levels, highs, absolute_rule(bound),
                       series_uniform(obfuscation, levels, face_widths.get(dataset), region),
                       series_saturated(saturated, dataset, obfuscation, region, levels))
        row = frame[frame["level"] == found.threshold].iloc[0] if found.threshold is not None else frame.iloc[-1]
        records.append({
            "dataset": dataset, "protocol": protocol, "recognizer": recognizer, "mode": mode,
            "series": series_name(recognizer, mode), "obfuscation": obfuscation, "region": float(region),
            "bound": float(bound), **_record(row, frame, found, bound, sharp.get((*key[:4], float(region)))),
        })
    return pd.DataFrame(records, columns=THRESHOLD_COLUMNS)


def _record(row: pd.Series, frame: pd.DataFrame, found, bound: float, sharp_auc: float | None) -> dict:
    """A series' record from its threshold's row (or its strongest level's) and its ``search``."""
    threshold, levels = found.threshold, frame["level"].astype(float).tolist()
    max_level = max(levels)
    auc, low, high = (None if missing(row[c]) else float(row[c]) for c in ("auc", "auc_low", "auc_high"))
    seeds = {c: (None if c not in row.index or missing(row[c]) else float(row[c])) for c in SEED_COLUMNS}
    n_seeds = int(seeds["n_seeds"] or 1)
    interval = "AUC n/a" if auc is None else f"AUC {auc:.3f} [{low:.3f}, {high:.3f}]"
    if auc is not None and n_seeds > 1:
        interval = (f"AUC {auc:.3f}, mean of {n_seeds} seeds ({seeds['auc_seed_min']:.3f}–"
                    f"{seeds['auc_seed_max']:.3f}), 95% intervals [{low:.3f}, {high:.3f}]")
    unobfuscated = ("not scored (no blur σ = 0 in this series and region)" if sharp_auc is None
                    else f"AUC {sharp_auc:.3f} (blur σ = 0, same recognizer, mode and region)")
    description = bracket_text(found.bracket, threshold, max_level, interval, unobfuscated)
    if threshold is not None and not found.holds_above:
        description += "; some stronger level is above the bound again"
    return {
        "reached": threshold is not None, "level": None if threshold is None else float(threshold),
        "level_per_face": _per_face(row) if threshold is not None else None,
        "auc": auc, "auc_low": low, "auc_high": high, "holds_above": found.holds_above,
        "max_level_tested": float(max_level), "max_level_per_face": _per_face(frame.iloc[-1]),
        "n_levels": len(levels), "status": found.bracket.status, "identifies_level": found.bracket.identifies_level,
        "uniform_level": found.bracket.uniform_level, "saturated_level": found.bracket.saturated_level,
        **seeds, "n_seeds": n_seeds, "description": description,
    }


def _per_face(row) -> float | None:
    value = row.get("level_per_face")
    return None if missing(value) else float(value)


def _sharp_aucs(curves: pd.DataFrame) -> dict[tuple, float]:
    """(dataset, protocol, recognizer, mode, region) -> the AUC of the unobfuscated image there: the family's
    identity level that every family shares, blur σ = 0."""
    identity = families.FAMILIES["blur"].identity
    sharp = curves[(curves["obfuscation"] == "blur") & (curves["level"] == identity)]
    return {(r.dataset, r.protocol, r.recognizer, r.mode, float(r.region)): float(r.auc)
            for r in sharp.itertuples(index=False) if not missing(r.auc)}
