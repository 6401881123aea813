"""What several stages read the same way: dataset paths, the detector, the scored test set, the gallery image.

LFW is the study's own dataset (fetched, with its protocols and training sets); every entry of
``datasets:`` in params.yaml is an evaluation-only dataset with one protocol, ``pairs``. Stages
that render and score take an optional dataset name and find everything through
:func:`dataset_paths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from flup.config import Study
from flup.config.params import ParamError
from flup.faces import detection as faces
from flup.faces import weights
from flup.io import read_json, read_table

FACES = Path("data/faces/lfw.parquet")
PROTOCOLS = Path("data/protocols")
ARCFACE_EMBEDDINGS = Path("data/embeddings/arcface.npz")  # score_arcface's embeddings, reused by adapter attackers
LFW = "lfw"
EVALUATION_PROTOCOL = "pairs"


@dataclass(frozen=True)
class DatasetPaths:
    name: str
    images: Path  # image root; image names in the tables are relative to it
    faces: Path  # detection table
    protocols: dict[str, Path]  # protocol -> pairs.csv
    render: Path
    scores: Path  # folder of this dataset's score tables


def dataset_paths(cfg: Study, name: str | None = None) -> DatasetPaths:
    """Where a dataset's images, detections, pairs, renders and scores live (``None`` = LFW)."""
    if name in (None, LFW):
        protocols = {p: PROTOCOLS / p / "pairs.csv" for p in cfg.render.protocols}
        return DatasetPaths(LFW, Path("data/raw/lfw/images"), FACES, protocols, Path("data/render"),
                            Path("data/scores"))
    entry = cfg.dataset(name)
    folder = Path("data/datasets") / name
    index = read_json(folder / "source" / "report.json") if (folder / "source" / "report.json").exists() else None
    images = Path(index["root"]) if index else Path(entry.root).expanduser()
    return DatasetPaths(name, images, folder / "faces.parquet",
                        {EVALUATION_PROTOCOL: folder / "source" / "pairs.csv"}, folder / "render",
                        Path("data/scores") / name)


# The default gallery image: the obfuscated side (render.obfuscated_side) of this protocol's first test pair.
GALLERY_PAIRS = PROTOCOLS / "view1" / "pairs.csv"


def build_detector(cfg: Study) -> faces.Detector:
    model = weights.resolve("detector", cfg.detector.model, cfg.models.root, cfg.detector.sha256)
    return faces.Detector(model, cfg.detector.det_size, cfg.detector.det_thresh)


@dataclass(frozen=True)
class TestSet:
    pairs: dict[str, pd.DataFrame]  # protocol -> pairs table
    sharp_side: str  # "a" or "b": the pair column that stays sharp
    faces: pd.DataFrame  # detections of the images with a face, indexed by image
    sharp_images: list[str]  # sharp-side images that can be embedded


def load_test_set(cfg: Study, paths: DatasetPaths) -> TestSet:
    obfuscated_side = cfg.render.obfuscated_side
    sharp_side = "a" if obfuscated_side == "b" else "b"
    pairs = {protocol: read_table(path) for protocol, path in paths.protocols.items()}
    detections = read_table(paths.faces).set_index("image")
    usable = detections[detections["status"] == "ok"]
    sharp_images = sorted({i for table in pairs.values() for i in table[f"image_{sharp_side}"]} & set(usable.index))
    return TestSet(pairs, sharp_side, usable, sharp_images)


def gallery_image(cfg: Study) -> str:
    if cfg.plot.gallery_image is not None:
        return cfg.plot.gallery_image
    side = cfg.render.obfuscated_side
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
