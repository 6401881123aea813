"""What several stages read the same way: the detector from params, the scored test set, the gallery image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flup import faces, weights
from flup.io import read_table
from flup.params import ParamError, choice, get

FACES = Path("data/faces/lfw.parquet")
PROTOCOLS = Path("data/protocols")
# The default gallery image: the obfuscated side (render.obfuscated_side) of this protocol's first test pair.
GALLERY_PAIRS = PROTOCOLS / "view1" / "pairs.csv"


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


def gallery_image(params: dict) -> str:
    name = get(params, "plot.gallery_image", None)
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ParamError(
                f"params.yaml: 'plot.gallery_image' must be an image name like 'Name/Name_0001.jpg' or null, "
                f"got {name!r}"
            )
        return name
    side = choice(params, "render.obfuscated_side", ("a", "b"), "b")
    pairs = read_table(GALLERY_PAIRS)
    if pairs.empty:
        raise ValueError(f"{GALLERY_PAIRS}: no pairs; set plot.gallery_image in params.yaml")
    return str(pairs.iloc[0][f"image_{side}"])


def face_box(faces: pd.DataFrame, image: str) -> tuple[float, float, float, float]:
    rows = faces[faces["image"] == image]
    if rows.empty:
        raise ParamError(f"params.yaml: 'plot.gallery_image' {image!r} is not in {FACES}")
    row = rows.iloc[0]
    if row["status"] != "ok":
        raise ValueError(
            f"{image}: no face box (detection status {row['status']!r}); choose another plot.gallery_image"
        )
    return tuple(float(row[c]) for c in ("x1", "y1", "x2", "y2"))
