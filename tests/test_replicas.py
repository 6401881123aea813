"""Training replicas: a recogniser trained with several seeds is evaluated per seed and reported as one row whose
threshold is the worst-case seed's, on synthetic score tables whose per-seed AUCs are known by construction."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from flup.evaluation import relative, replicas, series
from flup.evaluation import verification as ev

N_PAIRS = 2000
N_BOOT = 200
BOUND = 0.55
LABELS = (np.arange(N_PAIRS) % 2 == 0).astype(int)
# Per seed, how much the same pairs score above the different ones at each blur level: seed 2 is the strong run.
# At level 8 seeds 0 and 1 are at chance and seed 2 is not; from level 16 all three are.
SEPARATION = {0: {0: 2.0, 8: 0.0, 16: 0.0}, 1: {0: 2.0, 8: 0.0, 16: 0.0}, 2: {0: 2.0, 8: 0.6, 16: 0.0}}


def rows(recognizer, kind, level, scores, train_seed):
    return pd.DataFrame({
        "dataset": "lfw", "protocol": "view1", "recognizer": recognizer, "mode": "oracle_box", "obfuscation": kind,
        "region": 1.0, "level": float(level), "pair_id": np.arange(N_PAIRS), "fold": 0, "label": LABELS,
        "score": scores, "status": "ok", "seen_identities": False, "train_seed": train_seed})


def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for seed, levels in SEPARATION.items():
        noise = rng.normal(0, 1, N_PAIRS)
        parts.append(rows("adapter_blur", "blackbox", 1, noise, seed))
        for level, separation in levels.items():
            parts.append(rows("adapter_blur", "blur", level, noise + separation * LABELS + rng.normal(0, 0.5, N_PAIRS),
                              seed))
    # ArcFace: written without the column (a table from before replicas), and one-seed "single": plain rows
    arcface = rows("arcface", "blur", 0, rng.normal(0, 1, N_PAIRS) + 2 * LABELS, 0).drop(columns="train_seed")
    parts += [arcface, rows("single", "blur", 8, rng.normal(0, 1, N_PAIRS) + LABELS, 3)]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def evaluated():
    return ev.evaluate(table(), n_boot=N_BOOT, seed=0, privacy_bound=BOUND)


def test_replica_names_round_trip_and_only_replicated_recognisers_are_marked():
    assert replicas.split_name(replicas.replica_name("random_blur (seen identities)", 12)) == (
        "random_blur (seen identities)", 12)
    assert replicas.split_name("arcface") == ("arcface", None)
    frame = ev.validate_scores(table())
    assert set(frame["recognizer"]) == {"arcface", "single", *(f"adapter_blur [seed {s}]" for s in SEPARATION)}


def test_one_row_per_recogniser_with_the_mean_and_each_seed(evaluated):
    nested, curves, _, _ = evaluated
    assert set(curves["recognizer"]) == {"adapter_blur", "arcface", "single"}
    frame = ev.validate_scores(table())
    per_seed = {}
    for seed in SEPARATION:
        group = frame[(frame["recognizer"] == f"adapter_blur [seed {seed}]") & (frame["level"] == 8)]
        per_seed[seed] = roc_auc_score(group["label"], group["score"])
    record = nested["lfw"]["view1"]["adapter_blur"]["oracle_box"]["blur"]["region=1"]["8"]
    assert record["n_seeds"] == 3
    assert {int(s): v["auc"] for s, v in record["seeds"].items()} == pytest.approx(per_seed)
    assert record["auc"] == pytest.approx(np.mean(list(per_seed.values())))
    assert (record["auc_seed_min"], record["auc_seed_max"]) == pytest.approx(
        (min(per_seed.values()), max(per_seed.values())))
    assert record["auc_high"] == max(v["auc_high"] for v in record["seeds"].values())
    assert record["auc_low"] == min(v["auc_low"] for v in record["seeds"].values())
    row = curves[(curves["recognizer"] == "adapter_blur") & (curves["obfuscation"] == "blur")
                 & (curves["level"] == 8)].iloc[0]
    assert (row["n_seeds"], row["auc"], row["auc_high"], row["series"]) == (
        3, pytest.approx(record["auc"]), record["auc_high"], "adapter_blur/oracle_box")
    single = curves[curves["recognizer"] == "single"].iloc[0]
    assert (single["n_seeds"], single["auc_seed_min"], single["auc_seed_max"]) == (1, single["auc"], single["auc"])
    assert "seeds" not in nested["lfw"]["view1"]["single"]["oracle_box"]["blur"]["region=1"]["8"]


def test_the_threshold_is_the_worst_seeds(evaluated):
    _, curves, _, thresholds = evaluated
    blur = thresholds[(thresholds["recognizer"] == "adapter_blur") & (thresholds["obfuscation"] == "blur")].iloc[0]
    # seeds 0 and 1 are private from level 8; seed 2 only from 16: the row's threshold is 16
    assert blur["level"] == 16.0 and blur["identifies_level"] == 8.0 and blur["n_seeds"] == 3
    assert "mean of 3 seeds" in blur["description"]
    alone = ev.evaluate(table().query("train_seed != 2 and recognizer == 'adapter_blur'"), n_boot=N_BOOT, seed=0,
                        privacy_bound=BOUND)[3]
    assert alone.query("obfuscation == 'blur'")["level"].iloc[0] == 8.0  # without the strong seed: 8


def test_relative_differences_fold_to_the_highest_upper_end():
    frame = ev.validate_scores(table())
    differences = relative.level_differences(frame, N_BOOT, seed=0)
    keys = [*series.SERIES_KEYS, "obfuscation", "level"]
    folded = replicas.fold_differences(differences, keys)
    assert set(folded["recognizer"]) == {"adapter_blur", "arcface", "single"}
    per_seed = differences[differences["recognizer"].str.startswith("adapter_blur")].query("level == 8")
    row = folded.query("recognizer == 'adapter_blur' and level == 8").iloc[0]
    assert row["diff_high"] == per_seed["diff_high"].max() and row["diff_low"] == per_seed["diff_low"].min()
    assert row["auc_diff"] == pytest.approx(per_seed["auc_diff"].mean())
    found = relative.relative_thresholds(folded, 0.05).query("recognizer == 'adapter_blur'").iloc[0]
    assert found["level"] == 16.0


def test_a_recogniser_mixing_trained_and_untrained_rows_is_refused():
    bad = table()
    bad.loc[bad["recognizer"] == "adapter_blur", "train_seed"] = bad["train_seed"].where(bad["pair_id"] != 0, -1)
    with pytest.raises(ValueError, match="mix trained replicas"):
        ev.validate_scores(bad)


def test_a_seed_without_an_interval_leaves_the_folded_interval_undefined_in_both_outputs():
    # seed 1 scored only same pairs at level 16: no AUC, so the worst case there is unknown
    frame = table()
    frame = frame[~((frame["train_seed"] == 1) & (frame["level"] == 16) & (frame["label"] == 0))]
    nested, curves, _, _ = ev.evaluate(frame, n_boot=N_BOOT, seed=0, privacy_bound=BOUND)
    record = nested["lfw"]["view1"]["adapter_blur"]["oracle_box"]["blur"]["region=1"]["16"]
    assert record["seeds"]["1"]["auc_high"] is None and record["seeds"]["0"]["auc_high"] is not None
    assert (record["auc"], record["auc_low"], record["auc_high"], record["n_seeds"]) == (None, None, None, 3)
    row = curves.query("recognizer == 'adapter_blur' and obfuscation == 'blur' and level == 16").iloc[0]
    assert np.isnan(row["auc"]) and np.isnan(row["auc_low"]) and np.isnan(row["auc_high"])
    assert replicas.fold_rule("auc_high") == "max" and replicas.fold_rule("eer") == "mean"
