"""detect [dataset]: every image once through the face detector -> a detection table (flup/pipeline/detect.py).

LFW (no argument) -> data/faces/lfw.parquet; an evaluation-only dataset -> data/datasets/<name>/faces.parquet.
"""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import LFW, dataset_paths
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.detect import detect_dataset, summary


def main(name: str = LFW) -> None:
    log = get_logger("detect" if name == LFW else f"detect@{name}")
    cfg = load_config()
    started = time.monotonic()
    table = detect_dataset(cfg, name)
    write_table(dataset_paths(cfg, name).faces, table)
    elapsed = time.monotonic() - started
    log.info("%s; %.1f s (%.1f ms/img)", summary(table), elapsed, 1000 * elapsed / len(table))


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
