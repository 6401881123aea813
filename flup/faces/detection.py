"""Face detection with InsightFace, and the rule that picks *the* face of an image.

Rules (:data:`FACE_RULES`), recorded per image in the detection table's ``face_rule`` column:

- ``central`` (LFW's convention: an image is labelled with the person nearest its centre);
- ``largest_central``: the largest face whose centre lies in the middle half of the image (the
  largest anywhere if none does), for in-the-wild photos with several people;
- ``annotated``: the face overlapping the dataset's annotated box most (IoU >= 0.3); images
  without an annotation, or whose annotation no detection matches, fall back to ``largest_central``.
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


FACE_RULES = ("central", "largest_central", "annotated")
MIN_ANNOTATION_IOU = 0.3


def largest_central_face(faces: list[Face], shape: tuple[int, ...]) -> int | None:
    """Index of the largest face centred in the middle half of the image (else the largest)."""
    if not faces:
        return None
    h, w = float(shape[0]), float(shape[1])
    areas = [max(0.0, f.box[2] - f.box[0]) * max(0.0, f.box[3] - f.box[1]) for f in faces]
    central = [
        i for i, f in enumerate(faces)
        if abs((f.box[0] + f.box[2]) / 2 - w / 2) <= w / 4 and abs((f.box[1] + f.box[3]) / 2 - h / 2) <= h / 4
    ]
    return max(central or range(len(faces)), key=lambda i: areas[i])


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def choose_face(
    faces: list[Face], shape: tuple[int, ...], rule: str = "central", annotated_box=None
) -> tuple[int | None, str]:
    """(index of *the* face or None, the rule that chose it); see the module docstring."""
    if rule not in FACE_RULES:
        raise ValueError(f"face rule is {rule!r}; expected one of {', '.join(FACE_RULES)}")
    if rule == "central":
        return central_face(faces, shape), "central"
    if rule == "annotated" and annotated_box is not None and faces and np.all(np.isfinite(annotated_box)):
        overlaps = [iou(f.box, annotated_box) for f in faces]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= MIN_ANNOTATION_IOU:
            return best, "annotated"
    return largest_central_face(faces, shape), "largest_central"


def _quiet_onnxruntime() -> None:
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)


def session_options(threads: int | None = None):
    """ONNX Runtime options: ``threads`` intra-op threads (None = one per core), no busy-waiting.

    Idle ORT threads spin by default, which on a small shared CPU burns a core's worth of time
    other work needs (benchmarks/render_score.md). Thread count and spinning leave results unchanged.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class Detector:
    """SCRFD / RetinaFace-style detector from InsightFace's model zoo, on CPU or CUDA."""

    def __init__(self, model_path: Path, det_size: int, det_thresh: float, providers: list[str] | None = None,
                 threads: int | None = None):
        _quiet_onnxruntime()
        from insightface.model_zoo import get_model

        self.model = get_model(str(model_path), providers=providers or ["CPUExecutionProvider"],
                               sess_options=session_options(threads))
        if self.model is None:
            raise ValueError(f"{model_path}: not a detector InsightFace can load")
        self.model.prepare(ctx_id=-1, input_size=(det_size, det_size), det_thresh=det_thresh)

    def detect(self, image: np.ndarray) -> list[Face]:
        boxes, landmarks = self.model.detect(image, max_num=0)
        return [
            Face(b[:4].astype(np.float64), float(b[4]), k.astype(np.float64))
            for b, k in zip(boxes, landmarks, strict=True)
        ]


def face_row(faces: list[Face], shape: tuple[int, ...], rule: str = "central", annotated_box=None) -> dict:
    """Columns of the detection table for one image (the chosen face flattened, all faces as JSON)."""
    chosen, used = choose_face(faces, shape, rule, annotated_box)
    row: dict = {
        "height": int(shape[0]),
        "width": int(shape[1]),
        "n_faces": len(faces),
        "face_index": -1 if chosen is None else chosen,
        "status": "ok" if chosen is not None else "no_face",
        "faces": json.dumps([face.to_dict() for face in faces]),
        "face_rule": used,
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
