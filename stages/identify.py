"""identify: plain ArcFace ranks every probe, obfuscated under every condition of ``identification``, against its
fold's sharp gallery -> data/identification/scores/arcface.parquet, and keeps the embeddings for the attackers ->
data/identification/arcface.npz (flup/pipeline/identify.py)."""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.config.paths import IDENTIFICATION_EMBEDDINGS, IDENTIFICATION_SCORES
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.identify import identify_arcface


def main() -> None:
    log = get_logger("identify")
    started = time.monotonic()
    table = identify_arcface(load_config(), IDENTIFICATION_EMBEDDINGS)
    write_table(IDENTIFICATION_SCORES / "arcface.parquet", table)
    log.info("%d probe outcomes; %.0f s", len(table), time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main)
