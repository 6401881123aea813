"""identify_attacker <name>: an adapter attacker cross-fitted per identity fold (each fold's adapter trained on the
other folds' people) ranks the probes from ArcFace's probe embeddings ->
data/identification/scores/<name>.parquet, its fold adapters -> data/identification/attackers/<name>/
(flup/pipeline/identify_attacker.py)."""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import IDENTIFICATION_ATTACKERS, IDENTIFICATION_EMBEDDINGS, IDENTIFICATION_SCORES
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.identify_attacker import identify_attacker


def main(name: str) -> None:
    log = get_logger(f"identify_attacker@{name}")
    started = time.monotonic()
    table = identify_attacker(load_config(), name, IDENTIFICATION_EMBEDDINGS, IDENTIFICATION_ATTACKERS / name)
    write_table(IDENTIFICATION_SCORES / f"{name}.parquet", table)
    log.info("%d probe outcomes; %.0f s", len(table), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.identify_attacker <name from params.yaml attackers>")
    run_stage(main, sys.argv[1])
