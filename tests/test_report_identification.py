"""The report's first section: which setting hides a face, from metrics/identification.json
(flup/report/identification.py), and its place in the report."""

from __future__ import annotations

import pytest

from flup.io import write_json
from flup.report import document
from flup.report.identification import (
    TITLE,
    cell_text,
    identification_section,
    join,
    percent,
    relative_text,
    risk_text,
    thumbs_in,
    verification_section,
)
from flup.report.metrics_files import parse_identification, parse_privacy, parse_verification, read_metrics

PROTOCOL = {"folds": 3, "probes_per_identity": 1, "targets": 178, "distractors": 422, "probes": 178, "per_fold": []}
RULE = {"privacy_auc_upper": 0.55, "power": 0.8, "candidates": 10, "n_boot": 500, "chance_auc": 0.5}


def interval(estimate, low, high, chance=None, n=178):
    out = {"estimate": estimate, "low": low, "high": high, "se": 0.02, "n_clusters": n, "confidence": 0.95}
    return out if chance is None else {**out, "chance": chance}


def level(value, rank1, auc=(0.5, 0.45, 0.54), diff=None):
    """One tested level: its AUC and rank-1 among 10 (estimate, low, high), its difference to the black box."""
    return {"level": value, "n_probes": 178, "n_identities": 178,
            "metrics": {"auc": interval(*auc, chance=0.5), "rank1@10": interval(*rank1, chance=0.1),
                        "rank1@all": interval(0.02, 0.01, 0.03, chance=0.016853933)},
            "vs_blackbox": None if diff is None else interval(*diff)}


def verdict(status, level_=None, failed_below=None, deciding=16.0, n_needed=None, limit=0.55, n=178):
    return {"status": status, "limit": limit, "level": level_, "failed_below": failed_below,
            "deciding_level": deciding, "deciding_interval": interval(0.5, 0.45, 0.6, n=n), "n_needed": n_needed}


def cell(recognizer, kind, levels, absolute, relative=None, mode="oracle_box", region=1.0):
    return {"recognizer": recognizer, "recognizer_kind": "arcface" if recognizer == "arcface" else "attacker",
            "mode": mode, "obfuscation": kind, "region": region, "replicas": [], "levels": levels,
            "absolute": absolute, "relative": relative}


def blur_levels(rank8=(0.30, 0.25, 0.35), rank16=(0.12, 0.10, 0.14), rank32=(0.101, 0.09, 0.112)):
    return [level(0.0, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)), level(8.0, rank8), level(16.0, rank16),
            level(32.0, rank32)]


# --- one cell ------------------------------------------------------------------------------------


def test_a_private_cell_is_private_from_the_largest_of_the_recognisers_levels():
    cells = [cell("arcface", "blur", blur_levels(), verdict("private", 8.0, None, 32.0)),
             cell("adapter_blur", "blur", blur_levels(rank16=(0.15, 0.11, 0.19)),
                  verdict("private", 16.0, 8.0, 32.0))]
    joined = join(cells, "absolute")
    assert (joined.status, joined.level, joined.failed_below, joined.who) == ("private", 16.0, 8.0, ("adapter_blur",))
    # the risk at 16 is the recogniser that picks the right person most often there: adapter_blur's 15%
    assert cell_text(cells, 10) == ("**private from σ = 16 px** (not at σ = 8 px) · `adapter_blur` picks the right "
                                    "person out of 10 in **15%** of cases [11%, 19%] (chance: 10%)")


def test_one_leaking_recogniser_means_no_setting_hides_the_face_and_names_it():
    cells = [cell("arcface", "blur", blur_levels(), verdict("private", 16.0, 8.0, 32.0)),
             cell("adapter_blur", "blur", blur_levels(rank32=(0.41, 0.35, 0.47)), verdict("leaks", deciding=32.0))]
    assert join(cells, "absolute").status == "leaks"
    assert cell_text(cells, 10) == (
        "**no setting of this family hides a face over this region**: `adapter_blur` still identifies at σ = 32 px, "
        "the strongest level tested · `adapter_blur` picks the right person out of 10 in **41%** of cases "
        "[35%, 47%] (chance: 10%)")


def test_undecided_shows_the_most_identities_that_would_decide_it():
    cells = [cell("arcface", "pixelate", [level(16.0, (0.16, 0.13, 0.19))],
                  verdict("undecided", deciding=16.0, n_needed=473)),
             cell("adapter_blur", "pixelate", [level(16.0, (0.14, 0.11, 0.17))],
                  verdict("undecided", deciding=16.0, n_needed=848)),
             cell("adapter_pixelate", "pixelate", [level(16.0, (0.10, 0.09, 0.11))],
                  verdict("private", 16.0, deciding=16.0))]
    assert cell_text(cells, 10) == (
        "**undecided** at block 16 px, the strongest level tested: about 848 identities would decide it (178 tested) "
        "· ArcFace picks the right person out of 10 in **16%** of cases [13%, 19%] (chance: 10%)")


def test_the_black_box_names_no_level_and_small_shares_keep_a_decimal():
    cells = [cell("arcface", "blackbox", [level(1.0, (0.102, 0.093, 0.114))], verdict("private", 1.0, deciding=1.0))]
    assert cell_text(cells, 10) == ("**private** · ArcFace picks the right person out of 10 in **10.2%** of cases "
                                    "[9.3%, 11.4%] (chance: 10%)")
    assert (percent(0.016853933), percent(0.1), percent(0.351494)) == ("1.7%", "10%", "35%")


def test_the_risk_reads_the_candidates_of_the_rule_and_its_chance():
    cells = [cell("arcface", "blur", blur_levels(), verdict("private", 8.0))]
    assert risk_text(cells, 8.0, 10) == ("ArcFace picks the right person out of 10 in **30%** of cases [25%, 35%] "
                                         "(chance: 10%)")
    assert risk_text(cells, 8.0, 100) == ""  # no rank1@100 at that level: no risk line rather than a wrong one


def test_a_thumbnail_only_where_its_file_exists(tmp_path):
    folder = tmp_path / "thumbs"
    folder.mkdir()
    (folder / "blur_16_r1.png").write_bytes(b"png")
    (folder / "blur_32_r1.3.png").write_bytes(b"png")
    thumbs = thumbs_in(folder)
    assert thumbs == {"thumbs/blur_16_r1.png", "thumbs/blur_32_r1.3.png"}
    private = [cell("arcface", "blur", blur_levels(), verdict("private", 16.0, 8.0, 32.0))]
    assert cell_text(private, 10, thumbs).startswith("![σ = 16 px blur, 1× face box](thumbs/blur_16_r1.png) "
                                                     "**private from σ = 16 px**")
    leaking = [cell("arcface", "blur", blur_levels(), verdict("leaks", deciding=32.0))]  # 32 over 1×: no file
    assert cell_text(leaking, 10, thumbs).startswith("**no setting")
    assert "](thumbs/" not in cell_text(leaking, 10, thumbs)
    assert thumbs_in(tmp_path / "absent") == set()


def test_the_relative_rule_prints_its_margin():
    cells = [cell("arcface", "blur", blur_levels(), verdict("private", 8.0),
                  verdict("private", 16.0, 8.0, 32.0, limit=0.0718970814524331)),
             cell("adapter_blur", "blur", blur_levels(), verdict("private", 8.0),
                  verdict("private", 8.0, None, 32.0, limit=0.0634))]
    assert relative_text(cells) == "yes from σ = 16 px (margins 0.063–0.072)"
    cells[1]["relative"] = verdict("leaks", deciding=32.0, limit=0.0634)
    assert relative_text(cells) == "no, more revealing for `adapter_blur` (margins 0.063–0.072)"
    cells[1]["relative"] = verdict("undecided", deciding=32.0, n_needed=709, limit=0.0718970814524331)
    assert relative_text(cells) == "undecided, about 709 identities would decide it (margin 0.072)"


# --- the section ---------------------------------------------------------------------------------


def identification_fixture() -> dict:
    """Two threat models, two regions; end-to-end first in the file, as nothing promises the order."""
    cells = [
        cell("arcface", "blur", blur_levels(), verdict("private", 8.0, None, 32.0), mode="end_to_end"),
        cell("arcface", "blur", blur_levels(), verdict("private", 16.0, 8.0, 32.0),
             verdict("private", 16.0, 8.0, 32.0, limit=0.07)),
        cell("adapter_blur", "blur", blur_levels(rank32=(0.2, 0.15, 0.25)), verdict("undecided", n_needed=500,
                                                                                    deciding=32.0),
             verdict("private", 32.0, 16.0, 32.0, limit=0.06)),
        cell("arcface", "blur", blur_levels(), verdict("private", 8.0, None, 32.0), region=1.3),
        cell("adapter_blur", "blur", blur_levels(), verdict("private", 8.0, None, 32.0), region=1.3),
        cell("arcface", "blackbox", [level(1.0, (0.25, 0.2, 0.3))], verdict("leaks", deciding=1.0)),
        cell("arcface", "pixelate", [level(0.0 + 1.0, (1.0, 1.0, 1.0))], None),  # the baseline alone: no row
    ]
    return {"protocol": PROTOCOL, "rule": RULE, "not_cross_fitted": ["finetune_blur"], "cells": cells}


def test_the_section_has_a_table_per_threat_model_oracle_box_first():
    lines = identification_section(identification_fixture())
    text = "\n".join(lines)
    assert lines[0] == TITLE
    assert text.index("### The attacker knows where the face was (oracle box)") < text.index(
        "### The attacker must find the face first (end-to-end)")
    assert lines[2].startswith("178 people in 3 identity folds: one probe photo of each (178 in all) is obfuscated "
                               "and ranked against the sharp gallery of its fold (one photo per person, among 422 "
                               "more people who have a single photo")
    assert "chance is exactly 1 in 10" in lines[2] and "upper end ≤ 0.55 (chance 0.5)" in lines[2]
    oracle = text[text.index("(oracle box)"):text.index("(end-to-end)")]
    assert "| obfuscation | over 1× face box | over 1.3× face box |" in oracle
    assert ("| Gaussian blur | **undecided** at σ = 32 px, the strongest level tested: about 500 identities would "
            "decide it (178 tested) · `adapter_blur` picks the right person out of 10 in **20%** of cases [15%, 25%] "
            "(chance: 10%) | **private from σ = 8 px** · ArcFace picks the right person out of 10 in **30%** of "
            "cases [25%, 35%] (chance: 10%) |") in oracle
    assert ("| black box | **no setting of this family hides a face over this region**: ArcFace still identifies · "
            "ArcFace picks the right person out of 10 in **25%** of cases [20%, 30%] (chance: 10%) | — |") in oracle
    assert "pixelation" not in text  # nothing judged: no empty row
    assert ("*No more revealing than a black box over the same region* (the paired AUC difference's upper end below "
            "the margin, for every recogniser): Gaussian blur over 1× face box: yes from σ = 32 px "
            "(margins 0.060–0.070).") in oracle
    end_to_end = text[text.index("(end-to-end)"):]
    assert "| obfuscation | over 1× face box |\n" in end_to_end and "No more revealing" not in end_to_end
    assert ("Not in these tables: `finetune_blur` has no identification results (not cross-fitted, so never "
            "scored on people unseen in training)") in text


def test_no_metrics_no_section():
    assert identification_section(None) == []


# --- in the report -------------------------------------------------------------------------------

VERIFICATION = {"lfw": {"view1": {"arcface": {"oracle_box": {"blur": {"region=1": {
    "0": {"auc": 0.99, "auc_low": 0.98, "auc_high": 1.0},
    "8": {"auc": 0.52, "auc_low": 0.50, "auc_high": 0.54}}}}}}}}
PRIVACY = {"privacy_auc_upper": 0.55, "relative_margin": 0.01, "relative_thresholds": [], "thresholds": [
    {"dataset": "lfw", "protocol": "view1", "recognizer": "arcface", "mode": "oracle_box", "obfuscation": "blur",
     "region": 1.0, "level": 8.0, "reached": True}]}


def markdown(identified) -> str:
    return document.build_markdown(parse_verification(VERIFICATION), parse_privacy(PRIVACY), {}, None, {}, [],
                                   "Fake/Fake_0001.jpg", (), (), identified)


def test_the_section_comes_first_and_only_with_the_file(tmp_path):
    write_json(tmp_path / "verification.json", VERIFICATION)
    write_json(tmp_path / "privacy.json", PRIVACY)
    absent = read_metrics(tmp_path / "verification.json", tmp_path / "privacy.json", None,
                          tmp_path / "identification.json")
    assert absent.identification is None
    without = markdown(absent.identification)
    assert TITLE not in without and "## The answer: how strong" in without

    write_json(tmp_path / "identification.json", identification_fixture())
    present = read_metrics(tmp_path / "verification.json", tmp_path / "privacy.json", None,
                           tmp_path / "identification.json")
    assert present.identification["not_cross_fitted"] == ["finetune_blur"]
    report = markdown(present.identification)
    assert report.startswith("# Does the obfuscation hide identity? — privacy report\n\n" + TITLE + "\n")
    assert report.index(TITLE) < report.index("## The answer: how strong") < report.index("## The detail")
    assert report.count(TITLE) == 1


def test_the_reader_refuses_a_file_without_its_cells():
    with pytest.raises(ValueError, match="lacks cells"):
        parse_identification({"protocol": PROTOCOL, "rule": RULE})
    assert parse_identification({"protocol": PROTOCOL, "rule": RULE, "cells": []})["not_cross_fitted"] == []


def test_the_balanced_verification_table_shows_the_best_recogniser_per_level_and_region():
    def with_verification(levels, values):
        return [{**entry, "metrics": {**entry["metrics"], "verification_auc": interval(*v, chance=0.5)}}
                for entry, v in zip(levels, values, strict=True)]

    arcface = with_verification(blur_levels(), [(0.99, 0.98, 1.0), (0.8, 0.77, 0.83), (0.6, 0.57, 0.63),
                                                (0.51, 0.48, 0.54)])
    adapter = with_verification(blur_levels(), [(0.99, 0.98, 1.0), (0.85, 0.82, 0.88), (0.58, 0.55, 0.61),
                                                (0.53, 0.50, 0.56)])
    cells = [cell("arcface", "blur", arcface, verdict("private", 32.0)),
             cell("adapter_blur", "blur", adapter, verdict("private", 32.0)),
             cell("arcface", "blur", arcface, verdict("private", 32.0), mode="end_to_end")]
    lines = verification_section(cells)
    text = "\n".join(lines)
    assert "scores 0.5 exactly" in text
    rows = [line for line in lines if line.startswith("| Gaussian blur")]
    assert len(rows) == 4
    assert "0.850 [0.820, 0.880] `adapter_blur`" in rows[1]  # the adapter does best at sigma 8
    assert "0.600 [0.570, 0.630] ArcFace" in rows[2]  # ArcFace at sigma 16
    # no table without the metric
    assert verification_section([cell("arcface", "blur", blur_levels(), verdict("private", 32.0))]) == []
