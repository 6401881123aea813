"""A dataset's scored test set: its protocols' pairs and the detections of their images."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from flup.data.paths import DatasetPaths
from flup.io import read_table


@dataclass(frozen=True)
class TestSet:
    pairs: dict[str, pd.DataFrame]  # protocol -> pairs table
    sharp_side: str  # "a" or "b": the pair column that stays sharp
    faces: pd.DataFrame  # detections of the images with a face, indexed by image
    sharp_images: list[str]  # sharp-side images that can be embedded


def load_test_set(paths: DatasetPaths, obfuscated_side: str) -> TestSet:
    """The pairs of every protocol in ``paths`` whose ``obfuscated_side`` (render.obfuscated_side) is rendered."""
    sharp_side = "a" if obfuscated_side == "b" else "b"
    pairs = {protocol: read_table(path) for protocol, path in paths.protocols.items()}
    detections = read_table(paths.faces).set_index("image")
    usable = detections[detections["status"] == "ok"]
    sharp_images = sorted({i for table in pairs.values() for i in table[f"image_{sharp_side}"]} & set(usable.index))
    return TestSet(pairs, sharp_side, usable, sharp_images)
