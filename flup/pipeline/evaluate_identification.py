"""The evaluate_identification stage's driver: every recogniser's probe outcomes
(data/identification/scores/<name>.parquet) -> the cells of metrics/identification.json and the flat table
plots/data/identification.csv (:mod:`flup.evaluation.identification_cells`).

Every evaluation-only dataset's outcomes (data/identification/datasets/<name>/scores/: plain ArcFace and the adapter
attackers, no restoration) get the same cells, under the file's ``datasets`` key, and rows of the table with their
``dataset`` column (LFW's rows: ``lfw``); LFW's part of the file keeps its keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import IDENTIFICATION_ATTACKERS, IDENTIFICATION_PROTOCOL, IDENTIFICATION_SCORES, LFW
from flup.evaluation.identification_cells import cell_rows, identification_cells
from flup.io import read_json, read_table
from flup.pipeline.identities import identification_files

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from flup.config import Study

ARCFACE = "arcface"
RESTORED = "arcface_restored"  # flup.pipeline.identify_restored.NAME (not imported: it would pull in the restorer)


def recognizer_kind(name: str) -> str:
    """plain ArcFace, the restoring attacker (reverse, then ArcFace) or a trained attacker."""
    return {ARCFACE: "arcface", RESTORED: "restoration"}.get(name, "attacker")


def outcome_tables(cfg: Study, folder: Path = IDENTIFICATION_SCORES,
                   names: Sequence[str] | None = None) -> pd.DataFrame:
    """The outcome tables of ``names`` (default: plain ArcFace, the restoring attacker and every trained attacker)
    in ``folder``, one frame with a ``recognizer`` column (an attacker that is not scored has no rows)."""
    tables = []
    for name in [ARCFACE, RESTORED, *cfg.attackers] if names is None else names:
        table = read_table(folder / f"{name}.parquet")
        if not table.empty:
            tables.append(table.assign(recognizer=name))
    return pd.concat(tables, ignore_index=True)


def cells_of(cfg: Study, table: pd.DataFrame, blackbox_from: Mapping[str, str] | None = None) -> list[dict]:
    """Every cell of an outcome table under ``identification``'s rule, each with its ``recognizer_kind``."""
    settings = cfg.identification
    cells = identification_cells(table, settings.n_boot, settings.random_seed, settings.privacy_auc_upper,
                                 settings.power, [settings.candidates], blackbox_from=blackbox_from)
    for cell in cells:
        cell["recognizer_kind"] = recognizer_kind(cell["recognizer"])
    return cells


def protocol_metrics(cfg: Study, protocol: Path) -> dict:
    """The protocol's counts, from the summary.csv an identities stage wrote into ``protocol``."""
    settings = cfg.identification
    summary = read_table(protocol / "summary.csv")
    return {"folds": int(settings.folds), "probes_per_identity": int(settings.probes_per_identity),
            "targets": int(summary["targets"].sum()), "distractors": int(summary["distractors"].sum()),
            "probes": int(summary["probes"].sum()), "per_fold": summary.to_dict(orient="records")}


def dataset_identification(cfg: Study, name: str) -> dict:
    """The evaluation-only dataset ``name``'s part of metrics/identification.json: its protocol, the attackers
    without rows (fine-tuned: only adapters are scored from ArcFace's embeddings) and its cells."""
    files = identification_files(name)
    unscored = [attacker for attacker in cfg.attackers if cfg.attacker(attacker).method != "adapter"]
    table = outcome_tables(cfg, files.scores, [ARCFACE, *(a for a in cfg.attackers if a not in unscored)])
    return {"protocol": protocol_metrics(cfg, files.protocol), "not_scored": unscored, "cells": cells_of(cfg, table)}


def evaluate_identification(cfg: Study, folder: Path = IDENTIFICATION_SCORES,
                            protocol: Path = IDENTIFICATION_PROTOCOL) -> tuple[dict, pd.DataFrame]:
    """metrics/identification.json's content and plots/data/identification.csv's rows: LFW's (its outcome tables
    in ``folder``, its protocol in ``protocol``) and every evaluation-only dataset's."""
    settings = cfg.identification
    cells = cells_of(cfg, outcome_tables(cfg, folder), blackbox_from={RESTORED: ARCFACE})
    not_scored = [name for name in cfg.attackers
                  if not read_json(IDENTIFICATION_ATTACKERS / name / "meta.json").get("scored", True)]
    datasets = {name: dataset_identification(cfg, name) for name in cfg.datasets}
    metrics = {
        "protocol": protocol_metrics(cfg, protocol),
        "rule": {"privacy_auc_upper": settings.privacy_auc_upper, "power": settings.power,
                 "candidates": settings.candidates, "n_boot": settings.n_boot, "chance_auc": 0.5},
        "not_cross_fitted": not_scored,
        "cells": cells,
        "datasets": datasets,
    }
    table = identification_table({LFW: cells, **{name: part["cells"] for name, part in datasets.items()}})
    return metrics, table


def identification_table(cells: Mapping[str, Sequence[dict]]) -> pd.DataFrame:
    """The flat table of every dataset's cells (:func:`cell_rows`), with ``dataset`` and ``recognizer_kind``
    columns first."""
    tables = []
    for name, found in cells.items():
        rows = cell_rows(found)
        if rows.empty:
            continue
        rows.insert(0, "dataset", name)
        rows.insert(2, "recognizer_kind", rows["recognizer"].map(recognizer_kind))
        tables.append(rows)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
