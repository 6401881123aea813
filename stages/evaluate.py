"""evaluate: data/scores/*.parquet -> metrics/verification.json, metrics/privacy.json, plots/data/*.csv."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from flup.config.params import ParamError, get, load_params
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


def read_evaluate_params(params: dict) -> dict:
    n_boot = get(params, "evaluate.n_boot")
    if not isinstance(n_boot, int) or isinstance(n_boot, bool) or n_boot < 1:
        raise ParamError(f"params.yaml: 'evaluate.n_boot' must be an integer >= 1, got {n_boot!r}")
    seed = get(params, "evaluate.seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ParamError(f"params.yaml: 'evaluate.seed' must be an integer >= 0, got {seed!r}")
    bound = get(params, "evaluate.privacy_auc_upper")
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not 0.5 <= bound <= 1:
        raise ParamError(f"params.yaml: 'evaluate.privacy_auc_upper' must be a number in [0.5, 1], got {bound!r}")
    roc_levels = get(params, "evaluate.roc_levels")
    if not isinstance(roc_levels, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        for v in roc_levels.values()
    ):
        raise ParamError(
            "params.yaml: 'evaluate.roc_levels' must map each obfuscation to a list of levels, "
            f"got {roc_levels!r}"
        )
    return {"n_boot": n_boot, "seed": seed, "privacy_bound": float(bound), "roc_levels": roc_levels}


def main() -> None:
    log = get_logger("evaluate")
    start = time.monotonic()
    params = load_params()
    options = read_evaluate_params(params)
    scores, files = read_scores(SCORES, list(get(params, "datasets", {}) or {}))

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
    main()
