"""identify_restored: a reverse-then-recognise attacker (each blurred or pixelated probe restored at its known setting,
then plain ArcFace) ranks the probes of ``identification`` against their folds' galleries ->
data/identification/scores/arcface_restored.parquet (flup/pipeline/identify_restored.py)."""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.config.paths import IDENTIFICATION_EMBEDDINGS, IDENTIFICATION_SCORES
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.identify_restored import NAME, identify_restored


def main() -> None:
    log = get_logger("identify_restored")
    started = time.monotonic()
    table = identify_restored(load_config(), IDENTIFICATION_EMBEDDINGS)
    write_table(IDENTIFICATION_SCORES / f"{NAME}.parquet", table)
    log.info("%d probe outcomes; %.0f s", len(table), time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main)
