"""identities: LFW's people in identity folds; per fold a sharp gallery and obfuscation probes ->
data/identification/protocol/, metrics/identification_protocol.json (flup/data/identification.py)."""

from __future__ import annotations

from pathlib import Path

from flup.config import load_config, run_stage
from flup.io import write_json
from flup.log import get_logger
from flup.pipeline.identities import split_identities

SUMMARY = Path("metrics/identification_protocol.json")


def main() -> None:
    log = get_logger("identities")
    summary = split_identities(load_config())
    write_json(SUMMARY, summary)
    log.info("%d folds: %d people, %d targets (%d probes), %d distractors, %d without a detected face",
             summary["folds"], summary["people"], summary["targets"], summary["probes"], summary["distractors"],
             summary["undetected_people"])


if __name__ == "__main__":
    run_stage(main)
