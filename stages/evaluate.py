"""evaluate: data/scores/*.parquet -> metrics/verification.json, metrics/privacy.json, plots/data/*.csv.

The metrics are flup/evaluate/evaluation.py's.
"""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.config.paths import CURVES, PRIVACY, ROC, SCORES, VERIFICATION
from flup.evaluate.evaluation import evaluate_study, grid_end_warnings
from flup.io import write_json, write_table
from flup.log import get_logger


def main() -> None:
    log = get_logger("evaluate")
    start = time.monotonic()
    cfg = load_config()
    result = evaluate_study(cfg, SCORES)
    write_json(VERIFICATION, result.verification)
    write_json(PRIVACY, result.privacy)
    write_table(CURVES, result.curves)
    write_table(ROC, result.roc)
    for line in grid_end_warnings(result.privacy):  # a threshold the grid did not bracket: extend the grid
        log.warning(line)
    log.info("%s; %.1fs", result.summary, time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
