"""One logging setup for every stage: ``stage | message`` lines on stderr."""

from __future__ import annotations

import logging


def get_logger(stage: str) -> logging.Logger:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s | %(message)s", datefmt="%H:%M:%S")
    for noisy in ("onnxruntime", "insightface"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(stage)
