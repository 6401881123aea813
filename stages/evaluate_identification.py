"""evaluate_identification: every recogniser's probe outcomes -> metrics/identification.json (per cell: each level's
identification AUC, rank-k among N beside chance, detection rate, the paired difference to the black box, all with
identity-cluster bootstrap intervals; the absolute and relative verdicts) and plots/data/identification.csv
(flup/pipeline/evaluate_identification.py)."""

from __future__ import annotations

from collections import Counter

from flup.config import load_config, run_stage
from flup.config.paths import IDENTIFICATION_METRICS, IDENTIFICATION_TABLE
from flup.io import write_json, write_table
from flup.log import get_logger
from flup.pipeline.evaluate_identification import evaluate_identification


def main() -> None:
    log = get_logger("evaluate_identification")
    metrics, table = evaluate_identification(load_config())
    write_json(IDENTIFICATION_METRICS, metrics)
    write_table(IDENTIFICATION_TABLE, table)
    verdicts = Counter(cell["absolute"]["status"] for cell in metrics["cells"] if cell["absolute"])
    log.info("%d cells: %s", len(metrics["cells"]), ", ".join(f"{k}={v}" for k, v in sorted(verdicts.items())))


if __name__ == "__main__":
    run_stage(main)
