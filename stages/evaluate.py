"""evaluate: data/scores/*.parquet -> metrics/verification.json, metrics/privacy.json, plots/data/*.csv.

The driver is flup/pipeline/evaluate.py; the metrics are flup/evaluation/'s.
"""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.evaluation.privacy import grid_end_warnings
from flup.log import get_logger
from flup.pipeline import evaluate


def main() -> None:
    log = get_logger("evaluate")
    start = time.monotonic()
    result = evaluate.run(load_config())
    for line in grid_end_warnings(result.privacy):  # a threshold the grid did not bracket: extend the grid
        log.warning(line)
    log.info("%s; %.1fs", result.summary, time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
