"""Identification metrics and verdicts per cell, from the probes' outcome tables
(:mod:`flup.evaluation.probe_outcomes`).

A **cell** is one recogniser x threat model x family x region; its **levels** are the family's tested levels there.
At each level every metric of :func:`flup.evaluation.identification.identification_summary` is the identity-weighted
mean over every fold's probes (each probe ranked in its own fold), with an identity-cluster bootstrap interval;
the **difference to the black box** is the paired per-probe difference of the normalised rank against the black
box over the same region (same recogniser, threat model and probes). The cell's verdicts follow the monotone rule
(:mod:`flup.evaluation.verdicts`): absolute (upper end of the AUC at most the bound) and relative (upper end of the
difference below a margin from a power calculation). The unobfuscated level (blur 0) is reported but never judged:
it is the bracket's lower end.

With several training replicas (``train_seed``) each replica is summarised alone and every level shows the replica
that identifies best there (the worst case for privacy), so a verdict holds for every replica.

Pure: tables in, plain dicts (JSON-ready) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from flup.data.identification import seeded_key
from flup.evaluation.balanced_verification import influence_values
from flup.evaluation.cluster_bootstrap import Interval, cluster_bootstrap_columns, paired_cluster_bootstrap
from flup.evaluation.probe_outcomes import outcomes_of
from flup.evaluation.verdicts import Verdict, absolute_verdict, relative_verdict
from flup.obfuscation import families

BLACKBOX = "blackbox"
CELL_KEYS = ["recognizer", "mode", "obfuscation", "region"]
# (name, k, N): rank-k among N candidates drawn from the fold's other targets; N None: all of them
RANKS: tuple[tuple[str, int, int | None], ...] = (
    ("rank1@10", 1, 10), ("rank5@10", 5, 10), ("rank1@100", 1, 100), ("rank5@100", 5, 100), ("rank1@all", 1, None))


def _seed(seed: int, *key: object) -> int:
    return seeded_key(seed, *key) % (2**32)


def probe_values(rows: pd.DataFrame, candidates: Sequence[int] = ()) -> tuple[dict[str, np.ndarray], dict]:
    """Per probe of ``rows`` (one level's outcome rows, any folds), in row order: the normalised rank (``auc``),
    each rank of :data:`RANKS`, rank-1 among each of ``candidates``, rank-1 over the whole gallery and detected;
    and each metric's chance (a mean over probes where it differs by fold). A rank whose N exceeds some fold's
    target identities is left out."""
    wanted = [*RANKS, *((f"rank1@{n}", 1, n) for n in candidates if f"rank1@{n}" not in {r[0] for r in RANKS})]
    parts: dict[str, list[np.ndarray]] = {"auc": [], "rank1@gallery": [], "detected": []}
    chance: dict[str, list[np.ndarray]] = {"auc": [], "rank1@gallery": []}
    order = []
    smallest = int(rows["n_targets"].min())
    ranks = [(name, k, n) for name, k, n in wanted if n is None or n <= smallest]
    for name, _, _ in ranks:
        parts[name], chance[name] = [], []
    for _, fold_rows in rows.groupby("fold", sort=True):
        outcome = outcomes_of(fold_rows)
        order.append(fold_rows.index.to_numpy())
        size = outcome.n_probes
        parts["auc"].append(outcome.normalised_rank)
        chance["auc"].append(np.full(size, 0.5))
        for name, k, n in ranks:
            parts[name].append(outcome.rank_probability(k, n))
            chance[name].append(np.full(size, k / (outcome.n_targets if n is None else n)))
        parts["rank1@gallery"].append(outcome.gallery_rank_probability(1))
        chance["rank1@gallery"].append(np.full(size, 1 / outcome.n_gallery))
        parts["detected"].append((~outcome.missed).astype(np.float64))
    position = np.argsort(np.concatenate(order), kind="stable")
    values = {name: np.concatenate(p)[position] for name, p in parts.items()}
    weights = rows["weight"].to_numpy(dtype=np.float64)
    chances = {name: round(float(np.average(np.concatenate(c)[position], weights=weights)), 9)
               for name, c in chance.items()}
    return values, chances


def interval_dict(interval: Interval | None) -> dict | None:
    if interval is None:
        return None
    return {k: (round(float(v), 6) if isinstance(v, float) else v) for k, v in asdict(interval).items()}


def level_summary(rows: pd.DataFrame, n_boot: int, seed: int, candidates: Sequence[int] = ()) -> tuple[dict, dict]:
    """One level's metrics (name -> interval and chance) and its per-probe values (for the paired differences).
    Rows with pair scores (``matched``, ``mismatched``) add ``verification_auc``: the balanced verification view
    (:mod:`flup.evaluation.balanced_verification`), every pair weighing the same, from the same resampled people."""
    values, chances = probe_values(rows, candidates)
    names = list(values)
    identities = rows["identity"].to_numpy(dtype=str)
    intervals = cluster_bootstrap_columns(np.stack([values[n] for n in names], axis=1), identities,
                                          rows["weight"].to_numpy(dtype=np.float64), n_boot, seed)
    metrics = {name: {**interval_dict(interval), "chance": chances.get(name)}
               for name, interval in zip(names, intervals, strict=True)}
    if {"matched", "mismatched"} <= set(rows.columns):
        influence = influence_values(rows["matched"].to_numpy(dtype=np.float64),
                                     rows["mismatched"].to_numpy(dtype=np.float64))
        (interval,) = cluster_bootstrap_columns(influence[:, None], identities, None, n_boot, seed)
        metrics["verification_auc"] = {**interval_dict(_clipped(interval)), "chance": 0.5}
    return metrics, values


def _clipped(interval: Interval) -> Interval:
    """An AUC's interval held to [0, 1] (the influence values' mean is exact, their bootstrap ends need not be)."""
    return replace(interval, low=min(max(interval.low, 0.0), 1.0), high=min(max(interval.high, 0.0), 1.0))


def verdict_dict(verdict: Verdict | None) -> dict | None:
    if verdict is None:
        return None
    result = asdict(verdict)
    result["deciding_interval"] = interval_dict(verdict.deciding_interval)
    return result


def _as_interval(metric: dict) -> Interval:
    return Interval(metric["estimate"], metric["low"], metric["high"], metric["se"], metric["n_clusters"],
                    metric.get("confidence", 0.95))


def blackbox_ranks(table: pd.DataFrame) -> dict[tuple, pd.Series]:
    """Per (recognizer, mode, region, train_seed): the black box's normalised rank of each probe (by probe_id),
    computed once for every family it is paired with."""
    ranks = {}
    for key, rows in table[table["obfuscation"] == BLACKBOX].groupby(
            ["recognizer", "mode", "region", "train_seed"], sort=False):
        rows = rows.reset_index(drop=True)
        values, _ = probe_values(rows)
        ranks[key] = pd.Series(values["auc"], index=rows["probe_id"].to_numpy())
    return ranks


def replica_cell(rows: pd.DataFrame, reference: pd.Series | None, n_boot: int, seed: int, key: tuple,
                 candidates: Sequence[int] = ()) -> list[dict]:
    """Every level of one replica's cell, ascending: its metrics and, given the black box's normalised rank per
    probe over the same region (:func:`blackbox_ranks`), the paired difference."""
    levels = []
    for level, level_rows in rows.groupby("level", sort=True):
        level_rows = level_rows.reset_index(drop=True)
        level_seed = _seed(seed, *key, level)
        metrics, values = level_summary(level_rows, n_boot, level_seed, candidates)
        entry = {"level": float(level), "n_probes": int(len(level_rows)),
                 "n_identities": int(level_rows["identity"].nunique()), "metrics": metrics, "vs_blackbox": None}
        if reference is not None:
            paired = reference.reindex(level_rows["probe_id"]).to_numpy()
            if np.isnan(paired).any():
                raise ValueError(f"{key} level {level:g}: probes without a black-box outcome")
            entry["vs_blackbox"] = interval_dict(paired_cluster_bootstrap(
                values["auc"], paired, level_rows["identity"].to_numpy(dtype=str),
                level_rows["weight"].to_numpy(dtype=np.float64), n_boot, level_seed))
        levels.append(entry)
    return levels


def worst_replica(replicas: dict[int, list[dict]]) -> list[dict]:
    """Per level, the replica whose AUC estimate is highest (it identifies best), with its seed."""
    by_level: dict[float, dict] = {}
    for train_seed, levels in sorted(replicas.items()):
        for entry in levels:
            best = by_level.get(entry["level"])
            if best is None or entry["metrics"]["auc"]["estimate"] > best["metrics"]["auc"]["estimate"]:
                by_level[entry["level"]] = {**entry, "train_seed": train_seed}
    return [by_level[level] for level in sorted(by_level)]


def judge(levels: list[dict], bound: float, power: float) -> tuple[dict | None, dict | None]:
    """The absolute and relative verdicts of a cell's levels (the unobfuscated level left out)."""
    judged = [entry for entry in levels if not (entry["obfuscation"] in families.FAMILIES  # an audit: a pseudo-family
                                                and families.is_identity(entry["obfuscation"], entry["level"]))]
    if not judged:
        return None, None
    steps = [entry["level"] for entry in judged]
    absolute = absolute_verdict(steps, [_as_interval(e["metrics"]["auc"]) for e in judged], bound)
    relative = None
    if all(e["vs_blackbox"] is not None for e in judged):
        relative = relative_verdict(steps, [_as_interval(e["vs_blackbox"]) for e in judged], power)
    return verdict_dict(absolute), verdict_dict(relative)


def identification_cells(table: pd.DataFrame, n_boot: int, seed: int, bound: float, power: float,
                         candidates: Sequence[int] = (), blackbox_from: Mapping[str, str] | None = None) -> list[dict]:
    """Every cell of an outcome table (columns OUTCOME_COLUMNS plus ``recognizer``, optionally ``train_seed``):
    its levels' metrics and its two verdicts. ``blackbox_from``: the recogniser whose black-box rows stand as the
    reference of one that has none (a restoring attacker has nothing to restore in a black box: it is plain
    ArcFace there)."""
    # plain ArcFace has no training replicas: its rows (NaN where concatenated with an attacker's) are replica -1
    seeds = table["train_seed"] if "train_seed" in table.columns else pd.Series(-1, index=table.index)
    table = table.assign(train_seed=seeds.fillna(-1).astype(np.int64))
    references = blackbox_ranks(table)
    cells = []
    for key, rows in table.groupby(CELL_KEYS, sort=False):
        recognizer, mode, kind, region = key
        replicas = {}
        for train_seed, replica_rows in rows.groupby("train_seed", sort=True):
            reference = None
            if kind != BLACKBOX:
                paired_with = (blackbox_from or {}).get(recognizer, recognizer)
                reference = references.get((paired_with, mode, region, train_seed))
            levels = replica_cell(replica_rows, reference, n_boot, seed, (*key, int(train_seed)), candidates)
            for entry in levels:
                entry["obfuscation"] = kind
            replicas[int(train_seed)] = levels
        levels = worst_replica(replicas) if len(replicas) > 1 else next(iter(replicas.values()))
        absolute, relative = judge(levels, bound, power)
        for entry in levels:
            entry.pop("obfuscation")
        cells.append({"recognizer": recognizer, "mode": mode, "obfuscation": kind, "region": float(region),
                      "replicas": sorted(s for s in replicas if s >= 0), "levels": levels,
                      "absolute": absolute, "relative": relative})
    return cells


def cell_rows(cells: Iterable[dict]) -> pd.DataFrame:
    """A flat table of the cells' levels: the figures' and a spreadsheet's view of metrics/identification.json."""
    rows = []
    for cell in cells:
        for entry in cell["levels"]:
            row = {k: cell[k] for k in CELL_KEYS}
            row.update(level=entry["level"], n_probes=entry["n_probes"], n_identities=entry["n_identities"])
            for name, metric in entry["metrics"].items():
                row[name] = metric["estimate"]
                row[f"{name}_low"], row[f"{name}_high"] = metric["low"], metric["high"]
                if metric.get("chance") is not None:
                    row[f"{name}_chance"] = metric["chance"]
            difference = entry["vs_blackbox"]
            row["vs_blackbox"] = None if difference is None else difference["estimate"]
            rows.append(row)
    return pd.DataFrame(rows)
