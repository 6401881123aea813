"""The report leads with the answer: threshold cells by status, the trained-on x tested-on matrix, thumbnails."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from flup.report import answer
from flup.report.metrics_files import Auc, parse_privacy, parse_relative_threshold, parse_threshold
from flup.report.naming import thumb_file
from flup.report.thumbnails import thumb_levels, thumbnail, write_thumbs

TRAINED = {"blur_attacker": "blur", "mix": "mixture"}
# The records below are privacy.json's, as the evaluate stage writes them; the report reads them typed.
T, R = parse_threshold, parse_relative_threshold


def typed(records: list[dict]) -> list:
    return [T(r) for r in records]


def record(obfuscation="blur", recognizer="arcface", mode="oracle_box", region=1.0, **fields) -> dict:
    base = {"dataset": "lfw", "protocol": "view1", "recognizer": recognizer, "mode": mode,
            "series": f"{recognizer}/{mode}", "obfuscation": obfuscation, "region": region, "bound": 0.55,
            "reached": False, "level": None, "level_per_face": None, "auc": 0.6, "auc_low": 0.57, "auc_high": 0.63,
            "max_level_tested": 24.0, "max_level_per_face": 0.26}
    return base | fields


# One record per status, hand-written as the bracketing evaluate stage writes them.
BRACKETED = record(status="bracketed", reached=True, level=48.0, level_per_face=0.51, identifies_level=32.0,
                   uniform_level=None, auc=0.53, auc_low=0.50, auc_high=0.55, max_level_tested=64.0)
WEAKEST = record("pixelate", status="private_at_weakest", reached=True, level=4.0, level_per_face=0.043,
                 identifies_level=None, uniform_level=None, auc=0.51, auc_low=0.48, auc_high=0.54)
UNIFORM = record("blackbox", recognizer="blur_attacker", status="uniform_still_identifies", reached=False,
                 identifies_level=1.0, uniform_level=1.0, auc=0.62, auc_low=0.58, auc_high=0.65, max_level_tested=1.0)
UNIFORM_BLUR = record("blur", recognizer="mix", status="uniform_still_identifies", reached=False,
                      identifies_level=100.0, uniform_level=100.0, auc=0.60, auc_low=0.57, auc_high=0.63,
                      max_level_tested=100.0)
GRID_ENDS = record("pixelate", mode="end_to_end", status="grid_ends", reached=False, identifies_level=24.0,
                   uniform_level=None, auc=0.74, auc_low=0.70, auc_high=0.77)
SATURATED = record("deface", recognizer="deface_attacker", status="saturated_still_identifies", reached=False,
                   identifies_level=3.0, uniform_level=None, saturated_level=3.0, auc=0.63, auc_low=0.60,
                   auc_high=0.66, max_level_tested=3.0)
THUMBS = {thumb_file("blur", 48), thumb_file("pixelate", 4), thumb_file("blackbox", 1), thumb_file("blur", 100),
          thumb_file("pixelate", 24), thumb_file("blur", 48, 1.3), thumb_file("deface", 3.0)}


def test_each_status_reads_as_its_own_sentence_with_the_right_thumbnail():
    cell = answer.answer_cell(T(BRACKETED), thumbs=THUMBS)
    assert "σ = 48 px (0.51 × face) · bracket (32, 48] · AUC 0.530 [0.500, 0.550]" in cell
    assert "](thumbs/blur_48_r1.png)" in cell
    cell = answer.answer_cell(T(WEAKEST), thumbs=THUMBS)
    assert "block 4 px (0.043 × face) · private already at the weakest level tested · AUC 0.510" in cell
    assert "](thumbs/pixelate_4_r1.png)" in cell and "bracket" not in cell
    cell = answer.answer_cell(T(UNIFORM), thumbs=THUMBS)
    assert "**never**: even uniform, the AUC's upper end stays above 0.55 (AUC 0.620 [0.580, 0.650])" in cell
    assert "](thumbs/blackbox_1_r1.png)" in cell
    cell = answer.answer_cell(T(UNIFORM_BLUR), thumbs=THUMBS)
    assert "**never**: even uniform (σ = 100 px), the AUC's upper end stays above 0.55" in cell
    assert "](thumbs/blur_100_r1.png)" in cell
    cell = answer.answer_cell(T(GRID_ENDS), thumbs=THUMBS)
    assert "⚠ **gap: the grid ends** at block 24 px (0.26 × face), still identifying (AUC 0.740" in cell
    assert "](thumbs/pixelate_24_r1.png)" in cell
    cell = answer.answer_cell(T(SATURATED), thumbs=THUMBS)
    assert ("**never**: even over the whole frame (from mask scale 3), the AUC's upper end stays above 0.55 "
            "(AUC 0.630 [0.600, 0.660])") in cell
    assert "](thumbs/deface_3_r1.png)" in cell and "gap" not in cell
    assert answer.relative_cell(R(SATURATED)) == (
        "**never**: even over the whole frame, the upper end stays above the margin")
    # the region picks the thumbnail; one the plot stage did not write is left out, not invented
    assert "](thumbs/blur_48_r1.3.png)" in answer.answer_cell(T(BRACKETED | {"region": 1.3}), thumbs=THUMBS)
    assert "![" not in answer.answer_cell(T(BRACKETED | {"region": 1.6}), thumbs=THUMBS)


def test_records_without_the_new_fields_fall_back_on_reached_and_level():
    old = {k: v for k, v in BRACKETED.items() if k not in ("status", "identifies_level", "uniform_level")}
    tested = [0.0, 8.0, 16.0, 32.0, 48.0, 64.0]
    assert answer.status_of(T(old), tested) == ("bracketed", 32.0)
    assert "σ = 48 px (0.51 × face) · bracket (32, 48]" in answer.answer_cell(T(old), tested, THUMBS)
    weakest = {k: v for k, v in WEAKEST.items() if k not in ("status", "identifies_level", "uniform_level")}
    assert answer.status_of(T(weakest), [4.0, 8.0]) == ("private_at_weakest", None)
    ended = {k: v for k, v in GRID_ENDS.items() if k not in ("status", "identifies_level", "uniform_level")}
    assert "⚠ **gap: the grid ends** at block 24 px" in answer.answer_cell(T(ended), [8.0, 24.0], THUMBS)
    box = {k: v for k, v in UNIFORM.items() if k not in ("status", "identifies_level", "uniform_level")}
    assert answer.status_of(T(box)) == ("uniform_still_identifies", None)  # a black box is uniform by construction
    assert "**never**" in answer.answer_cell(T(box), thumbs=THUMBS)
    relative = {"dataset": "lfw", "protocol": "view1", "recognizer": "arcface", "mode": "oracle_box",
                "obfuscation": "blur", "region": 1.0, "reached": None, "level": None, "max_level_tested": 24.0}
    assert answer.relative_cell(R(relative)) == "no black box on these pairs"
    reached = relative | {"reached": True, "level": 24.0, "auc_diff": -0.005, "diff_low": -0.016, "diff_high": 0.005}
    assert answer.relative_cell(R(reached), [20.0, 22.0, 24.0]) == (
        "σ = 24 px · bracket (22, 24] · AUC − black box -0.005 [-0.016, +0.005]")
    assert "gap" in answer.relative_cell(R(relative | {"reached": False}))


def test_answer_table_has_one_table_per_region_and_the_attackers_in_order():
    records = [BRACKETED, WEAKEST, UNIFORM, UNIFORM_BLUR, GRID_ENDS,
               record(recognizer="random_crop", status="bracketed", reached=True, level=8.0, identifies_level=4.0),
               BRACKETED | {"region": 1.3}, record(protocol="view2", recognizer="arcface", status="grid_ends")]
    privacy = parse_privacy({"privacy_auc_upper": 0.55, "thresholds": records})
    lines = answer.answer_section(privacy, TRAINED, thumbs=THUMBS)
    text = "\n".join(lines)
    assert text.count("### Obfuscating") == 2
    assert text.index("### Obfuscating 1× face box") < text.index("### Obfuscating 1.3× face box")
    region_one = lines[lines.index("### Obfuscating 1× face box"):]
    header = next(line for line in region_one if line.startswith("| obfuscation"))
    assert header == ("| obfuscation | ArcFace, oracle box | ArcFace, end-to-end | `blur_attacker` (trained on "
                      "Gaussian blur), oracle box | `mix` (trained on a mixture of every family), oracle box |")
    assert "random_crop" not in text  # the dual-stream models stay in the detail
    rows = [line for line in region_one if line.startswith("| pixelation")]
    assert "private already" in rows[0].split(" | ")[1] and "gap" in rows[0].split(" | ")[2]
    # Before the region tables, all of them at once: a column per region.
    summary = lines[lines.index("### Against every attacker at once"):lines.index("### Obfuscating 1× face box")]
    assert "| obfuscation | over 1× face box | over 1.3× face box |" in summary


def test_against_every_attacker_the_strongest_threshold_decides_and_any_never_wins():
    arcface = record(status="bracketed", reached=True, level=48.0, level_per_face=0.51, identifies_level=32.0)
    attacker = record(recognizer="blur_attacker", status="bracketed", reached=True, level=64.0, level_per_face=0.68,
                      identifies_level=48.0)
    mix = record(recognizer="mix", status="private_at_weakest", reached=True, level=4.0, identifies_level=None)
    cell = answer.every_attacker_cell(typed([arcface, attacker, mix]), thumbs={thumb_file("blur", 64)})
    assert cell.endswith("σ = 64 px (0.68 × face) · bracket (48, 64] · decided by `blur_attacker`")
    assert "](thumbs/blur_64_r1.png)" in cell
    # Two attackers needing the same level are both named; the bracket is the higher of their lower ends.
    tied = arcface | {"level": 64.0, "level_per_face": 0.68, "identifies_level": 24.0}
    assert answer.every_attacker_cell(typed([tied, attacker])).endswith(
        "bracket (48, 64] · decided by ArcFace (oracle box) and `blur_attacker`")
    assert answer.every_attacker_cell(typed([mix])) == "σ = 4 px · already the weakest level tested · decided by `mix`"
    # One attacker never private makes the family never private over that region, whatever the others need.
    assert answer.every_attacker_cell(typed([arcface, attacker, UNIFORM_BLUR])) == (
        "**never**: `mix` stays above the bound even uniform")
    assert answer.every_attacker_cell(typed([UNIFORM_BLUR, UNIFORM_BLUR | {"recognizer": "blur_attacker"}])) == (
        "**never**: all 2 attackers stay above the bound even uniform")
    many = [UNIFORM_BLUR | {"recognizer": f"a{i}"} for i in range(4)] + [arcface]
    assert answer.every_attacker_cell(typed(many)) == (
        "**never**: 4 of the 5 attackers stay above the bound even uniform")
    assert answer.every_attacker_cell(typed([SATURATED])) == (
        "**never**: `deface_attacker` stays above the bound even over the whole frame")
    assert answer.every_attacker_cell(typed([arcface, GRID_ENDS])) == (
        "⚠ **gap**: ArcFace end-to-end stays above the bound where the grid ends")
    assert answer.every_attacker_cell(typed([])) == "—"
    relative = answer.every_attacker_cell(typed([UNIFORM_BLUR]), still=answer.ABOVE_MARGIN)
    assert relative == "**never**: `mix` stays above the margin even uniform"


def test_matrix_is_the_mean_auc_over_obfuscated_levels_at_region_one_oracle_box_view1():
    rows = []
    for level, auc in [(0, 0.99), (4, 0.80), (8, 0.60)]:  # sharp left out: (0.80 + 0.60) / 2 = 0.70
        rows.append(dict(recognizer="blur_attacker", obfuscation="blur", level=level, auc=auc))
        rows.append(dict(recognizer="mix", obfuscation="blur", level=level, auc=auc - 0.1))  # 0.60
    rows += [dict(recognizer="blur_attacker", obfuscation="pixelate", level=8, auc=0.55),
             dict(recognizer="mix", obfuscation="pixelate", level=8, auc=0.65),
             dict(recognizer="mix", obfuscation="pixelate", level=8, auc=0.99, region=1.3),  # other region
             dict(recognizer="mix", obfuscation="pixelate", level=8, auc=0.99, mode="end_to_end"),
             dict(recognizer="mix", obfuscation="pixelate", level=8, auc=0.99, protocol="view2"),
             dict(recognizer="arcface", obfuscation="pixelate", level=8, auc=0.99)]  # not a trained attacker
    base = dict(dataset="lfw", protocol="view1", mode="oracle_box", region=1.0)
    curves = pd.DataFrame([base | r for r in rows])
    matrix = answer.trained_matrix(curves.to_dict("records"), TRAINED)
    assert matrix["blur_attacker"]["blur"] == (pytest.approx(0.70), 2)
    assert matrix["mix"]["blur"] == (pytest.approx(0.60), 2)
    assert matrix["mix"]["pixelate"] == (pytest.approx(0.65), 1)
    lines = answer.matrix_section(curves.to_dict("records"), TRAINED)
    assert "| `blur_attacker`: Gaussian blur | **0.700** | 0.550 |" in lines
    assert "| `mix`: mixture | 0.600 | **0.650** |" in lines
    assert "mean verification ROC AUC over that family's tested obfuscated levels" in "\n".join(lines)


def test_attacker_families_read_the_config_defensively():
    params = {"attackers": {"a": {"method": "adapter", "obfuscation": "pixelate"}, "b": {"obfuscation": "mixture"},
                            "c": {"method": "finetune"}}}
    assert answer.attacker_families(params) == {"a": "pixelate", "b": "mixture", "c": None}
    assert answer.attacker_families({}) == {}


def face() -> tuple[np.ndarray, tuple[float, ...]]:
    image = np.random.default_rng(3).integers(0, 256, size=(250, 250, 3), dtype=np.uint8)
    return image, (80.0, 70.0, 170.0, 190.0)


def test_thumbnails_are_byte_deterministic_and_differ_between_levels(tmp_path):
    image, box = face()
    a = thumbnail(image, box, "blur", 8, 1.0)
    assert a == thumbnail(image.copy(), box, "blur", 8, 1.0)
    assert a != thumbnail(image, box, "blur", 16, 1.0) != thumbnail(image, box, "blur", 16, 1.3)
    small = cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_COLOR)
    assert small.shape == (96, 96, 3)
    levels = thumb_levels([("blur", 8.0, 1.0), ("blackbox", 1.0, 1.3)],
                          pd.DataFrame({"obfuscation": ["blur", "blur", "mosaic"], "level": [12.0, 8.0, 2.0],
                                        "region": [1.3, 1.0, 1.0]}))
    assert levels == [("blur", 8.0, 1.0), ("blur", 12.0, 1.3), ("blackbox", 1.0, 1.3)]
    written = write_thumbs(image, box, levels, tmp_path)
    first = {p: (tmp_path / p).read_bytes() for p in written}
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == [
        "blackbox_1_r1.3.png", "blur_12_r1.3.png", "blur_8_r1.png"]
    write_thumbs(image, box, levels, tmp_path)
    assert first == {p: (tmp_path / p).read_bytes() for p in written}


def test_the_seed_sentence_says_how_many_seeds_and_that_the_worst_decides():
    one = answer.seeds_text(typed([record(recognizer="adapter_blur", n_seeds=1), record()]))
    assert one.startswith("Each trained attacker here is one training run")
    three = answer.seeds_text(typed([record(recognizer="adapter_blur", n_seeds=3), record(n_seeds=1)]))
    assert "summarises 3 training seeds" in three and "worst seed's" in three
    cell = answer.auc_interval(Auc(auc=0.6, auc_low=0.55, auc_high=0.66, n_seeds=3, auc_seed_min=0.58,
                                   auc_seed_max=0.62))
    assert cell == "AUC 0.600, 3 seeds 0.580–0.620 [0.550, 0.660]"
