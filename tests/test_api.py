"""The public API in flup/__init__.py (detect, obfuscate, embed, evaluate) on real LFW photos.

Expected values come from outside the code under test: LFW's deep-funneled photos are 250 x 250 px with the
labelled face centred; the AUC, TAR, EER and means of the score table are worked out by hand below.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest

import flup
from tests.conftest import REPO

SAME = ("George_W_Bush/George_W_Bush_0001.jpg", "George_W_Bush/George_W_Bush_0002.jpg")
OTHER = "Colin_Powell/Colin_Powell_0001.jpg"


@pytest.fixture(scope="module")
def photos(lfw_root) -> dict[str, np.ndarray]:
    folder = lfw_root / "lfw-deepfunneled"
    return {name: cv2.imread(str(folder / name), cv2.IMREAD_COLOR) for name in (*SAME, OTHER)}


@pytest.fixture(scope="module")
def faces(photos) -> dict[str, flup.Face]:
    return {name: flup.detect(image) for name, image in photos.items()}


@pytest.mark.slow  # a subprocess
def test_import_is_cheap():
    heavy = "('torch', 'onnxruntime', 'cv2', 'insightface')"
    code = f"import sys, flup; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_detect_finds_the_centred_face(lfw_root, photos, faces):
    for name, image in photos.items():
        face = faces[name]
        assert isinstance(face, flup.Face), name
        h, w = image.shape[:2]
        assert (h, w) == (250, 250)
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, (name, face.box)
        assert 50 <= x2 - x1 <= 200 and 50 <= y2 - y1 <= 200, (name, face.box)
        # LFW centres the labelled face: the box centre lies within 30 px of the image centre.
        assert math.dist(((x1 + x2) / 2, (y1 + y2) / 2), (w / 2, h / 2)) < 30, (name, face.box)
        assert face.landmarks.shape == (5, 2)
        assert np.all((face.landmarks >= face.box[:2]) & (face.landmarks <= face.box[2:])), name
    # The same call on a path, and no face on a flat grey image.
    np.testing.assert_array_equal(flup.detect(lfw_root / "lfw-deepfunneled" / SAME[0]).box, faces[SAME[0]].box)
    assert flup.detect(np.full((250, 250, 3), 128, np.uint8)) is None


def _inside(shape, box) -> np.ndarray:
    """Mask of the pixels of the integer box that contains ``box`` (outward rounding)."""
    x1, y1 = (math.floor(v) for v in box[:2])
    x2, y2 = (math.ceil(v) for v in box[2:])
    mask = np.zeros(shape[:2], bool)
    mask[y1:y2, x1:x2] = True
    return mask


def test_obfuscate_changes_only_the_box(photos, faces):
    image, face = photos[SAME[0]], faces[SAME[0]]
    before = image.copy()
    inside = _inside(image.shape, face.box)

    blurred = flup.obfuscate(image, face.box, "blur", 8)
    changed = (blurred != image).any(axis=2)
    assert not changed[~inside].any()
    assert changed[inside].mean() > 0.8  # a σ = 8 blur alters nearly every pixel of a face

    boxed = flup.obfuscate(image, face, "blackbox", 1)  # a Face works as the box
    assert not (boxed != image).any(axis=2)[~inside].any()
    assert np.unique(boxed[inside]).tolist() == [0]

    np.testing.assert_array_equal(image, before)  # the input is left as it was
    with pytest.raises(ValueError, match="unknown obfuscation 'smudge'"):
        flup.obfuscate(image, face.box, "smudge", 1)
    with pytest.raises(ValueError, match="blur sigma"):
        flup.obfuscate(image, face.box, "blur", -1)


def test_embed_tells_people_apart(photos, faces):
    vectors = {name: flup.embed(image, faces[name]) for name, image in photos.items()}
    for vector in vectors.values():
        assert vector.shape == (512,) and vector.dtype == np.float32
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    same = float(vectors[SAME[0]] @ vectors[SAME[1]])
    different = max(float(vectors[name] @ vectors[OTHER]) for name in SAME)
    # Measured 2026-11-30 (w600k_mbf): same person 0.744; different people -0.018 and 0.016. ArcFace puts
    # unrelated faces near 0 and the same person well above, so 0.3 leaves room on both sides.
    assert same > different + 0.3, (same, different)
    # Without a face, embed detects one (the end-to-end path): the same face, the same vector.
    np.testing.assert_array_equal(flup.embed(photos[SAME[0]]), vectors[SAME[0]])
    with pytest.raises(ValueError, match="no face found"):
        flup.embed(np.full((250, 250, 3), 128, np.uint8))


def test_evaluate_matches_hand_worked_values():
    # same-person scores 0.9, 0.8, 0.4; different-person 0.7, 0.4, 0.1.
    scores = [0.9, 0.7, 0.8, 0.4, 0.4, 0.1]
    labels = [1, 0, 1, 0, 1, 0]
    result = flup.evaluate(scores, labels, n_boot=500)
    # AUC = P(same > different) + P(tie) / 2 over the 9 (same, different) combinations:
    # 0.9 beats 3, 0.8 beats 3, 0.4 beats 0.1 and ties 0.4 -> (3 + 3 + 1 + 0.5) / 9.
    assert result["auc"] == pytest.approx(7.5 / 9)
    assert 0 <= result["auc_low"] <= result["auc"] <= result["auc_high"] <= 1
    assert (result["n_pairs"], result["n_same"], result["n_diff"]) == (6, 3, 3)
    # No false accept above 0.7: two of three same pairs accepted.
    assert result["tar_far_1e-2"] == pytest.approx(2 / 3)
    # ROC (fpr, tpr): (0, 1/3), (0, 2/3), (1/3, 2/3), ... crosses fpr = 1 - tpr at (1/3, 2/3).
    assert result["eer"] == pytest.approx(1 / 3)
    assert result["mean_cos_same"] == pytest.approx((0.9 + 0.8 + 0.4) / 3)
    assert result["mean_one_minus_cos_diff"] == pytest.approx((0.3 + 0.6 + 0.9) / 3)
    # Perfectly separated scores: AUC 1 with a degenerate interval, every pair classified right.
    perfect = flup.evaluate([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], n_boot=100)
    assert (perfect["auc"], perfect["auc_low"], perfect["auc_high"], perfect["accuracy"]) == (1, 1, 1, 1)


def test_the_api_functions_and_the_subpackages_have_names_of_their_own():
    # The functions flup.obfuscate / flup.evaluate are plain functions; the subpackages that do the work are
    # flup.obfuscation / flup.evaluation, so importing one never shadows a function.
    import flup.evaluation.replicas  # noqa: F401
    import flup.obfuscation.families  # noqa: F401

    assert type(flup.obfuscate).__name__ == type(flup.evaluate).__name__ == "function"
    assert flup.evaluation.__name__ == "flup.evaluation" and flup.obfuscation.__name__ == "flup.obfuscation"
    assert pickle.loads(pickle.dumps(flup.evaluate)) is flup.evaluate
