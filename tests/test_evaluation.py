import json
import logging
import math

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from flup.evaluation import absolute, privacy
from flup.evaluation import verification as ev
from flup.report import figures
from flup.verify import metrics, scoring
from tests.conftest import REPO, write_params

N_PAIRS = 1200  # 600 same, 600 different: at chance the bootstrap upper bound is about 0.53
N_BOOT = 200
LEVELS = {"blur": [0, 4, 8, 16, 24], "pixelate": [1, 4, 8], "blackbox": [1]}
PARAMS = {
    "evaluate": {
        "n_boot": N_BOOT, "seed": 0, "privacy_auc_upper": 0.55,
        "roc_levels": {"blur": [0, 8, 16], "pixelate": [8], "blackbox": [1]},
    },
    "plot": {"gallery_image": None, "gallery_levels": {"blur": [0, 8], "pixelate": [8], "blackbox": [1]}},
}


def shift(obfuscation: str, level: float) -> float:
    """How far same-pair scores sit above different-pair scores."""
    if obfuscation == "blur":
        return 0.5 * max(0.0, 1.0 - level / 16)  # identical distributions from sigma 16 on
    if obfuscation == "pixelate":
        return 0.5 - 0.03 * level  # still 0.26 at the strongest level: threshold never reached
    return 0.0  # black box: chance


def fails(recognizer: str, mode: str, obfuscation: str, level: float, pair_id: int, label: int) -> bool:
    """arcface end-to-end loses the face of some *same* pairs at blur sigma 8 (20%) and all pairs from 16."""
    if recognizer != "arcface" or mode != "end_to_end":
        return False
    if obfuscation == "blur" and level == 8:
        return label == 1 and pair_id % 5 == 0
    return (obfuscation == "blur" and level >= 16) or obfuscation == "blackbox"


def make_scores(protocols=("view1", "view2"), n_pairs: int = N_PAIRS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = rng.normal(0.1, 0.1, size=n_pairs // 2)  # both classes share it: shift 0 means AUC exactly 0.5
    rows = []
    for protocol in protocols:
        for recognizer, modes in (("arcface", ("end_to_end", "oracle_box")), ("tight_crop", ("oracle_box",))):
            for mode in modes:
                for obfuscation, levels in LEVELS.items():
                    for level in levels:
                        for pair_id in range(n_pairs):
                            label = int(pair_id % 2 == 0)
                            score = base[pair_id // 2] + label * shift(obfuscation, level)
                            status = "ok"
                            if pair_id % 50 == 1:  # a different pair whose sharp image had no face
                                status, score = "excluded", math.nan
                            elif fails(recognizer, mode, obfuscation, level, pair_id, label):
                                status, score = "not_detected", -1.0
                            rows.append((
                                "lfw", protocol, recognizer, mode, obfuscation, 1.0, float(level), pair_id,
                                pair_id % 10 if protocol == "view2" else 0, label, score, status, False,
                            ))
    return pd.DataFrame(rows, columns=scoring.SCORE_COLUMNS)


@pytest.fixture(scope="module")
def scores():
    return make_scores()


@pytest.fixture(scope="module")
def result(scores):
    return ev.evaluate(scores, n_boot=N_BOOT, seed=0, privacy_bound=0.55, roc_levels=PARAMS["evaluate"]["roc_levels"])


def group(scores, **key):
    mask = np.ones(len(scores), dtype=bool)
    for column, value in key.items():
        mask &= scores[column] == value
    return scores[mask]


# --- grouping and keys ---------------------------------------------------------------------------


def test_nested_keys(result):
    metrics, curves, _, _ = result
    assert list(metrics) == ["lfw"]
    assert list(metrics["lfw"]) == ["view1", "view2"]
    assert set(metrics["lfw"]["view1"]) == {"arcface", "tight_crop"}
    assert set(metrics["lfw"]["view1"]["arcface"]) == {"end_to_end", "oracle_box"}
    assert set(metrics["lfw"]["view1"]["tight_crop"]) == {"oracle_box"}
    blur = metrics["lfw"]["view1"]["arcface"]["end_to_end"]["blur"]["region=1"]
    assert list(blur) == ["0", "4", "8", "16", "24"]  # numeric order, integer-looking keys
    assert list(metrics["lfw"]["view1"]["arcface"]["end_to_end"]["pixelate"]["region=1"]) == ["1", "4", "8"]
    n_groups = 2 * 3 * sum(len(v) for v in LEVELS.values())
    assert len(curves) == n_groups
    assert list(curves.columns) == ev.CURVE_COLUMNS
    assert set(curves["series"]) == {"arcface/end_to_end", "arcface/oracle_box", "tight_crop/oracle_box"}
    keys = {"n_pairs", "auc", "auc_low", "auc_high", "accuracy", "accuracy_protocol", "eer", "tar_far_1e-2",
            "tar_far_1e-3", "mean_cos_same", "mean_one_minus_cos_diff", "pairs_excluded", "failures",
            "detection_rate"}
    assert keys <= set(blur["0"])


def test_level_key():
    assert scoring.level_key(8.0) == "8"
    assert scoring.level_key(2.5) == "2.5"
    assert scoring.level_key(0) == "0"


def test_auc_high_when_sharp_and_chance_at_the_top(result):
    metrics, _, _, _ = result
    for protocol in ("view1", "view2"):
        blur = metrics["lfw"][protocol]["tight_crop"]["oracle_box"]["blur"]["region=1"]
        assert blur["0"]["auc"] > 0.99
        assert blur["24"]["auc"] == pytest.approx(0.5, abs=0.01)  # excluded pairs make it not exactly 0.5
        assert blur["24"]["auc_low"] < 0.5 < blur["24"]["auc_high"] <= 0.55


def test_failures_count_as_non_matches(scores, result):
    """Every metric of a group with failures, against references that do not use flup's metrics code."""
    metrics, _, _, _ = result
    rec = metrics["lfw"]["view1"]["arcface"]["end_to_end"]["blur"]["region=1"]["8"]
    # Counted by hand from make_scores: odd pair_ids are different pairs and every 50th from 1 is excluded
    # (24 of 1200); the failed pairs are the same pairs (even ids) with pair_id % 5 == 0, i.e. % 10 == 0: 120.
    assert (rec["n_pairs"], rec["n_same"], rec["n_diff"]) == (1176, 600, 576)  # failures stay in the metrics
    assert (rec["failures"], rec["pairs_excluded"]) == (120, 24)
    assert rec["detection_rate"] == pytest.approx(1 - 120 / 1176)
    # The reference scores: a failure is a non-match at -1 (set here from the status, not taken from the table).
    frame = group(scores, protocol="view1", recognizer="arcface", mode="end_to_end", obfuscation="blur", level=8.0)
    kept = frame[frame["status"] != "excluded"]
    s = np.where(kept["status"] == "ok", kept["score"], -1.0)
    y = kept["label"].to_numpy()
    same, diff = s[y == 1], s[y == 0]
    assert rec["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert rec["mean_cos_same"] == pytest.approx(same.mean(), abs=1e-12)
    assert rec["mean_one_minus_cos_diff"] == pytest.approx((1 - diff).mean(), abs=1e-12)
    # Brute force over every threshold t ("same" when score >= t).
    thresholds = np.r_[np.unique(s), np.inf]
    tpr = np.array([(same >= t).mean() for t in thresholds])
    fpr = np.array([(diff >= t).mean() for t in thresholds])
    for key, far in (("tar_far_1e-2", 1e-2), ("tar_far_1e-3", 1e-3)):
        assert rec[key] == tpr[fpr <= far].max(), key
    # EER: where the false-accept and false-reject rates cross, within one step of the ROC staircase.
    crossing = np.argmin(np.abs(fpr - (1 - tpr)))
    assert rec["eer"] == pytest.approx((fpr[crossing] + 1 - tpr[crossing]) / 2, abs=2 / len(diff))
    best = max(((s >= t) == (y == 1)).mean() for t in thresholds)  # in-sample best accuracy
    assert abs(rec["accuracy"] - best) < 0.02  # split-half accuracy fits the threshold on the other half
    # A plain stratified bootstrap (numpy + scikit-learn) gives the same 95% interval within Monte Carlo noise
    # (the AUC's bootstrap SD is ~0.016 here; percentile noise of 200 vs 1000 replicates ~0.003).
    rng = np.random.default_rng(12345)
    labels = np.r_[np.ones(same.size), np.zeros(diff.size)]
    aucs = [roc_auc_score(labels, np.r_[rng.choice(same, same.size), rng.choice(diff, diff.size)])
            for _ in range(1000)]
    low, high = np.quantile(aucs, [0.025, 0.975])
    assert rec["auc_low"] == pytest.approx(low, abs=0.01) and rec["auc_high"] == pytest.approx(high, abs=0.01)
    # Dropping the failures instead (as the seed study did) would flatter the attacker.
    ok = kept[kept["status"] == "ok"]
    assert roc_auc_score(ok["label"], ok["score"]) > rec["auc"] + 0.05
    # ... and the oracle-box attacker, which never fails, keeps the higher AUC.
    assert metrics["lfw"]["view1"]["arcface"]["oracle_box"]["blur"]["region=1"]["8"]["failures"] == 0


def test_failure_scores_are_forced_to_minus_one(scores):
    frame = group(scores, protocol="view1", recognizer="arcface", mode="end_to_end", obfuscation="blur", level=8.0)
    frame = frame.copy()
    frame.loc[frame["status"] == "not_detected", "score"] = np.nan
    a = ev.evaluate_group(ev.validate_scores(frame), N_BOOT, 1)
    b = ev.evaluate_group(ev.validate_scores(frame.fillna({"score": -1.0})), N_BOOT, 1)
    assert a == b


def test_excluded_pairs_are_dropped_and_counted(scores, result):
    metrics, _, _, _ = result
    n_excluded = sum(1 for p in range(N_PAIRS) if p % 50 == 1)
    for level in ("0", "24"):
        rec = metrics["lfw"]["view1"]["tight_crop"]["oracle_box"]["blur"]["region=1"][level]
        assert rec["pairs_excluded"] == n_excluded
        assert rec["n_pairs"] == N_PAIRS - n_excluded
        assert rec["n_diff"] == N_PAIRS // 2 - n_excluded


def test_view2_gets_10_fold_accuracy(result):
    metrics, _, _, _ = result
    assert metrics["lfw"]["view2"]["arcface"]["oracle_box"]["blur"]["region=1"]["0"]["accuracy_protocol"] == "10-fold"
    assert metrics["lfw"]["view2"]["arcface"]["oracle_box"]["blur"]["region=1"]["0"]["accuracy_std"] is not None
    view1 = metrics["lfw"]["view1"]["arcface"]["oracle_box"]["blur"]["region=1"]
    assert view1["0"]["accuracy_protocol"] == "split-half"


def test_all_failed_group_is_json_ready(result):
    metrics, _, _, _ = result
    rec = metrics["lfw"]["view1"]["arcface"]["end_to_end"]["blackbox"]["region=1"]["1"]
    assert rec["detection_rate"] == 0.0
    assert rec["auc"] == 0.5  # every pair scores -1
    json.dumps(metrics, allow_nan=False)


# --- privacy thresholds --------------------------------------------------------------------------


def test_privacy_thresholds(result):
    _, _, _, thresholds = result
    assert list(thresholds.columns) == absolute.THRESHOLD_COLUMNS
    t = thresholds.set_index(["protocol", "recognizer", "mode", "obfuscation"])
    blur = t.loc[("view1", "tight_crop", "oracle_box", "blur")]
    assert blur["reached"] and blur["level"] == 16.0 and blur["holds_above"]
    assert blur["auc_high"] <= 0.55
    pix = t.loc[("view1", "tight_crop", "oracle_box", "pixelate")]
    assert not pix["reached"] and (pix["level"] is None or math.isnan(pix["level"]))
    assert pix["max_level_tested"] == 8.0 and pix["auc_high"] > 0.55
    assert pix["description"].startswith("grid ends at level 8 before the threshold (AUC ")
    assert (pix["status"], pix["identifies_level"]) == ("grid_ends", 8.0) and math.isnan(pix["uniform_level"])
    assert blur["status"] == "bracketed" and blur["description"].startswith("reached at level 16 (bracket (")
    assert t.loc[("view1", "tight_crop", "oracle_box", "blackbox")]["level"] == 1.0
    # Everything fails from sigma 16 on for arcface end-to-end: all pairs tie at -1, AUC 0.5.
    assert t.loc[("view2", "arcface", "end_to_end", "blur")]["level"] == 16.0


def test_privacy_report_is_json_ready(result):
    _, _, _, thresholds = result
    report = privacy.privacy_report(thresholds, 0.55)
    text = json.dumps(report, allow_nan=False)
    summary = report["summary"]["lfw"]["view1"]["tight_crop"]["oracle_box"]
    assert summary["blur"] == {"region=1": 16.0}
    assert summary["pixelate"] == {"region=1": "grid ends (max 8)"}
    assert report["n_reached"] + report["n_not_reached"] == len(thresholds)
    assert report["n_grid_ends"] == int((thresholds["status"] == "grid_ends").sum()) >= 1
    assert json.loads(text)["thresholds"][0]["series"]


# --- ROC and determinism -------------------------------------------------------------------------


def test_roc_points(result):
    _, _, roc, _ = result
    assert list(roc.columns) == ev.ROC_COLUMNS
    assert set(roc["level"][roc["obfuscation"] == "blur"]) == {0.0, 8.0, 16.0}
    assert set(roc["obfuscation"]) == {"blur", "pixelate", "blackbox"}
    sizes = roc.groupby(["protocol", "series", "obfuscation", "level"]).size()
    assert sizes.max() <= ev.ROC_MAX_POINTS
    for _, curve in roc.groupby(["protocol", "series", "obfuscation", "level"]):
        assert curve["fpr"].iloc[0] == 0 and curve["tpr"].iloc[0] == 0
        assert curve["fpr"].iloc[-1] == 1 and curve["tpr"].iloc[-1] == 1
        assert curve["fpr"].is_monotonic_increasing and curve["tpr"].is_monotonic_increasing


def test_roc_thinning_keeps_the_shape():
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(3000), np.zeros(3000)].astype(int)
    scores = rng.normal(size=6000) + labels
    points = ev.roc_points(scores, labels, max_points=50)
    assert 2 < len(points) <= 50
    auc = np.trapezoid(points["tpr"], points["fpr"])
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=0.01)


def test_deterministic(scores, result):
    again = ev.evaluate(scores.sample(frac=1.0, random_state=1), n_boot=N_BOOT, seed=0, privacy_bound=0.55,
                        roc_levels=PARAMS["evaluate"]["roc_levels"])
    assert ev.to_json(again[0]) == ev.to_json(result[0])
    pd.testing.assert_frame_equal(again[1], result[1])
    pd.testing.assert_frame_equal(again[2], result[2])
    # A different seed changes the bootstrap intervals only.
    other = ev.evaluate(group(scores, protocol="view1", obfuscation="blur", level=0.0), n_boot=N_BOOT, seed=1,
                        privacy_bound=0.55)[0]
    rec, base = (x["lfw"]["view1"]["arcface"]["oracle_box"]["blur"]["region=1"]["0"] for x in (other, result[0]))
    assert rec["auc"] == base["auc"] and rec["auc_low"] != base["auc_low"]


def test_group_seed_is_stable():
    key = ("lfw", "view1", "arcface", "end_to_end", "blur", 8.0)
    assert metrics.group_seed(0, key) != metrics.group_seed(1, key)
    assert metrics.group_seed(0, key) != metrics.group_seed(0, (*key[:-1], 4.0))
    assert metrics.group_seed(0, key) == 13_442_505_085_286_615_015  # sha256-based: the same on every machine


def test_validation_errors(scores):
    with pytest.raises(ValueError, match="lacks columns"):
        ev.evaluate(scores.drop(columns="status"), n_boot=10, seed=0, privacy_bound=0.55)
    bad = scores.head(10).copy()
    bad.loc[bad.index[0], "status"] = "lost"
    with pytest.raises(ValueError, match="unknown status"):
        ev.evaluate(bad, n_boot=10, seed=0, privacy_bound=0.55)
    bad = scores.head(10).copy()
    bad.loc[bad.index[0], "score"] = np.nan
    with pytest.raises(ValueError, match="status ok need a finite score"):
        ev.evaluate(bad, n_boot=10, seed=0, privacy_bound=0.55)
    with pytest.raises(ValueError, match="duplicate"):
        ev.evaluate(pd.concat([scores.head(10), scores.head(1)]), n_boot=10, seed=0, privacy_bound=0.55)


# --- stages --------------------------------------------------------------------------------------


def _strict_json(path):
    def no_constant(name):
        raise ValueError(f"{path}: non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=no_constant)


def _write_inputs(root, scores):
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(root, PARAMS)
    (root / "data/scores").mkdir(parents=True)
    for recognizer, frame in scores.groupby("recognizer"):
        frame.to_parquet(root / f"data/scores/{recognizer}.parquet", index=False)


def test_evaluate_stage_needs_scores(tmp_path, monkeypatch):
    from stages import evaluate as stage

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(tmp_path, PARAMS)
    with pytest.raises(FileNotFoundError, match="data/scores"):
        stage.main()


@pytest.mark.slow  # seconds: trains, renders or draws
def test_evaluate_and_plot_stages(tmp_path, monkeypatch, caplog):
    from stages import evaluate as evaluate_stage
    from stages import plot as plot_stage

    scores = make_scores(protocols=("view1", "view2", "seed"), n_pairs=200)
    _write_inputs(tmp_path, scores)
    image_name = "Some_One/Some_One_0002.jpg"
    (tmp_path / "data/raw/lfw/images/Some_One").mkdir(parents=True)
    yy, xx = np.mgrid[0:250, 0:250]
    image = np.dstack([xx % 256, yy % 256, (xx * yy) % 256]).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "data/raw/lfw/images" / image_name), image)
    faces = pd.DataFrame({"image": [image_name], "status": ["ok"], "x1": [80.5], "y1": [60.2], "x2": [170.0],
                          "y2": [200.9]})
    (tmp_path / "data/faces").mkdir(parents=True)
    faces.to_parquet(tmp_path / "data/faces/lfw.parquet", index=False)
    for protocol in ("view1", "view2"):  # render.protocols: their obfuscated side gives the median face width
        (tmp_path / f"data/protocols/{protocol}").mkdir(parents=True)
        pd.DataFrame({"pair_id": [0], "fold": [0], "label": [1], "image_a": ["Some_One/Some_One_0001.jpg"],
                      "image_b": [image_name]}).to_csv(tmp_path / f"data/protocols/{protocol}/pairs.csv", index=False)
    monkeypatch.chdir(tmp_path)
    from flup.attack.learning_curve import COLUMNS  # the learning_curve stage's table, off here: no rows

    (tmp_path / "plots/data").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns=COLUMNS).to_csv(tmp_path / "plots/data/learning_curve.csv", index=False)

    with caplog.at_level(logging.WARNING, logger="evaluate"):
        evaluate_stage.main()
    verification = _strict_json(tmp_path / "metrics/verification.json")
    privacy = _strict_json(tmp_path / "metrics/privacy.json")
    # one warning per threshold the grid did not bracket, naming what to extend
    warned = [r.getMessage() for r in caplog.records if r.name == "evaluate" and r.levelno == logging.WARNING]
    assert warned and len(warned) == privacy["n_grid_ends"] + privacy["relative_n_grid_ends"]
    assert any("pixelate at region 1: the grid ends at level 8" in w and "render.obfuscations.pixelate" in w
               for w in warned)
    assert set(verification["lfw"]) == {"view1", "view2", "seed"}
    assert privacy["privacy_auc_upper"] == 0.55 and privacy["thresholds"]
    # levels per face: the one obfuscated image's face is 170.0 - 80.5 = 89.5 px wide
    assert privacy["face_width_px"] == {"lfw": 89.5}
    oracle = verification["lfw"]["view1"]["arcface"]["oracle_box"]
    assert oracle["blur"]["region=1"]["16"]["level_per_face"] == 16 / 89.5
    assert oracle["blackbox"]["region=1"]["1"]["level_per_face"] is None
    for record in privacy["thresholds"] + privacy["relative_thresholds"]:
        if record["obfuscation"] == "blackbox":
            assert record["level_per_face"] is None and record["max_level_per_face"] is None
            continue
        assert record["max_level_per_face"] == record["max_level_tested"] / 89.5
        assert record["level_per_face"] == (record["level"] / 89.5 if record["reached"] else None)
    assert any(r["reached"] and r["level"] > 0 for r in privacy["thresholds"])
    not_black_box = [r for r in privacy["thresholds"] if r["obfuscation"] != "blackbox"]
    assert privacy["relative_margin"] == 0.01 and len(privacy["relative_thresholds"]) == len(not_black_box)
    relative_pixelate = privacy["relative_summary"]["lfw"]["view1"]["arcface"]["oracle_box"]["pixelate"]
    assert relative_pixelate == {"region=1": "grid ends (max 8)"}
    curves = pd.read_csv(tmp_path / "plots/data/curves.csv")
    roc = pd.read_csv(tmp_path / "plots/data/roc.csv")
    with_kind = [*ev.CURVE_COLUMNS[:5], "recognizer_kind", *ev.CURVE_COLUMNS[5:]]  # the stage adds what scored
    assert list(curves.columns) == with_kind and set(curves["recognizer_kind"]) <= {"arcface", "attacker", "model"}
    assert list(roc.columns) == ["dataset", "protocol", "series", "recognizer_kind", "obfuscation", "region", "level",
                                 "level_per_face", "fpr", "tpr"]
    assert not [p for p in tmp_path.rglob(".*") if p.is_dir()]  # no temporaries left behind

    plot_stage.main()
    pngs = {p.name for p in (tmp_path / "plots").glob("*.png")}
    assert pngs == {"auc_vs_level_arcface.png", "auc_vs_level_attacker.png", "auc_vs_level_model.png",
                    "mean_cosine_vs_level.png", "detection_rate_vs_level.png", "blackbox.png",
                    "gallery.png", "learning_curve.png",
                    *[f"roc_{p}_{k}.png" for p in ("view1", "view2", "seed") for k in ("arcface", "attacker", "model")]}
    for name in pngs:
        picture = cv2.imread(str(tmp_path / "plots" / name), cv2.IMREAD_COLOR)
        assert picture is not None, name
        assert min(picture.shape[:2]) > 200, name
        assert picture.std() > 5, name  # not a blank canvas
        rgb = picture.astype(np.uint32)
        packed = rgb[..., 0] | rgb[..., 1] << 8 | rgb[..., 2] << 16
        assert np.unique(packed).size > 50, name  # more than a few flat colours


def test_figures_handle_missing_data(tmp_path):
    empty = pd.DataFrame(columns=ev.CURVE_COLUMNS)
    figures.auc_vs_level(empty, tmp_path / "auc.png")
    figures.blackbox_figure(empty, tmp_path / "bb.png")
    figures.roc_figure(pd.DataFrame(columns=ev.ROC_COLUMNS), tmp_path / "roc.png", "view1")
    for name in ("auc.png", "bb.png", "roc.png"):
        assert cv2.imread(str(tmp_path / name)) is not None


def test_building_blocks_know_neither_the_study_config_nor_its_files():
    """flup/evaluation and flup/report take plain arguments: only flup/pipeline knows Study and flup.config.paths, and
    no import hides inside a function to dodge a loop."""
    import ast

    for path in sorted((REPO / "flup/evaluation").glob("*.py")) + sorted((REPO / "flup/report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            flup = [n for n in names if n.startswith("flup")]
            assert not any(n.startswith(("flup.config", "flup.pipeline")) for n in flup), (path, flup)
            assert not flup or node.col_offset == 0, (path, flup)  # at module level, not inside a function
