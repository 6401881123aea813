"""flup: does face obfuscation really hide who someone is? A reproducible study.

Besides the DVC pipeline, five functions let a notebook user try the study's pieces on their own photos::

    import cv2, flup

    image = cv2.imread("photo.jpg")                    # BGR uint8, as OpenCV reads it (a path works too)
    face = flup.detect(image)                          # flup.Face(box, score, landmarks), or None
    blurred = flup.obfuscate(image, face.box, "blur", 8)   # any family: blur, pixelate, blackbox, deface, ...
    sharp = flup.embed(image, face)                    # ArcFace, 512-d, unit norm
    float(sharp @ flup.embed(blurred, face))           # cosine similarity, oracle-box threat model
    flup.evaluate(scores, labels)                      # AUC [95% interval], accuracy, TAR@FAR, EER, ...
    flup.audit(lambda image: my_redaction(image))      # a redaction function audited against the study's attackers

They use the study's defaults: the embedded SCRFD-500M detector and ArcFace ``w600k_mbf`` recogniser (sha256
checked; InsightFace's pretrained models are for non-commercial research only), created on first use and kept.
Importing ``flup`` loads none of them (nor torch, ONNX Runtime or OpenCV).
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from flup.faces.detection import Face

__version__ = "0.1.0"
__all__ = ["Face", "audit", "audit_function", "detect", "embed", "evaluate", "obfuscate"]

# The defaults of params.yaml's ``detector`` section.
DET_SIZE = 320
DET_THRESH = 0.5


def __getattr__(name: str) -> Any:
    if name == "Face":  # lazily, so that ``import flup`` stays cheap
        from flup.faces.detection import Face

        return Face
    if name == "audit":  # the package flup.audit, callable: flup.audit(redact) is audit_function(redact)
        import importlib

        return importlib.import_module("flup.audit")
    raise AttributeError(f"module 'flup' has no attribute {name!r}")


def _image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    """A BGR uint8 HxWx3 image, read from ``image`` if it is a path."""
    import cv2
    import numpy as np

    if isinstance(image, (str, os.PathLike)):
        pixels = cv2.imread(os.fspath(image), cv2.IMREAD_COLOR)
        if pixels is None:
            raise FileNotFoundError(f"{image}: cannot read the image")
        return pixels
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (
        image.ndim == 2 or image.ndim == 3 and image.shape[2] == 3
    ):
        raise ValueError(
            f"expected a path or an HxWx3 (BGR) or HxW uint8 image, got {type(image).__name__} "
            f"{getattr(image, 'dtype', '')} shape {getattr(image, 'shape', '')}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: {image.shape[1]}x{image.shape[0]} pixels")
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def _number(name: str, value: Any, expect: str, integer: bool = False) -> None:
    """TypeError unless ``value`` is a real number (an integer where ``integer``; never a bool or a string)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {expect}, got {value!r} ({type(value).__name__})")


@functools.lru_cache(maxsize=4)
def _detector(det_size: int, det_thresh: float):
    from flup.faces import weights
    from flup.faces.detection import Detector

    return Detector(weights.resolve("detector", "scrfd_500m", "~/.insightface/models"), det_size, det_thresh)


@functools.lru_cache(maxsize=1)
def _arcface():
    from flup.faces import weights
    from flup.verify.recognition import ArcFace

    return ArcFace(weights.resolve("recognizer", "w600k_mbf", "~/.insightface/models", section="arcface"))


def detect(image: np.ndarray | str | os.PathLike, rule: str = "central", det_size: int = DET_SIZE,
           det_thresh: float = DET_THRESH) -> Face | None:
    """*The* face of ``image``: a :class:`flup.Face` (``box`` x1, y1, x2, y2; ``score``; ``landmarks`` (5, 2):
    eyes, nose, mouth corners, in pixels), or None if the detector finds no face.

    ``rule`` picks one face among several: ``central`` (nearest the image centre, LFW's convention) or
    ``largest_central`` (the largest face centred in the middle half of the image). ``det_size``: the detector's
    input side in px (a multiple of 32; 320 suits LFW's 250 px photos, larger photos with small faces may need
    640).
    """
    from flup.faces.detection import choose_face

    if rule not in ("central", "largest_central"):
        raise ValueError(f"rule is {rule!r}; expected 'central' or 'largest_central'")
    if isinstance(det_size, bool) or not isinstance(det_size, int) or det_size <= 0 or det_size % 32:
        raise ValueError(f"det_size must be a positive multiple of 32, got {det_size!r}")
    if not 0 < det_thresh < 1:
        raise ValueError(f"det_thresh must be in (0, 1), got {det_thresh!r}")
    pixels = _image(image)
    faces = _detector(det_size, float(det_thresh)).detect(pixels)
    chosen, _ = choose_face(faces, pixels.shape, rule)
    return None if chosen is None else faces[chosen]


def _box(box: Face | Sequence[float]) -> Sequence[float]:
    """The (x1, y1, x2, y2) of a :class:`flup.Face` or a box: four finite numbers (TypeError / ValueError)."""
    import numpy as np

    values = box.box if hasattr(box, "box") else box
    expect = "(x1, y1, x2, y2) or a flup.Face"
    if values is None:
        raise TypeError(f"box must be {expect}, got None (did flup.detect find no face?)")
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) or len(values) != 4:
        raise TypeError(f"box must be {expect}: four numbers, got {values!r}")
    for value in values:
        _number("box", value, f"{expect}: four numbers")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"box must be four finite numbers, got {tuple(values)!r}")
    return values


def obfuscate(image: np.ndarray | str | os.PathLike, box: Face | Sequence[float], kind: str, level: float,
              region: float = 1.0, blur_border: str = "crop") -> np.ndarray:
    """A copy of ``image`` obfuscated inside ``box`` (x1, y1, x2, y2, or a :class:`flup.Face`), as the study
    renders it: ``kind`` is one of the registered families (``flup.obfuscation.families``): ``blur`` (Gaussian σ,
    px), ``pixelate`` (block side, px), ``blackbox`` (any level), ``deface`` (mask scale, its default 1.3),
    ``face_gaussian`` (kernel / face size), ``face_pixelate`` (cell side / face width). ``region`` enlarges
    the box about its centre; ``blur_border`` is what a blur sees at the box's edge: ``crop`` (the box's own
    pixels, mirrored: the seed study's and common tools' rule) or ``context`` (the image around it). Pixels
    outside the region the kind changes stay byte-identical (``deface`` reaches beyond the box, see
    ``flup.obfuscation.methods.affected_box``). A bad kind or level raises ValueError naming it and the
    valid range.
    """
    from flup.obfuscation import methods

    _number("region", region, "a number > 0 (the face-box scale factor, 1.0 = the box)")
    if not (math.isfinite(region) and region > 0):
        raise ValueError(f"region must be a finite number > 0 (the face-box scale factor), got {region!r}")
    return methods.apply(_image(image), _box(box), kind, level, region, blur_border)


def embed(image: np.ndarray | str | os.PathLike, face: Face | np.ndarray | None = None) -> np.ndarray:
    """ArcFace embedding (512 float32 values, unit norm) of the face in ``image``, aligned to 112 px by its five
    landmarks: those of ``face`` (a :class:`flup.Face` or a (5, 2) landmark array), else of :func:`detect`'s face.

    On an obfuscated image, ``face=None`` is the study's end-to-end threat model (the attacker re-detects the
    face; ValueError if none is found) and passing the sharp image's face is the oracle-box model. The cosine
    similarity of two embeddings is their dot product.
    """
    import numpy as np

    from flup.verify.recognition import align

    pixels = _image(image)
    if face is None:
        face = detect(pixels)
        if face is None:
            raise ValueError("no face found in the image; pass the face (or its landmarks) to embed it anyway")
    landmarks = np.asarray(getattr(face, "landmarks", face), dtype=np.float32)
    if landmarks.shape != (5, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"face landmarks must be a finite (5, 2) array, got shape {landmarks.shape}")
    return _arcface().embed([align(pixels, landmarks)])[0]


def evaluate(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray,
             folds: Sequence[int] | np.ndarray | None = None, n_boot: int = 1000, seed: int = 0) -> dict:
    """Verification metrics of pair ``scores`` (higher = more alike) against ``labels`` (1 same person, 0 not),
    as ``metrics/verification.json`` reports them (``flup.verify.metrics.summarize``).

    Keys: ``n_pairs``, ``n_same``, ``n_diff``; ``auc`` with its stratified-bootstrap 95% interval ``auc_low``,
    ``auc_high`` (``n_boot`` replicates, ``seed``); ``accuracy`` at the best threshold, fitted on other folds
    (``folds``: one fold id per pair, e.g. LFW View 2's ten) or on the other half of a seeded split-half
    (``accuracy_std`` None); ``tar_far_1e-2``, ``tar_far_1e-3``, ``eer``; ``mean_cos_same``,
    ``mean_one_minus_cos_diff`` (the seed study's figures).
    """
    from flup.verify.metrics import summarize

    _number("n_boot", n_boot, "an integer >= 1 (bootstrap replicates)", integer=True)
    if n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1 (bootstrap replicates), got {n_boot!r}")
    _number("seed", seed, "an integer >= 0", integer=True)
    if seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return summarize(scores, labels, folds, n_boot=n_boot, seed=seed)



def audit_function(redact, name: str = "python", max_probes: int | None = None, keep_going: bool = False,
                   out: str | os.PathLike | None = None, params: str | os.PathLike = "params.yaml",
                   end_to_end: bool = True) -> dict:
    """Audit ``redact(image) -> image`` (BGR uint8 in, the same size out) against the study's attackers, in this
    process: the function runs on the identification probes' photos (every one, or ``max_probes`` of them, a
    seeded subset of whole people) and its output is scored as ``python -m flup audit`` scores a command-line tool
    (docs/audit.md). Also reachable as ``flup.audit(redact, ...)``.

    Run it from the repository root of a study that has run its identification stages (``dvc repro
    evaluate_identification``): it reads their files and ``params`` (nothing is written, no DVC), and returns the
    summary that ``audit.json`` holds: ``verdict`` (``status`` private / leaks / undecided and ``text``),
    ``risk`` (the right person picked out of ``identification.candidates``), ``coverage`` (faces the function
    left unchanged), ``vs_blackbox``, ``cells`` and, where it is not private, ``suggestion``. ``out``: a folder
    that receives audit.json, audit.html and the missed faces' thumbnails. A photo the function fails on (it
    raises, or returns another size or type) stops the audit naming it, unless ``keep_going`` (then it counts as
    a face the tool missed). ``end_to_end=False`` skips the threat model that re-detects faces (faster).
    """
    from flup.config import load_config
    from flup.pipeline.audit import audit_function as run

    if not callable(redact):
        raise TypeError(f"redact must be a function redact(image) -> image, got {redact!r}")
    return run(load_config(params), redact, name, max_probes, keep_going, None if out is None else os.fspath(out),
               with_detector=end_to_end)
