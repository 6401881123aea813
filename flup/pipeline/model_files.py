"""The study's model files, from params.yaml's ``detector``, ``arcface`` and ``models`` sections, verified."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flup.faces.weights import resolve

if TYPE_CHECKING:
    from flup.config import Study


def detector_file(cfg: Study) -> Path:
    """The study's detector (params.yaml ``detector.model``, ``detector.sha256``, ``models.root``), verified."""
    return resolve("detector", cfg.detector.model, cfg.models.root, cfg.detector.sha256)


def recognizer_file(cfg: Study) -> Path:
    """The study's ArcFace (params.yaml ``arcface.model``, ``arcface.sha256``, ``models.root``), verified."""
    return resolve("recognizer", cfg.arcface.model, cfg.models.root, cfg.arcface.sha256, section="arcface")
