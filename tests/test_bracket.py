"""Every threshold bracketed (issue 13, part 3): the uniformity rule per family, measured on pixels, and the
status of the absolute and relative thresholds on synthetic curves and score tables with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from flup.evaluation import privacy, relative, thresholds
from flup.evaluation import verification as ev
from flup.evaluation.absolute import THRESHOLD_COLUMNS, privacy_thresholds
from flup.obfuscation import families
from flup.obfuscation import methods as ob
from flup.verify import scoring

W, H = 94, 115  # LFW's median face box, about 1.2:1
MARGIN = 0.01


def _v(value):
    """A record value with a missing number (NaN in a DataFrame column) as None."""
    return None if isinstance(value, float) and math.isnan(value) else value


# --- the uniformity rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "below", "at", "face_width", "region"), [
    ("blur", 93.9, 94.0, 94.0, 1.0),  # sigma >= 1.0 x box width
    ("blur", 122.1, 122.2, 94.0, 1.3),  # the region scales the box: 1.3 x 94 = 122.2
    ("pixelate", 140, 141, 94.0, 1.0),  # block >= 1.5 x box width
    ("pixelate", 183, 184, 94.0, 1.3),  # 1.5 x 1.3 x 94 = 183.3
    ("face_pixelate", 0.99, 1.0, None, 1.0),  # already relative to the scaled box: no face width needed
    ("face_pixelate", 0.99, 1.0, None, 2.0),
    ("face_gaussian", 6.99, 7.0, None, 1.3),
])
def test_uniform_rule_at_the_boundary(kind, below, at, face_width, region):
    assert not families.uniform(kind, below, face_width, region)
    assert families.uniform(kind, at, face_width, region)


def test_uniform_rule_special_families():
    assert families.uniform("blackbox", 1) and families.uniform("blackbox", 1, None, 2.0)  # always uniform
    assert not any(families.uniform("deface", lv, 94.0, r) for lv in (1.0, 2.0, 10.0) for r in (1.0, 2.0))
    assert not families.uniform("blur", 1000.0)  # a pixel level without a face width cannot be decided
    assert not families.uniform("blur", 0.0, 94.0) and not families.uniform("mosaic", 1e9, 94.0)
    assert families.box_level("blur", 47.0, 94.0, 1.0) == 0.5 and families.box_level("face_gaussian", 2.0) == 2.0
    assert families.MAX_SIGMA == 256.0 and families.MAX_SIGMA >= 2.0 * 94.0  # region 2.0 reaches uniform
    assert families.MAX_BLOCK >= 1.5 * 2.0 * 94.0


def _crop(pattern: np.ndarray) -> tuple[np.ndarray, tuple]:
    image = np.full((H + 40, W + 40, 3), 128, np.uint8)
    image[20 : 20 + H, 20 : 20 + W] = pattern
    return image, (20.0, 20.0, 20.0 + W, 20.0 + H)


def _range(image: np.ndarray) -> int:
    """Largest max - min over the channels of the box."""
    box = image[20 : 20 + H, 20 : 20 + W].astype(int)
    return max(int(box[..., c].max() - box[..., c].min()) for c in range(3))


NOISE = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
DOWN = np.repeat(np.linspace(0, 255, H)[:, None, None], W, 1).repeat(3, 2).astype(np.uint8)  # worst case
ACROSS = np.repeat(np.linspace(0, 255, W)[None, :, None], H, 0).repeat(3, 2).astype(np.uint8)


def test_the_status_rule_states_the_rules_it_applies():
    # privacy.json's status_rule is built from the same constants the statuses are: they cannot drift apart.
    rule = privacy.STATUS_RULE
    assert f"at least {families.SATURATED_SHARE:.0%} of the obfuscated images" in rule
    for kind in ("blur", "pixelate", "face_pixelate", "face_gaussian"):
        assert f">= {families.UNIFORM_AT[kind]}" in rule
    assert rule.count("|") == len(thresholds.THRESHOLD_STATUSES) - 1
    assert all(status in rule for status in thresholds.THRESHOLD_STATUSES)


def test_blur_at_the_box_width_is_uniform_measured():
    """Crop rule (render.blur_border: crop) at sigma = box width: noise keeps 3 of 255 grey levels (1.2%), a
    left-to-right ramp 2 (0.8%, theory exp(-pi^2 / 2) = 0.7%), a top-to-bottom ramp 8 (3.1%); at a quarter of
    that sigma the ramp keeps most of its range, so the check can fail."""
    assert math.exp(-math.pi**2 / 2) == pytest.approx(0.0072, abs=1e-4)
    for pattern, most in ((NOISE, 3), (ACROSS, 2), (DOWN, 8)):
        image, box = _crop(pattern)
        assert _range(image) == 255
        sigma = W * families.UNIFORM_AT["blur"]
        assert families.uniform("blur", sigma, W)
        assert _range(ob.apply(image, box, "blur", sigma, blur_border="crop")) <= most
    image, box = _crop(DOWN)
    assert _range(ob.apply(image, box, "blur", W / 4, blur_border="crop")) > 100


def test_face_gaussian_at_seven_is_uniform_measured():
    """face_gaussian 7.0: OpenCV's sigma from the kernel 7 x 94 px is 99.2 px >= the box width; the ramp keeps
    0 grey levels, noise 5 (cross-channel rounding; 2.0%); at 1.0 (the face-sized kernel) the ramp keeps more."""
    k = ob.odd_kernel(7.0 * W)
    assert 0.3 * ((k - 1) / 2 - 1) + 0.8 >= W
    for pattern, most in ((NOISE, 5), (ACROSS, 2), (DOWN, 2)):
        image, box = _crop(pattern)
        assert _range(ob.face_gaussian(image, box, 7.0)) <= most
    image, box = _crop(DOWN)
    assert _range(ob.face_gaussian(image, box, 1.0)) > 50


@pytest.mark.parametrize(("kind", "level"), [("pixelate", 141), ("face_pixelate", 1.0)])
def test_pixelations_at_their_uniform_level_are_one_cell(kind, level):
    image, box = _crop(NOISE)
    out = ob.apply(image, box, kind, level)[20 : 20 + H, 20 : 20 + W]
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1
    smaller = ob.apply(image, box, kind, level // 2 if kind == "pixelate" else 0.5)[20 : 20 + H, 20 : 20 + W]
    assert len(np.unique(smaller.reshape(-1, 3), axis=0)) > 1


# --- absolute threshold: one synthetic curve per status -----------------------------------------------


def _curve(kind: str, region: float, highs: dict[float, float], recognizer="arcface") -> list[dict]:
    return [{"dataset": "lfw", "protocol": "view1", "recognizer": recognizer, "mode": "oracle_box",
             "series": f"{recognizer}/oracle_box", "obfuscation": kind, "region": region, "level": float(lv),
             "level_per_face": None, "auc": hi - 0.02, "auc_low": hi - 0.04, "auc_high": hi, "accuracy": None,
             "tar_far_1e-2": None, "tar_far_1e-3": None, "eer": None, "mean_cos_same": None,
             "mean_one_minus_cos_diff": None, "detection_rate": 1.0, "n_pairs": 100} for lv, hi in highs.items()]


@pytest.fixture(scope="module")
def absolute():
    rows = (_curve("blur", 1.0, {0: 0.99, 16: 0.8, 32: 0.6, 48: 0.54, 64: 0.53})  # (32, 48]
            + _curve("blur", 1.3, {0: 0.99, 8: 0.9, 24: 0.7})  # stops at sigma 24 < 1.3 x 80: grid ends
            + _curve("pixelate", 1.0, {16: 0.52, 32: 0.51})  # private at the weakest level
            + _curve("pixelate", 1.3, {16: 0.9, 64: 0.8, 160: 0.7})  # 160 >= 1.5 x 1.3 x 80 = 156: uniform
            + _curve("face_pixelate", 1.0, {0.1: 0.9, 0.5: 0.7, 1.0: 0.6})  # uniform at 1.0, still identifies
            + _curve("blackbox", 1.3, {1: 0.6})  # uniform by definition
            + _curve("deface", 1.0, {1.3: 0.7, 2.0: 0.66, 3.0: 0.66})  # fills the frame from 2.0: saturated
            + _curve("deface", 1.3, {1.3: 0.7, 2.0: 0.66}))  # saturation not measured here: grid ends
    curves = pd.DataFrame(rows, columns=ev.CURVE_COLUMNS)
    found = privacy_thresholds(curves, 0.55, {"lfw": 80.0}, SATURATED)
    return found.set_index(["obfuscation", "region"]), curves


SATURATED = {("lfw", "deface", 1.0, 2.0), ("lfw", "deface", 1.0, 3.0), ("celeba", "deface", 1.3, 2.0)}


def test_absolute_bracketed(absolute):
    r = absolute[0].loc[("blur", 1.0)]
    assert (r["status"], r["level"], r["identifies_level"], _v(r["uniform_level"])) == ("bracketed", 48.0, 32.0, None)
    assert r["description"] == "reached at level 48 (bracket (32, 48]; AUC 0.520 [0.500, 0.540])"


def test_absolute_grid_ends(absolute):
    r = absolute[0].loc[("blur", 1.3)]
    assert (r["status"], r["reached"], r["identifies_level"], _v(r["uniform_level"])) == ("grid_ends", False, 24.0,
                                                                                          None)
    assert r["description"] == "grid ends at level 24 before the threshold (AUC 0.680 [0.660, 0.700])"


def test_absolute_private_at_weakest_names_the_unobfuscated_auc(absolute):
    found = absolute[0]
    r = found.loc[("pixelate", 1.0)]
    assert (r["status"], r["level"], _v(r["identifies_level"])) == ("private_at_weakest", 16.0, None)
    assert "bracket (unobfuscated, 16]" in r["description"]
    assert "unobfuscated: AUC 0.970 (blur σ = 0, same recognizer, mode and region)" in r["description"]


def test_absolute_uniform_still_identifies(absolute):
    found = absolute[0]
    pix = found.loc[("pixelate", 1.3)]
    assert (pix["status"], pix["identifies_level"], pix["uniform_level"]) == ("uniform_still_identifies", 160.0, 160.0)
    assert pix["description"].startswith("uniform at level 160 and still identifies (max level 160: AUC 0.680")
    face = found.loc[("face_pixelate", 1.0)]
    assert (face["status"], face["uniform_level"]) == ("uniform_still_identifies", 1.0)
    assert found.loc[("blackbox", 1.3), "status"] == "uniform_still_identifies"


def test_absolute_saturated_still_identifies_only_where_the_region_fills_the_frame(absolute):
    found = absolute[0]
    r = found.loc[("deface", 1.0)]
    assert (r["status"], r["identifies_level"], r["saturated_level"], _v(r["uniform_level"])) == (
        "saturated_still_identifies", 3.0, 2.0, None)
    assert r["description"].startswith("the region fills the frame from level 2 and still identifies (max level 3: "
                                       "AUC 0.640")
    # another dataset's saturation does not count for LFW
    assert (found.loc[("deface", 1.3), "status"], _v(found.loc[("deface", 1.3), "saturated_level"])) == (
        "grid_ends", None)
    assert found.loc[("blur", 1.3), "saturated_level"] is None or pd.isna(found.loc[("blur", 1.3), "saturated_level"])


def test_bracket_saturated_needs_the_strongest_level_and_uniform_comes_first():
    levels, private = [1.0, 2.0, 3.0], [False, False, False]
    assert thresholds.bracket(levels, private, [False] * 3, None, [True, False, False]).status == "grid_ends"
    assert (thresholds.bracket(levels, private, [False] * 3, None, [False, True, True]).status
            == "saturated_still_identifies")
    assert (thresholds.bracket(levels, private, [False, False, True], None, [True] * 3).status
            == "uniform_still_identifies")
    reached = thresholds.bracket(levels, [False, True, True], [False] * 3, 2.0, [False, True, True])
    assert (reached.status, reached.identifies_level, reached.saturated_level) == ("bracketed", 1.0, 2.0)


def test_absolute_without_face_widths_pixel_families_are_never_uniform(absolute):
    found = privacy_thresholds(absolute[1], 0.55).set_index(["obfuscation", "region"])
    assert found.loc[("pixelate", 1.3), "status"] == "grid_ends"
    assert found.loc[("face_pixelate", 1.0), "status"] == "uniform_still_identifies"  # needs no face width


def test_privacy_report_summary_strings_counts_and_warnings(absolute):
    report = privacy.privacy_report(absolute[0].reset_index(), 0.55)
    summary = report["summary"]["lfw"]["view1"]["arcface"]["oracle_box"]
    assert summary["blur"] == {"region=1": 48.0, "region=1.3": "grid ends (max 24)"}
    assert summary["pixelate"] == {"region=1": 16.0, "region=1.3": "identifies even when uniform (max 160)"}
    assert summary["blackbox"] == {"region=1.3": "identifies even when uniform (max 1)"}
    assert summary["deface"] == {"region=1": "identifies even over the whole frame (max 3)",
                                 "region=1.3": "grid ends (max 2)"}
    assert (report["n_reached"], report["n_not_reached"], report["n_grid_ends"]) == (2, 6, 2)
    warnings = privacy.grid_end_warnings(report)
    assert warnings == ["privacy threshold not bracketed: lfw/view1 arcface/oracle_box, blur at region 1.3: the "
                        "grid ends at level 24 before the threshold and before the box is uniform; extend "
                        "render.obfuscations.blur in params.yaml",
                        "privacy threshold not bracketed: lfw/view1 arcface/oracle_box, deface at region 1.3: the "
                        "grid ends at level 2 before the threshold and before its region fills the frame; extend "
                        "render.obfuscations.deface in params.yaml"]


def test_bracket_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        thresholds.bracket([1.0, 2.0], [False], [False, False], None)


# --- relative threshold: a synthetic score table per status ---------------------------------------


N_PAIRS = 600


def relative_table() -> pd.DataFrame:
    """The black box reveals a little (AUC ~0.56). Known answers, per family, with a face width of 80 px:
    blur: reveals more up to sigma 8, then like the black box -> bracketed (8, 16];
    pixelate: like the black box from the weakest level tested (4) -> private_at_weakest;
    face_pixelate: always reveals more, up to 1.0 (one cell) -> uniform_still_identifies;
    face_gaussian: always reveals more, up to 2.0 (< 7.0) -> grid_ends;
    deface: always reveals more, up to 3.0, where its region fills the frame -> saturated_still_identifies."""
    rng = np.random.default_rng(5)
    labels = (np.arange(N_PAIRS) % 2 == 0).astype(int)
    reference = rng.normal(0.0, 0.1, N_PAIRS) + 0.02 * labels
    rows = []

    def add(kind, level, shift):
        scores = reference + shift * labels + rng.normal(0, 0.001, N_PAIRS)
        rows.extend(("lfw", "view1", "arcface", "oracle_box", kind, 1.0, float(level), i, 0, labels[i], scores[i],
                     "ok", False) for i in range(N_PAIRS))

    add("blackbox", 1, 0.0)
    for level in (0, 4, 8, 16, 32):
        add("blur", level, 0.3 if level <= 8 else 0.0)
    for level in (4, 8):
        add("pixelate", level, 0.0)
    for level in (0.1, 0.5, 1.0):
        add("face_pixelate", level, 0.1)
    for level in (0.5, 2.0):
        add("face_gaussian", level, 0.1)
    for level in (1.3, 3.0):
        add("deface", level, 0.1)
    return pd.DataFrame(rows, columns=scoring.SCORE_COLUMNS)


@pytest.fixture(scope="module")
def relative_found():
    differences = relative.level_differences(ev.validate_scores(relative_table()), 200, seed=0)
    found = relative.relative_thresholds(differences, MARGIN, {"lfw": 80.0}, {("lfw", "deface", 1.0, 3.0)})
    return found, found.set_index("obfuscation")


def test_relative_statuses_have_the_known_answers(relative_found):
    found = relative_found[1]
    assert list(relative_found[0].columns) == relative.RELATIVE_COLUMNS
    got = {kind: (r["status"], _v(r["level"]), _v(r["identifies_level"]), _v(r["uniform_level"]))
           for kind, r in found.iterrows()}
    assert got == {
        "blur": ("bracketed", 16.0, 8.0, None),
        "pixelate": ("private_at_weakest", 4.0, None, None),
        "face_pixelate": ("uniform_still_identifies", None, 1.0, 1.0),
        "face_gaussian": ("grid_ends", None, 2.0, None),
        "deface": ("saturated_still_identifies", None, 3.0, None),
    }
    assert _v(found.loc["deface", "saturated_level"]) == 3.0
    assert found.loc["blur", "description"].startswith("reached at level 16 (bracket (8, 16]; AUC − black box")
    assert "(blur σ = 0, same recognizer, mode and region)" in found.loc["pixelate", "description"]
    assert found.loc["face_gaussian", "description"].startswith("grid ends at level 2 before the threshold")


def test_relative_report_summary_and_count(relative_found):
    empty = pd.DataFrame(columns=THRESHOLD_COLUMNS)
    report = privacy.privacy_report(empty, 0.55, relative_found[0], MARGIN)
    summary = report["relative_summary"]["lfw"]["view1"]["arcface"]["oracle_box"]
    assert summary == {"blur": {"region=1": 16.0}, "pixelate": {"region=1": 4.0},
                       "face_pixelate": {"region=1": "identifies even when uniform (max 1)"},
                       "face_gaussian": {"region=1": "grid ends (max 2)"},
                       "deface": {"region=1": "identifies even over the whole frame (max 3)"}}
    assert (report["relative_n_reached"], report["relative_n_not_reached"], report["relative_n_grid_ends"]) == (
        2, 3, 1)
    assert report["n_grid_ends"] == 0
    assert privacy.grid_end_warnings(report) == [
        "relative threshold not bracketed: lfw/view1 arcface/oracle_box, face_gaussian at region 1: the grid ends "
        "at level 2 before the threshold and before the box is uniform; extend render.obfuscations.face_gaussian "
        "in params.yaml"]
