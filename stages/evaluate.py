"""evaluate: data/scores/*.parquet -> metrics/verification.json, metrics/privacy.json, plots/data/*.csv."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from flup.config import load_config, run_stage
from flup.evaluate import evaluation
from flup.io import read_table, write_json, write_table
from flup.log import get_logger

SCORES = Path("data/scores")
VERIFICATION = Path("metrics/verification.json")
PRIVACY = Path("metrics/privacy.json")
CURVES = Path("plots/data/curves.csv")
ROC = Path("plots/data/roc.csv")


def read_scores(folder: Path = SCORES, datasets: list[str] = ()) -> tuple[pd.DataFrame, list[Path]]:
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


def main() -> None:
    log = get_logger("evaluate")
    start = time.monotonic()
    cfg = load_config()
    options = {"n_boot": cfg.evaluate.n_boot, "seed": cfg.evaluate.seed,
               "privacy_bound": cfg.evaluate.privacy_auc_upper, "roc_levels": cfg.evaluate.roc_levels.as_dict()}
    scores, files = read_scores(SCORES, list(cfg.datasets))

    def progress(groups, total):
        return tqdm(groups, total=total, desc="evaluate", unit="group")

    verification, curves, roc, thresholds = evaluation.evaluate(scores, progress=progress, **options)
    write_json(VERIFICATION, verification)
    write_json(PRIVACY, evaluation.privacy_report(thresholds, options["privacy_bound"]))
    write_table(CURVES, curves)
    write_table(ROC, roc)

    counts = scores["status"].value_counts()
    log.info(
        "%d score tables, %d rows -> %d groups, %d ROC curves; failures=%d excluded=%d; "
        "privacy threshold reached %d/%d; %.1fs",
        len(files), len(scores), len(curves),
        roc.groupby(["dataset", "protocol", "series", "obfuscation", "level"]).ngroups if len(roc) else 0,
        int(counts.get("not_detected", 0)), int(counts.get("excluded", 0)),
        int(thresholds["reached"].sum()), len(thresholds), time.monotonic() - start,
    )


if __name__ == "__main__":
    run_stage(main)
