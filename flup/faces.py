"""Face detection with InsightFace, and the rule that picks *the* face of an image.

LFW convention: an image is labelled with one person, who is the face nearest the image centre.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LANDMARK_COLUMNS = [f"lmk{i}_{axis}" for i in range(5) for axis in ("x", "y")]
BOX_COLUMNS = ["x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2): eyes, nose, mouth corners

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
        }


def central_face(faces: list[Face], shape: tuple[int, ...]) -> int | None:
    """Index of the face whose box centre is nearest the image centre (None if no face)."""
    if not faces:
        return None
    centre = np.array([shape[1] / 2.0, shape[0] / 2.0])
    distances = [np.linalg.norm((face.box[:2] + face.box[2:]) / 2.0 - centre) for face in faces]
    return int(np.argmin(distances))


def _quiet_onnxruntime() -> None:
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)


class Detector:
    """SCRFD / RetinaFace-style detector from InsightFace's model zoo, on CPU or CUDA."""

    def __init__(self, model_path: Path, det_size: int, det_thresh: float, providers: list[str] | None = None):
        _quiet_onnxruntime()
        from insightface.model_zoo import get_model

        self.model = get_model(str(model_path), providers=providers or ["CPUExecutionProvider"])
        if self.model is None:
            raise ValueError(f"{model_path}: not a detector InsightFace can load")
        self.model.prepare(ctx_id=-1, input_size=(det_size, det_size), det_thresh=det_thresh)

    def detect(self, image: np.ndarray) -> list[Face]:
        boxes, landmarks = self.model.detect(image, max_num=0)
        return [
            Face(b[:4].astype(np.float64), float(b[4]), k.astype(np.float64))
            for b, k in zip(boxes, landmarks, strict=True)
        ]


def face_row(faces: list[Face], shape: tuple[int, ...]) -> dict:
    """Columns of the detection table for one image (the chosen face flattened, all faces as JSON)."""
    chosen = central_face(faces, shape)
    row: dict = {
        "height": int(shape[0]),
        "width": int(shape[1]),
        "n_faces": len(faces),
        "face_index": -1 if chosen is None else chosen,
        "status": "ok" if chosen is not None else "no_face",
        "faces": json.dumps([face.to_dict() for face in faces]),
    }
    face = faces[chosen] if chosen is not None else None
    for i, column in enumerate(BOX_COLUMNS):
        row[column] = float(face.box[i]) if face else np.nan
    row["score"] = float(face.score) if face else np.nan
    flat = face.landmarks.reshape(-1) if face else [np.nan] * 10
    for column, value in zip(LANDMARK_COLUMNS, flat, strict=True):
        row[column] = float(value)
    return row


def landmarks_of(row) -> np.ndarray:
    return np.array([row[c] for c in LANDMARK_COLUMNS], dtype=np.float32).reshape(5, 2)


def box_of(row) -> np.ndarray:
    return np.array([row[c] for c in BOX_COLUMNS], dtype=np.float64)
