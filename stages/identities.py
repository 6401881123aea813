"""identities [dataset]: a dataset's people in identity folds; per fold a sharp gallery and obfuscation probes
(flup/pipeline/identities.py, flup/data/identification.py).

LFW (no argument) -> data/identification/protocol/, metrics/identification_protocol.json; an evaluation-only
dataset (identities_dataset@<name>) -> data/identification/datasets/<name>/protocol/ (its summary.csv is what
evaluate_identification reports).
"""

from __future__ import annotations

import sys
from pathlib import Path

from flup.config import load_config, run_stage
from flup.config.paths import LFW
from flup.io import write_json
from flup.log import get_logger
from flup.pipeline.identities import split_dataset_identities, split_identities

SUMMARY = Path("metrics/identification_protocol.json")


def main(name: str = LFW) -> None:
    log = get_logger("identities" if name == LFW else f"identities_dataset@{name}")
    cfg = load_config()
    if name == LFW:
        summary = split_identities(cfg)
        write_json(SUMMARY, summary)
    else:
        summary = split_dataset_identities(cfg, name)
    log.info("%d folds: %d people, %d targets (%d probes), %d distractors, %d without a detected face",
             summary["folds"], summary["people"], summary["targets"], summary["probes"], summary["distractors"],
             summary["undetected_people"])


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
