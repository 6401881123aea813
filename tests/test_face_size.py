"""Levels per face width: the median face width of a dataset's obfuscated images, and each family's rule."""

import pandas as pd
import pytest

from flup.evaluate import face_size


def faces() -> pd.DataFrame:
    return pd.DataFrame({
        "image": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"],
        "status": ["ok", "ok", "ok", "no_face", "ok"],
        "x1": [10.0, 0.0, 5.0, None, 0.0], "x2": [110.0, 80.0, 65.0, None, 500.0],
    })


def test_median_over_the_obfuscated_images_with_a_face():
    # a: 100, b: 80, c: 60 (d has no face; e is not obfuscated)
    assert face_size.median_face_width(faces(), ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]) == 80.0
    assert face_size.median_face_width(faces(), ["d.jpg"]) is None


@pytest.mark.parametrize(("kind", "level", "region", "expected"), [
    ("blur", 8, 1.0, 0.1), ("blur", 0, 1.3, 0.0), ("pixelate", 16, 1.3, 0.2),
    ("face_gaussian", 0.5, 1.0, 0.5), ("face_pixelate", 0.1, 1.5, 0.15),
    ("blackbox", 1, 1.0, None), ("deface", 1.3, 1.0, None), ("mosaic", 4, 1.0, None),
])
def test_level_per_face_rules(kind, level, region, expected):
    value = face_size.level_per_face(kind, level, 80.0, region)
    assert value == (None if expected is None else pytest.approx(expected))


def test_no_face_width_no_pixel_level_per_face():
    assert face_size.level_per_face("blur", 8, None) is None
    assert face_size.level_per_face("face_pixelate", 0.1, None) == 0.1


def test_with_level_per_face_per_dataset():
    frame = pd.DataFrame({"dataset": ["lfw", "celeba", "lfw", "lfw"],
                          "obfuscation": ["blur", "blur", "blackbox", "face_pixelate"],
                          "region": [1.6, 1.0, 1.0, 2.0], "level": [8.0, 8.0, 1.0, 0.1],
                          "max_level_tested": [24.0, None, 1.0, 0.2]})
    # a pixel level is per detected face width at any region; a face-relative preset's scales with its region
    out = face_size.with_level_per_face(frame, {"lfw": 80.0, "celeba": 160.0})
    assert out["level_per_face"].tolist() == [0.1, 0.05, None, 0.2]
    out = face_size.with_level_per_face(frame, {"lfw": 80.0}, "max_level_tested", "max")
    assert out["max"].tolist() == [0.3, None, None, 0.4]
    assert "level_per_face" not in frame  # a copy
