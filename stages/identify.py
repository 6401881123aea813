"""identify [dataset]: plain ArcFace ranks every probe, obfuscated under every condition of ``identification``,
against its fold's sharp gallery, and keeps the embeddings for the attackers (flup/pipeline/identify.py).

LFW (no argument) -> data/identification/scores/arcface.parquet and data/identification/arcface.npz; an
evaluation-only dataset (identify_dataset@<name>) -> the same under data/identification/datasets/<name>/.
"""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import LFW
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.identify import identify_arcface
from flup.pipeline.identities import identification_files


def main(name: str = LFW) -> None:
    log = get_logger("identify" if name == LFW else f"identify_dataset@{name}")
    started = time.monotonic()
    table = identify_arcface(load_config(), name)
    write_table(identification_files(name).scores / "arcface.parquet", table)
    log.info("%d probe outcomes; %.0f s", len(table), time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
