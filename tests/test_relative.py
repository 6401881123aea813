"""The relative threshold: "no more revealing than a black box over the same region", on synthetic score
tables whose answer is known by construction."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from flup.evaluation import privacy, relative
from flup.evaluation import verification as ev
from flup.evaluation.absolute import THRESHOLD_COLUMNS
from flup.verify import metrics, scoring

N_PAIRS = 1000
N_BOOT = 300
MARGIN = 0.01


def score_table(seed: int = 0) -> pd.DataFrame:
    """view1: a black box near chance; blur reveals identity below level 3 and scores like the black box (a
    tiny jitter) from 3 on -> threshold 3; pixelation always reveals a little more -> never reached.
    view2 has no black box -> no relative threshold."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(N_PAIRS) % 2 == 0).astype(int)
    reference = rng.normal(0.1, 0.1, N_PAIRS) + 0.02 * labels  # the black box: AUC a little above 0.5
    rows = []

    def add(protocol, kind, level, scores, status=None):
        for pair_id in range(N_PAIRS):
            rows.append(("lfw", protocol, "arcface", "oracle_box", kind, 1.0, float(level), pair_id, 0, labels[pair_id],
                         scores[pair_id], "ok" if status is None else status[pair_id], False))

    add("view1", "blackbox", 1, reference)
    for level in (0, 1, 2, 3, 4, 5):
        shift = 0.3 if level < 3 else 0.0
        scores = reference + shift * labels + rng.normal(0, 0.001, N_PAIRS)
        status = np.where(np.arange(N_PAIRS) % 97 == 3, "excluded", "ok")  # dropped from both sides
        add("view1", "blur", level, np.where(status == "ok", scores, np.nan), status)
    for level in (4, 8):
        add("view1", "pixelate", level, reference + 0.08 * labels + rng.normal(0, 0.001, N_PAIRS))
    add("view2", "blur", 0, reference + 0.3 * labels)
    return pd.DataFrame(rows, columns=scoring.SCORE_COLUMNS)


@pytest.fixture(scope="module")
def scores():
    return ev.validate_scores(score_table())


@pytest.fixture(scope="module")
def differences(scores):
    return relative.level_differences(scores, N_BOOT, seed=0)


@pytest.fixture(scope="module")
def thresholds(differences):
    return relative.relative_thresholds(differences, MARGIN).set_index(["protocol", "obfuscation"])


def test_known_threshold_and_not_reached(thresholds):
    blur = thresholds.loc[("view1", "blur")]
    assert blur["reached"] is True and blur["level"] == 3.0 and blur["holds_above"]
    assert blur["diff_high"] < MARGIN and blur["reference_level"] == 1.0
    assert blur["description"].startswith("reached at level 3")
    pixelate = thresholds.loc[("view1", "pixelate")]
    assert pixelate["reached"] is False and pd.isna(pixelate["level"])
    assert pixelate["diff_low"] > MARGIN and pixelate["max_level_tested"] == 8.0
    assert pixelate["description"].startswith("grid ends at level 8 before the threshold")
    assert (blur["status"], blur["identifies_level"]) == ("bracketed", 2.0)
    assert (pixelate["status"], pixelate["identifies_level"], pixelate["uniform_level"]) == ("grid_ends", 8.0, None)


def test_no_black_box_on_the_pairs_is_null_with_reason(thresholds):
    view2 = thresholds.loc[("view2", "blur")]
    assert view2["reached"] is None and pd.isna(view2["level"]) and pd.isna(view2["auc_diff"])
    assert view2["description"] == "no black box scored on these pairs"
    assert pd.isna(view2["status"]) and pd.isna(view2["identifies_level"])


def test_black_box_is_the_reference_not_a_row(differences):
    assert relative.REFERENCE not in set(differences["obfuscation"])


def test_pairs_are_those_scored_on_both_sides(differences):
    blur = differences[(differences["protocol"] == "view1") & (differences["obfuscation"] == "blur")]
    excluded = sum(1 for i in range(N_PAIRS) if i % 97 == 3)
    assert set(blur["n_pairs"]) == {N_PAIRS - excluded}


def test_point_difference_is_the_difference_of_aucs(scores, differences):
    row = differences[(differences["protocol"] == "view1") & (differences["obfuscation"] == "blur")
                      & (differences["level"] == 1.0)].iloc[0]
    view1 = scores[scores["protocol"] == "view1"]
    blur = view1[(view1["obfuscation"] == "blur") & (view1["level"] == 1.0) & (view1["status"] == "ok")]
    box = view1[(view1["obfuscation"] == "blackbox") & view1["pair_id"].isin(blur["pair_id"])]
    expected = roc_auc_score(blur["label"], blur["score"]) - roc_auc_score(box["label"], box["score"])
    assert row["auc_diff"] == pytest.approx(expected, abs=1e-12)
    assert row["diff_low"] <= row["auc_diff"] <= row["diff_high"]


def test_the_bootstrap_is_paired():
    """One resample for both AUCs: identical scores differ by exactly 0 in every replicate, and a tiny
    jitter gives an interval far narrower than either AUC's own interval."""
    rng = np.random.default_rng(3)
    labels = np.arange(600) % 2
    reference = rng.normal(0, 1, 600) + 0.3 * labels
    assert relative.paired_auc_difference(reference, reference, labels, 200, seed=1) == (0.0, 0.0, 0.0)
    jittered = reference + rng.normal(0, 0.01, 600)
    _, low, high = relative.paired_auc_difference(jittered, reference, labels, 200, seed=1)
    auc_low, auc_high = metrics.bootstrap_auc_ci(reference, labels, 200, seed=1)
    assert high - low < 0.1 * (auc_high - auc_low)


def test_against_a_constant_reference_it_is_the_auc_interval():
    """Against a constant reference (AUC 0.5 in every replicate) the interval is the AUC interval minus 0.5,
    up to bootstrap noise: the same stratified resampling as ``metrics.bootstrap_auc_ci``."""
    rng = np.random.default_rng(4)
    labels = np.arange(400) % 2
    scores = rng.normal(0, 1, 400) + 0.5 * labels
    diff, low, high = relative.paired_auc_difference(scores, np.full(400, -1.0), labels, 250, seed=7)
    auc_low, auc_high = metrics.bootstrap_auc_ci(scores, labels, 250, seed=7)
    assert diff == pytest.approx(metrics.roc_auc(scores, labels) - 0.5)
    assert (low, high) == pytest.approx((auc_low - 0.5, auc_high - 0.5), abs=0.015)


def test_deterministic_under_the_seed_and_independent_of_other_groups(scores, differences):
    again = relative.level_differences(scores, N_BOOT, seed=0)
    pd.testing.assert_frame_equal(differences, again)
    other = relative.level_differences(scores, N_BOOT, seed=1)
    assert not np.allclose(other["diff_high"].dropna().astype(float), differences["diff_high"].dropna().astype(float))
    alone = relative.level_differences(scores[scores["obfuscation"] != "pixelate"], N_BOOT, seed=0)
    merged = alone.merge(differences, on=["protocol", "obfuscation", "level"], suffixes=("", "_all"))
    assert len(merged) == len(alone)
    assert (merged["diff_high"].astype(float).fillna(-9) == merged["diff_high_all"].astype(float).fillna(-9)).all()


def test_paired_difference_refuses_bad_input():
    with pytest.raises(ValueError, match="both same"):
        relative.paired_auc_difference([0.1, 0.2], [0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="equal length"):
        relative.paired_auc_difference([0.1, 0.2], [0.1], [1, 0])


def test_privacy_report_carries_both_thresholds(differences):
    records = relative.relative_thresholds(differences, MARGIN)
    absolute = pd.DataFrame(columns=THRESHOLD_COLUMNS)
    report = privacy.privacy_report(absolute, 0.55, records, MARGIN)
    json.dumps(report, allow_nan=False)
    assert report["relative_margin"] == MARGIN
    assert report["relative_n_reached"] == 1 and report["relative_n_not_reached"] == 1
    summary = report["relative_summary"]["lfw"]
    assert summary["view1"]["arcface"]["oracle_box"] == {"blur": {"region=1": 3.0},
                                                          "pixelate": {"region=1": "grid ends (max 8)"}}
    assert report["relative_n_grid_ends"] == 1  # the black-box-less view2 record has no status
    assert summary["view2"]["arcface"]["oracle_box"] == {"blur": {"region=1": "no black box on these pairs"}}
    assert len(report["relative_thresholds"]) == 3
