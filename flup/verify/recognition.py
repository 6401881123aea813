"""ArcFace embeddings (InsightFace) and the two threat models for scoring an obfuscated face.

- end-to-end: the attacker re-detects the face in the obfuscated image; no face, no match.
- oracle box: the attacker knows where the redaction is (it is visible) and aligns the
  obfuscated face with the sharp image's landmarks.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from flup.cpu import available_cores
from flup.faces.detection import BOX_COLUMNS, Detector, choose_face, session_options

MODES = ("end_to_end", "oracle_box")

# insightface's norm_crop calls a scikit-image method deprecated in 0.26; the result is unchanged.
warnings.filterwarnings("ignore", category=FutureWarning, module="insightface.utils.face_align")


def align(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """112x112 ArcFace crop by a similarity transform of the five landmarks."""
    from insightface.utils import face_align

    return face_align.norm_crop(image, np.asarray(landmarks, dtype=np.float32), image_size=112)


class ArcFace:
    """ONNX ArcFace. An embedding depends on its own crop only: the same numbers in any batch and with any
    thread count (checked in tests/test_render_scoring.py), so the scoring engine may batch and reuse freely.

    On CPU, ``threads`` (default: one per core) single-threaded runs embed parts of a batch at once: the
    parts need no synchronisation, so two cores do twice the work of one when the machine is free, and a
    busy machine loses nothing to threads waiting on each other (benchmarks/render_score.md).
    """

    MIN_PART = 8  # crops per concurrent run

    def __init__(self, model_path: Path, providers: list[str] | None = None, threads: int | None = None):
        import onnxruntime
        from insightface.model_zoo import get_model

        onnxruntime.set_default_logger_severity(3)
        providers = providers or ["CPUExecutionProvider"]
        on_cpu = providers[0] == "CPUExecutionProvider"
        self.parts = (threads or available_cores()) if on_cpu else 1
        self.model = get_model(str(model_path), providers=providers,
                               sess_options=session_options(1 if on_cpu else None))
        if self.model is None or not hasattr(self.model, "get_feat"):
            raise ValueError(f"{model_path}: not a recogniser InsightFace can load")
        self._pool = ThreadPoolExecutor(max_workers=self.parts) if self.parts > 1 else None

    def _features(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.model.get_feat(list(crops)).astype(np.float32)

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not len(crops):
            return np.zeros((0, 512), dtype=np.float32)
        parts = min(self.parts, len(crops) // self.MIN_PART)
        if self._pool is None or parts < 2:
            features = self._features(crops)
        else:
            bounds = np.linspace(0, len(crops), parts + 1).astype(int)
            features = np.concatenate(list(self._pool.map(
                self._features, [crops[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])))
        return features / np.linalg.norm(features, axis=1, keepdims=True)


def redetect(detector: Detector, image: np.ndarray, face: Mapping | None = None) -> np.ndarray | None:
    """Landmarks of *the* face found in ``image``, or None (end-to-end threat model).

    The face is chosen by the rule that chose it in the sharp image (:func:`flup.faces.detection.choose_face`),
    so on a photo of several people the attacker embeds the same person the dataset labels, not whoever is
    nearest the centre. ``face`` is the image's row of the detection table: its ``face_rule`` and the chosen
    box ``x1, y1, x2, y2``, which stands in for the annotation under the ``annotated`` rule (that box is the
    detection that matched the annotation). Without ``face``: ``central``, LFW's rule.
    """
    faces = detector.detect(image)
    rule, reference = "central", None
    if face is not None:
        rule = str(face["face_rule"])
        if all(column in face for column in BOX_COLUMNS):
            reference = np.array([float(face[column]) for column in BOX_COLUMNS])
    chosen, _ = choose_face(faces, image.shape, rule, reference)
    return None if chosen is None else faces[chosen].landmarks


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of L2-normalised embeddings."""
    return np.einsum("ij,ij->i", a, b)
