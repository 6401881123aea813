"""Render stores (lossless, exact pixels) and the per-pair score table."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from flup.evaluate.recognition import FAILED_SCORE
from flup.evaluate.scoring import score_pairs
from flup.obfuscate import obfuscation, render


@pytest.fixture(scope="module")
def face(lfw_root):
    image = cv2.imread(str(lfw_root / "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0013.jpg"))
    return image, (85.3, 60.8, 170.2, 190.6)


@pytest.mark.parametrize(("kind", "level"), [
    ("blur", 8), ("blur", 24), ("pixelate", 8), ("blackbox", 1),
    ("deface", 1.3), ("face_gaussian", 0.5), ("face_pixelate", 0.1),  # deface reaches outside the face box
])
@pytest.mark.parametrize("codec", ["png", "webp"])
def test_lossless_store_gives_back_the_exact_obfuscated_pixels(tmp_path, face, kind, level, codec):
    image, box = face
    encoding = render.Encoding(codec)
    patch_box, data = render.render_one(image, box, kind, level, 1.0, encoding)
    path = tmp_path / "store.npz"
    render.save_store(path, ["x.jpg"], [patch_box], [data], encoding)
    restored = render.RenderStore(path).obfuscated("x.jpg", image)
    assert np.array_equal(restored, obfuscation.apply(image, box, kind, level))
    assert not np.array_equal(restored, image)


def test_identity_level_stores_nothing_and_jpeg_stores_whole_image(tmp_path, face):
    image, box = face
    patch_box, data = render.render_one(image, box, "blur", 0, 1.0, render.Encoding("png"))
    assert data == b"" and patch_box == (0, 0, 0, 0)
    jpeg = render.Encoding("jpeg", jpeg_quality=80)
    patch_box, data = render.render_one(image, box, "blur", 8, 1.0, jpeg)
    render.save_store(tmp_path / "j.npz", ["x.jpg"], [patch_box], [data], jpeg)
    restored = render.RenderStore(tmp_path / "j.npz").obfuscated("x.jpg", image)
    expected = obfuscation.apply(image, box, "blur", 8)
    assert restored.shape == image.shape
    assert 0 < np.abs(restored.astype(int) - expected).mean() < 3  # lossy, but close
    with pytest.raises(ValueError, match="render.encoding"):
        render.Encoding("gif")


def test_store_loads_without_pickle(tmp_path, face):
    image, box = face
    encoding = render.Encoding("png")
    render.save_store(tmp_path / "s.npz", ["a.jpg"], [(0, 0, 0, 0)], [b""], encoding)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as archive:
        assert archive["names"].dtype.kind == "U"


def test_failure_scores_as_non_match_and_missing_sharp_face_is_excluded():
    pairs = pd.DataFrame({
        "pair_id": [0, 1, 2, 3], "fold": [0, 0, 0, 0], "label": [1, 1, 0, 0],
        "image_a": ["s1", "s2", "s3", "nofaceA"], "image_b": ["o1", "o2", "o3", "o4"],
    })
    sharp = {"s1": np.array([1.0, 0.0]), "s2": np.array([0.0, 1.0]), "s3": np.array([1.0, 0.0])}
    obfuscated = {"o1": np.array([0.6, 0.8]), "o2": None, "o3": np.array([-1.0, 0.0]), "o4": np.array([1.0, 0.0])}
    table = score_pairs(pairs, "a", sharp, obfuscated, dataset="lfw", protocol="view1", recognizer="arcface",
                        mode="end_to_end", obfuscation="blur", level=8.0)
    assert table["status"].tolist() == ["ok", "not_detected", "ok", "excluded"]
    assert table["score"].iloc[:3].tolist() == pytest.approx([0.6, FAILED_SCORE, -1.0])
    assert np.isnan(table["score"].iloc[3])
    assert (table["recognizer"] == "arcface").all() and (table["level"] == 8.0).all()
