"""Levels per face width: the median face width of a dataset's obfuscated images, and each family's rule."""

import pandas as pd
import pytest

from flup.evaluation import face_size


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


# --- saturation: deface's level is a region; once it fills the frame, stronger levels render the same image -----


def boxes(widths: list[float], frame: int = 250) -> pd.DataFrame:
    """Faces centred in square frames, 1.2 times as tall as wide."""
    rows = [(frame / 2 - w / 2, frame / 2 - 0.6 * w, frame / 2 + w / 2, frame / 2 + 0.6 * w, frame, frame)
            for w in widths]
    return pd.DataFrame(rows, columns=["x1", "y1", "x2", "y2", "height", "width"])


def test_frame_share_counts_the_faces_whose_region_is_the_whole_frame():
    # deface's region is the box x region x (2 x mask scale - 1): a 94 px face at 3.0 -> 470 px, the whole frame;
    # at 1.3 -> 150 px; a 40 px face at 2.0 -> 120 px, at 3.0 -> 200 px (not the whole 250 px frame)
    faces = boxes([94.0, 94.0, 94.0, 40.0])
    assert face_size.frame_share(faces, "deface", 3.0) == 0.75
    assert face_size.frame_share(faces, "deface", 1.3) == 0.0
    assert face_size.frame_share(faces, "deface", 3.0, region=1.3) == 1.0  # 40 x 1.3 x 5 = 260 px
    assert face_size.frame_share(faces.iloc[:0], "deface", 3.0) is None


def test_saturated_levels_need_the_share_and_a_family_whose_level_is_a_region():
    ninety_nine = boxes([94.0] * 99 + [40.0])  # one face in 100 keeps a sharp edge at 3.0: 99% >= SATURATED_SHARE
    ninety_eight = boxes([94.0] * 98 + [40.0] * 2)
    levels = [("lfw", "deface", 1.0, 3.0), ("lfw", "deface", 1.0, 1.3), ("other", "deface", 1.0, 3.0),
              ("lfw", "blur", 1.0, 128.0), ("lfw", "blackbox", 1.0, 1.0), ("absent", "deface", 1.0, 3.0)]
    assert face_size.saturated_levels({"lfw": ninety_nine, "other": ninety_eight}, levels) == {
        ("lfw", "deface", 1.0, 3.0)}


def test_a_saturated_deface_level_renders_the_same_image_as_any_stronger_one(lfw_root):
    import cv2
    import numpy as np

    from flup.obfuscation.methods import deface

    # AJ_Cook_0001's detected face (data/faces/lfw.parquet): 86 x 137 px in a 250 x 250 frame
    image = cv2.imread(str(lfw_root / "lfw-deepfunneled" / "AJ_Cook" / "AJ_Cook_0001.jpg"))
    box = (88.33, 60.22, 173.87, 197.42)
    face = pd.DataFrame([(*box, *image.shape[:2])], columns=["x1", "y1", "x2", "y2", "height", "width"])
    # at 2.0 the region is 3 x 86 = 257 px wide about x = 131: from x = 3, a sharp strip remains on the left
    assert face_size.frame_share(face, "deface", 2.5) == 1.0 and face_size.frame_share(face, "deface", 2.0) == 0.0
    saturated = deface(image, box, 2.5)
    assert np.array_equal(saturated, deface(image, box, 3.0)) and np.array_equal(saturated, deface(image, box, 6.0))
    assert not np.array_equal(saturated, deface(image, box, 2.0))
