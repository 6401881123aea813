"""Where the study keeps its files, relative to the repository root (as dvc.yaml names them).

LFW is the study's own dataset (fetched, with its protocols and training sets); every entry of
``datasets:`` in params.yaml is an evaluation-only dataset with one protocol, ``pairs``. Stages that
detect, render and score take an optional dataset name and find everything through :func:`dataset_paths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flup.io import read_json

if TYPE_CHECKING:
    from flup.config import Study

LFW = "lfw"
VALIDATED = Path("data/validated")  # stage validate's token: every stage depends on it (stages/validate.py)
EVALUATION_PROTOCOL = "pairs"  # an evaluation-only dataset's one protocol
LFW_RAW = Path("data/raw/lfw")
LFW_IMAGES = LFW_RAW / "images"
LFW_FACES = Path("data/faces/lfw.parquet")
PROTOCOLS = Path("data/protocols")
DATASETS = Path("data/datasets")
SCORES = Path("data/scores")
ARCFACE_EMBEDDINGS = Path("data/embeddings/arcface.npz")  # score_arcface's embeddings, reused by adapter attackers
MODELS = Path("data/models")
CHECKPOINTS = Path("data/checkpoints")
ATTACKERS = Path("data/attackers")
VERIFICATION = Path("metrics/verification.json")
PRIVACY = Path("metrics/privacy.json")
CURVES = Path("plots/data/curves.csv")  # the evaluate stage's tables, drawn by the plot stage
ROC = Path("plots/data/roc.csv")
LEARNING_CURVE = Path("metrics/learning_curve.json")  # stage learning_curve (flup/attack/learning_curve.py)
LEARNING_CURVE_TABLE = Path("plots/data/learning_curve.csv")  # its rows, drawn by the plot stage as:
LEARNING_CURVE_FIGURE = Path("plots/learning_curve.png")
PLOTS = Path("plots")
IDENTIFICATION = Path("data/identification")  # the identification protocol and its scores (docs/design.md)
IDENTIFICATION_PROTOCOL = IDENTIFICATION / "protocol"  # folds.csv, gallery.csv, probes.csv, summary.csv
IDENTIFICATION_EMBEDDINGS = IDENTIFICATION / "arcface.npz"  # gallery and probes under every condition (ArcFace)
IDENTIFICATION_SCORES = IDENTIFICATION / "scores"  # <recogniser>.parquet: per probe x condition rank counts
IDENTIFICATION_ATTACKERS = IDENTIFICATION / "attackers"  # <attacker>/seed<k>/fold<f>.safetensors (cross-fitted)
IDENTIFICATION_METRICS = Path("metrics/identification.json")
IDENTIFICATION_TABLE = Path("plots/data/identification.csv")
AUDITS_DATA = Path("data/audits")  # <audit>/redacted/ (the tool's photos, cached per photo), <audit>/manifest.csv
AUDITS = Path("audits")  # <audit>/audit.json, audit.html, missed_faces/ (docs/audit.md)
# The default gallery image: the obfuscated side (render.obfuscated_side) of this protocol's first test pair.
GALLERY_PAIRS = PROTOCOLS / "view1" / "pairs.csv"


def replica(folder: Path, seed: int) -> Path:
    """One training replica's folder under a trained recogniser's (``data/models/<name>``, ``data/attackers/<name>``,
    ``data/checkpoints/<name>``): ``seed<seed>``, one per entry of ``train.seeds`` / ``attack.seeds``."""
    return folder / f"seed{int(seed)}"


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
        return DatasetPaths(LFW, LFW_IMAGES, LFW_FACES, protocols, Path("data/render"), SCORES)
    entry = cfg.dataset(name)
    folder = DATASETS / name
    report = folder / "source" / "report.json"
    images = Path(read_json(report)["root"]) if report.exists() else Path(entry.root).expanduser()
    return DatasetPaths(name, images, folder / "faces.parquet",
                        {EVALUATION_PROTOCOL: folder / "source" / "pairs.csv"}, folder / "render", SCORES / name)


def arcface_embeddings(name: str = LFW) -> Path:
    """Where score_arcface saves a dataset's ArcFace embeddings for the adapter attackers: LFW's
    :data:`ARCFACE_EMBEDDINGS`, an evaluation-only dataset's ``data/embeddings/<name>/arcface.npz``."""
    return ARCFACE_EMBEDDINGS if name == LFW else ARCFACE_EMBEDDINGS.parent / name / ARCFACE_EMBEDDINGS.name


def protocol_files(protocol: str) -> tuple[Path, Path]:
    """An LFW protocol's training list and test pairs: ``data/protocols/<protocol>/{train,pairs}.csv``."""
    return PROTOCOLS / protocol / "train.csv", PROTOCOLS / protocol / "pairs.csv"
