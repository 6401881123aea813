"""The evaluate_identification stage's driver: every recogniser's probe outcomes
(data/identification/scores/<name>.parquet) -> the cells of metrics/identification.json and the flat table
plots/data/identification.csv (:mod:`flup.evaluation.identification_cells`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import IDENTIFICATION_ATTACKERS, IDENTIFICATION_PROTOCOL, IDENTIFICATION_SCORES
from flup.evaluation.identification_cells import cell_rows, identification_cells
from flup.io import read_json, read_table

if TYPE_CHECKING:
    from flup.config import Study

ARCFACE = "arcface"
RESTORED = "arcface_restored"  # flup.pipeline.identify_restored.NAME (not imported: it would pull in the restorer)


def recognizer_kind(name: str) -> str:
    """plain ArcFace, the restoring attacker (reverse, then ArcFace) or a trained attacker."""
    return {ARCFACE: "arcface", RESTORED: "restoration"}.get(name, "attacker")


def outcome_tables(cfg: Study, folder: Path = IDENTIFICATION_SCORES) -> pd.DataFrame:
    """Plain ArcFace's, the restoring attacker's and every trained attacker's outcome table, one frame with a
    ``recognizer`` column (an attacker that is not cross-fitted has no rows)."""
    tables = []
    for name in [ARCFACE, RESTORED, *cfg.attackers]:
        table = read_table(folder / f"{name}.parquet")
        if not table.empty:
            tables.append(table.assign(recognizer=name))
    return pd.concat(tables, ignore_index=True)


def evaluate_identification(cfg: Study, folder: Path = IDENTIFICATION_SCORES,
                            protocol: Path = IDENTIFICATION_PROTOCOL) -> tuple[dict, pd.DataFrame]:
    """metrics/identification.json's content and plots/data/identification.csv's rows."""
    settings = cfg.identification
    cells = identification_cells(outcome_tables(cfg, folder), settings.n_boot, settings.random_seed,
                                 settings.privacy_auc_upper, settings.power, [settings.candidates],
                                 blackbox_from={RESTORED: ARCFACE})
    for cell in cells:
        cell["recognizer_kind"] = recognizer_kind(cell["recognizer"])
    not_scored = [name for name in cfg.attackers
                  if not read_json(IDENTIFICATION_ATTACKERS / name / "meta.json").get("scored", True)]
    summary = read_table(protocol / "summary.csv")
    metrics = {
        "protocol": {"folds": int(settings.folds), "probes_per_identity": int(settings.probes_per_identity),
                     "targets": int(summary["targets"].sum()), "distractors": int(summary["distractors"].sum()),
                     "probes": int(summary["probes"].sum()), "per_fold": summary.to_dict(orient="records")},
        "rule": {"privacy_auc_upper": settings.privacy_auc_upper, "power": settings.power,
                 "candidates": settings.candidates, "n_boot": settings.n_boot, "chance_auc": 0.5},
        "not_cross_fitted": not_scored,
        "cells": cells,
    }
    table = cell_rows(cells)
    table.insert(1, "recognizer_kind", table["recognizer"].map(recognizer_kind))
    return metrics, table
