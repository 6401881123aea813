"""ingest@<dataset>: index an evaluation-only dataset and draw its test pairs -> data/datasets/<dataset>/source/.

Readers and pairs: flup/data/datasets.py.
"""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import DATASETS
from flup.data.datasets import ingest
from flup.log import get_logger


def main(name: str) -> None:
    log = get_logger(f"ingest@{name}")
    cfg = load_config()
    entry = cfg.dataset(name)
    started = time.monotonic()
    summary = ingest(entry.model_dump(), DATASETS / name / "source", log, key=f"datasets.{name}",
                     max_image_pixels=cfg.data.max_image_pixels)
    log.info("%s: %s, %d identities; %d same + %d different pairs (%d people); %d problems; %.1f s", name,
             summary["coverage"], summary["identities"], summary["same_pairs"], summary["different_pairs"],
             summary["test_people"], summary["problems"], time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.ingest <name from params.yaml datasets>")
    run_stage(main, sys.argv[1])
