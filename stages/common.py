"""What several stages read the same way: the detector from params, and the scored test set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flup import faces, weights
from flup.io import read_table
from flup.params import choice, get

FACES = Path("data/faces/lfw.parquet")
PROTOCOLS = Path("data/protocols")


def build_detector(params: dict) -> faces.Detector:
    model = weights.resolve("detector", get(params, "detector.model"), get(params, "models.root"),
                            get(params, "detector.sha256", None))
    return faces.Detector(model, int(get(params, "detector.det_size")), float(get(params, "detector.det_thresh")))


@dataclass(frozen=True)
class TestSet:
    pairs: dict[str, pd.DataFrame]  # protocol -> pairs table
    sharp_side: str  # "a" or "b": the pair column that stays sharp
    faces: pd.DataFrame  # detections of the images with a face, indexed by image
    sharp_images: list[str]  # sharp-side images that can be embedded


def load_test_set(params: dict) -> TestSet:
    obfuscated_side = choice(params, "render.obfuscated_side", ("a", "b"))
    sharp_side = "a" if obfuscated_side == "b" else "b"
    pairs = {p: read_table(PROTOCOLS / p / "pairs.csv") for p in get(params, "render.protocols")}
    detections = read_table(FACES).set_index("image")
    usable = detections[detections["status"] == "ok"]
    sharp_images = sorted({i for table in pairs.values() for i in table[f"image_{sharp_side}"]} & set(usable.index))
    return TestSet(pairs, sharp_side, usable, sharp_images)
