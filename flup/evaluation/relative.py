"""The relative privacy threshold: "no more revealing than a black box over the same region".

For each dataset x protocol x recognizer x mode x region x obfuscation, the weakest level whose paired bootstrap
95% interval of AUC(level) - AUC(black box over the same region) has its upper end below a small margin
(``evaluate.relative_margin``). Both AUCs are computed on the same pairs (those scored, not excluded, in
both groups), and each bootstrap replicate draws one resample of those pairs (same and different pairs
separately, as the AUC interval does) and uses it for both AUCs, so the interval is that of the
difference, not of two independent AUCs. Unlike the absolute threshold (AUC upper bound <= 0.55), this
one can be met where a black box itself is not at chance (the end-to-end attacker's detector, say).

The rule (upper end < margin), its bracket and its description are ``flup.evaluation.thresholds``'.

Pure: DataFrames in (``verification.validate_scores``' table), DataFrames and dicts out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from flup.evaluation.series import (
    SERIES_KEYS,
    SaturatedKey,
    missing,
    seed_key,
    series_name,
    series_saturated,
    series_uniform,
)
from flup.evaluation.thresholds import bracket_text, relative_rule, search
from flup.obfuscation import families
from flup.verify.metrics import bootstrap_draws, group_seed

REFERENCE = "blackbox"
RELATIVE_COLUMNS = [
    "dataset", "protocol", "recognizer", "mode", "series", "obfuscation", "region", "margin", "reached", "level",
    "auc_diff", "diff_low", "diff_high", "n_pairs", "holds_above", "max_level_tested", "n_levels",
    "reference_level", "status", "identifies_level", "uniform_level", "saturated_level", "description",
]


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray, c_pos: np.ndarray, c_neg: np.ndarray) -> np.ndarray:
    """The AUC (Mann-Whitney, ties one half) of each replicate, given its draw counts of each pair."""
    order = np.argsort(neg, kind="stable")
    sorted_neg = neg[order]
    lo = np.searchsorted(sorted_neg, pos, side="left")
    hi = np.searchsorted(sorted_neg, pos, side="right")
    cum = np.zeros((c_neg.shape[0], neg.size + 1))
    np.cumsum(c_neg[:, order], axis=1, out=cum[:, 1:])
    below = cum[:, lo]
    wins = below + 0.5 * (cum[:, hi] - below)
    return np.einsum("ij,ij->i", c_pos, wins) / (pos.size * neg.size)


def paired_auc_difference(
    scores: np.ndarray, reference: np.ndarray, labels: np.ndarray, n_boot: int = 1000, seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """(AUC(scores) - AUC(reference), low, high): the difference on these pairs and its percentile
    ``1 - alpha`` interval over a stratified bootstrap that resamples the pairs once for both AUCs.

    ``scores[i]`` and ``reference[i]`` belong to the same pair ``i`` with label ``labels[i]``.
    """
    a = np.asarray(scores, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    y = np.asarray(labels)
    if not (a.ndim == r.ndim == y.ndim == 1 and a.shape == r.shape == y.shape):
        raise ValueError(f"scores, reference and labels must be 1-D of equal length: {a.shape}, {r.shape}, {y.shape}")
    if not (np.isfinite(a).all() and np.isfinite(r).all()):
        raise ValueError("scores contain NaN or infinite values")
    same = y == 1
    if not same.any() or same.all():
        raise ValueError(f"need both same (1) and different (0) pairs; got {int(same.sum())} same of {y.size}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n1, n0 = int(same.sum()), int((~same).sum())
    ones = (np.ones((1, n1)), np.ones((1, n0)))
    point = (_auc_from_counts(a[same], a[~same], *ones) - _auc_from_counts(r[same], r[~same], *ones))[0]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for start, c_pos, c_neg in bootstrap_draws(rng, n_boot, n1, n0):
        diffs[start : start + c_pos.shape[0]] = (_auc_from_counts(a[same], a[~same], c_pos, c_neg)
                                    - _auc_from_counts(r[same], r[~same], c_pos, c_neg))
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(point), float(low), float(high)


def _kept(group: pd.DataFrame) -> pd.DataFrame:
    """Score and label per pair id of the pairs that count (excluded ones dropped; failures are already -1)."""
    rows = group[group["status"] != "excluded"]
    return rows.set_index("pair_id")[["score", "label"]]


def level_differences(frame: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per group of ``frame`` (a validated score table; black box groups excepted): the paired AUC difference
    to the black box of the same series (same region) and its interval (None where the series has no black box).
    Each level's bootstrap seed is ``group_seed(seed, seed_key(group key, region) + ("vs", "blackbox"))``: stable,
    and independent of the other groups present."""
    rows = []
    for series_key, series in frame.groupby(SERIES_KEYS, sort=True):
        boxes = series[series["obfuscation"] == REFERENCE]
        reference_level = float(boxes["level"].min()) if len(boxes) else None
        reference = _kept(boxes[boxes["level"] == reference_level]) if len(boxes) else None
        for (kind, level), group in series[series["obfuscation"] != REFERENCE].groupby(["obfuscation", "level"]):
            row = dict(zip(SERIES_KEYS, series_key, strict=True)) | {
                "obfuscation": kind, "level": float(level), "reference_level": reference_level,
                "auc_diff": None, "diff_low": None, "diff_high": None, "n_pairs": 0}
            if reference is not None:
                both = _kept(group).merge(reference, left_index=True, right_index=True, suffixes=("", "_ref"))
                row["n_pairs"] = len(both)
                labels = both["label"].to_numpy()
                if labels.size and 0 < labels.sum() < labels.size:
                    *attacker, region = series_key
                    key = (*seed_key((*attacker, kind, float(level)), region), "vs", REFERENCE)
                    diff, low, high = paired_auc_difference(
                        both["score"].to_numpy(), both["score_ref"].to_numpy(), labels, n_boot, group_seed(seed, key))
                    row |= {"auc_diff": diff, "diff_low": low, "diff_high": high}
            rows.append(row)
    return pd.DataFrame(rows, columns=[*SERIES_KEYS, "obfuscation", "level", "reference_level", "auc_diff",
                                       "diff_low", "diff_high", "n_pairs"])


def _interval(row) -> str:
    if missing(row["auc_diff"]):
        return "difference n/a"
    return f"AUC − black box {row['auc_diff']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]"


def relative_thresholds(differences: pd.DataFrame, margin: float,
                        face_widths: Mapping[str, float | None] | None = None,
                        saturated: Collection[SaturatedKey] = ()) -> pd.DataFrame:
    """One record per dataset x protocol x recognizer x mode x region x obfuscation of ``differences``
    (:func:`level_differences`): the relative threshold (``thresholds.relative_rule``), or None with the reason.
    ``status``, ``identifies_level`` and ``uniform_level`` bracket it as ``thresholds.bracket`` says (None without a
    black box); blur and pixelate levels count as uniform only with ``face_widths`` (dataset -> median face width,
    px), deface's as saturated only where ``saturated`` says (``face_size.saturated_levels``)."""
    face_widths = dict(face_widths or {})
    records = []
    sharp = {key[:-1]: row for key, row in _sharp_rows(differences).items()}
    for key, frame in differences.groupby([*SERIES_KEYS, "obfuscation"], sort=True):
        frame = frame.sort_values("level")
        levels = frame["level"].astype(float).tolist()
        highs = [None if missing(v) else float(v) for v in frame["diff_high"]]
        dataset, protocol, recognizer, mode, region, obfuscation = key
        reference_level = frame["reference_level"].iloc[0]
        found = None if missing(reference_level) else search(
            levels, highs, relative_rule(margin), series_uniform(obfuscation, levels, face_widths.get(dataset), region),
            series_saturated(saturated, dataset, obfuscation, region, levels))
        threshold = None if found is None else found.threshold
        row = frame[frame["level"] == threshold].iloc[0] if threshold is not None else frame.iloc[-1]
        records.append({
            "dataset": dataset, "protocol": protocol, "recognizer": recognizer, "mode": mode,
            "series": series_name(recognizer, mode), "obfuscation": obfuscation, "region": float(region),
            "margin": float(margin),
            "reached": None if found is None else threshold is not None,
            "level": None if threshold is None else float(threshold),
            **{c: None if found is None or missing(row[c]) else float(row[c])
               for c in ("auc_diff", "diff_low", "diff_high")},
            "n_pairs": int(row["n_pairs"]), "holds_above": found is not None and found.holds_above,
            "max_level_tested": float(levels[-1]), "n_levels": len(levels),
            "reference_level": None if found is None else float(reference_level),
            "status": None if found is None else found.bracket.status,
            "identifies_level": None if found is None else found.bracket.identifies_level,
            "uniform_level": None if found is None else found.bracket.uniform_level,
            "saturated_level": None if found is None else found.bracket.saturated_level,
            "description": _description(found, row, levels, sharp.get((dataset, protocol, recognizer, mode, region))),
        })
    return pd.DataFrame(records, columns=RELATIVE_COLUMNS)


def _description(found, row: pd.Series, levels: list[float], sharp: pd.Series | None) -> str:
    """A relative record's description: its bracket and interval (``sharp``: the series' blur σ = 0 row)."""
    if found is None:
        return "no black box scored on these pairs"
    unobfuscated = ("not scored (no blur σ = 0 in this series and region)" if sharp is None
                    else f"{_interval(sharp)} (blur σ = 0, same recognizer, mode and region)")
    description = bracket_text(found.bracket, found.threshold, levels[-1], _interval(row), unobfuscated)
    if found.threshold is not None and not found.holds_above:
        description += "; some stronger level is above the margin again"
    return description


def _sharp_rows(differences: pd.DataFrame) -> dict[tuple, pd.Series]:
    """(dataset, protocol, recognizer, mode, region, level) -> the blur σ = 0 row (the unobfuscated image)."""
    identity = families.FAMILIES["blur"].identity
    rows = differences[(differences["obfuscation"] == "blur") & (differences["level"] == identity)]
    return {(*(r[k] for k in SERIES_KEYS), float(r["level"])): r for _, r in rows.iterrows()}
