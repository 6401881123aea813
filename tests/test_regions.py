"""render.regions: every level over each face-box scale factor, rendered, scored and evaluated per region.

Region 1.0 alone (regions: [1.0]; the default study now renders [1.0, 1.3]) must give the stores, scores and
metrics of the study before regions existed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from flup.config import load_config
from flup.config.profiles import merge
from flup.evaluation import absolute, privacy, relative, series
from flup.evaluation import verification as ev
from flup.faces.detection import BOX_COLUMNS
from flup.io import read_table, write_table
from flup.obfuscation import methods, render
from flup.pipeline.detect import detect_dataset
from flup.pipeline.render import render_dataset
from flup.verify import engine, scoring
from flup.verify.scored_set import ScoredSet

REPO = Path(__file__).resolve().parents[1]
PEOPLE = 4
OBFUSCATIONS = {"blur": [0, 8], "pixelate": [], "blackbox": [1], "deface": [1.3], "face_gaussian": [],
                "face_pixelate": [0.1]}


# --- render and score: a few real LFW images ------------------------------------------------------


def _study(root: Path, lfw_root: Path, regions: list[float] | None):
    """A project folder with PEOPLE x 2 LFW images and a view1 of PEOPLE same-person pairs; ``regions`` None
    leaves params.yaml's default."""
    folder = lfw_root / "lfw-deepfunneled"
    people = [p for p in sorted(folder.iterdir()) if len(list(p.glob("*.jpg"))) >= 2][:PEOPLE]
    images = root / "data" / "raw" / "lfw" / "images"
    pairs = []
    for i, person in enumerate(people):
        (images / person.name).mkdir(parents=True)
        names = [f"{person.name}/{f.name}" for f in sorted(person.glob("*.jpg"))[:2]]
        for name in names:
            (images / name).symlink_to(folder / name)
        pairs.append({"pair_id": i, "fold": 0, "label": 1, "image_a": names[0], "image_b": names[1]})
    (root / "data" / "protocols" / "view1").mkdir(parents=True)
    pd.DataFrame(pairs).to_csv(root / "data" / "protocols" / "view1" / "pairs.csv", index=False)
    render_params = {"protocols": ["view1"], "baseline_only": [], "workers": 1, "obfuscations": OBFUSCATIONS}
    if regions is not None:
        render_params["regions"] = regions
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()),  # both threat models: render re-detects
                   {"render": render_params, "attackers": {}, "arcface": {"modes": ["end_to_end", "oracle_box"]}})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return load_config(root / "params.yaml")


@pytest.fixture(scope="module")
def renders(tmp_path_factory, lfw_root):
    """The same images rendered with regions [1.0] (the study before regions) and with regions [1.0, 1.5]."""
    out = {}
    faces = None
    for name, regions in (("default", [1.0]), ("two", [1.0, 1.5])):
        root = tmp_path_factory.mktemp(f"regions_{name}")
        cfg = _study(root, lfw_root, regions)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(root)
            faces = detect_dataset(cfg) if faces is None else faces
            write_table(Path("data/faces/lfw.parquet"), faces)
            summary = render_dataset(cfg)
        out[name] = (root, cfg, summary)
    return out


def _stores(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root / "data/render")) for p in (root / "data/render").rglob("*.npz"))


def test_render_writes_one_store_per_region_and_region_one_is_the_default_render(renders):
    default_root, default_cfg, default_summary = renders["default"]
    two_root, two_cfg, two_summary = renders["two"]
    assert default_cfg.render.regions == [1.0]
    assert load_config(REPO / "params.yaml").render.regions == [1.0, 1.3]  # the default study: two regions
    one = ["blackbox/1.npz", "blur/0.npz", "blur/8.npz", "deface/1.3.npz", "face_pixelate/0.1.npz"]
    assert _stores(default_root) == one  # the store names from before regions
    assert _stores(two_root) == sorted(one + [s.replace(".npz", "_region1.5.npz") for s in one])
    assert [(e["obfuscation"], e["level"], e["region"]) for e in two_summary["levels"]] == two_cfg.render.tasks()
    assert two_summary["renders"] == 2 * default_summary["renders"]
    for name in one:  # region 1.0: the same arrays, byte for byte
        with np.load(default_root / "data/render" / name) as a, np.load(two_root / "data/render" / name) as b:
            assert a.files == b.files
            for key in a.files:
                assert (a[key].dtype, a[key].shape) == (b[key].dtype, b[key].shape), (name, key)
                assert a[key].tobytes() == b[key].tobytes(), (name, key)


def test_a_region_store_holds_the_obfuscation_over_the_scaled_box(renders):
    root, cfg, _ = renders["two"]
    faces = read_table(root / "data/faces/lfw.parquet").set_index("image")
    images = root / "data/raw/lfw/images"
    for kind, level, region in cfg.render.tasks():
        store = render.RenderStore(render.store_path(root / "data/render", kind, level, region))
        for name in store.names:
            sharp = cv2.imread(str(images / name))
            box = tuple(faces.loc[name, BOX_COLUMNS])
            expected = methods.apply(sharp, box, kind, level, region)
            assert np.array_equal(store.obfuscated(name, sharp), expected)
            if region != 1.0 and not render.is_identity(kind, level):
                assert not np.array_equal(expected, methods.apply(sharp, box, kind, level, 1.0))


def _cell_means(crops):
    """A deterministic stand-in embedder: 4x4 cell means, unit length."""
    vectors = np.stack([cv2.resize(c, (4, 4), interpolation=cv2.INTER_AREA).reshape(-1).astype(np.float64)
                        for c in crops]) if len(crops) else np.zeros((0, 48))
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def _scores(root: Path) -> pd.DataFrame:
    faces = read_table(root / "data/faces/lfw.parquet")
    pairs = pd.read_csv(root / "data/protocols/view1/pairs.csv")
    test = ScoredSet({"view1": pairs}, "a", faces.set_index("image"), sorted(pairs["image_a"]))
    recognizer = engine.Recognizer("stand-in", _cell_means, _cell_means, batch_size=3)
    return engine.score_rendered(test, root / "data/raw/lfw/images", root / "data/render", "lfw", recognizer,
                                 ["oracle_box", "end_to_end"])


def test_scores_carry_the_region_and_region_one_scores_as_the_default(renders):
    default = _scores(renders["default"][0])
    two = _scores(renders["two"][0])
    assert list(two.columns) == scoring.SCORE_COLUMNS
    assert set(default["region"]) == {1.0} and set(two["region"]) == {1.0, 1.5}
    pd.testing.assert_frame_equal(two[two["region"] == 1.0].reset_index(drop=True), default)
    wide = two[(two["region"] == 1.5) & (two["obfuscation"] == "blur") & (two["level"] == 8.0)]
    narrow = two[(two["region"] == 1.0) & (two["obfuscation"] == "blur") & (two["level"] == 8.0)]
    assert len(wide) == len(narrow) and not np.allclose(wide["score"], narrow["score"])


# --- evaluation and thresholds per region: synthetic tables with known answers ---------------------

N_PAIRS = 800
N_BOOT = 200


def _rows(region: float, kind: str, level: float, scores: np.ndarray, labels: np.ndarray) -> list[tuple]:
    return [("lfw", "view1", "arcface", "oracle_box", kind, region, float(level), i, 0, int(labels[i]),
             float(scores[i]), "ok", False) for i in range(len(labels))]


def region_table(seed: int = 0) -> pd.DataFrame:
    """Blur over the detected box reaches chance at sigma 16; over 2x the box already at sigma 4.
    The black box over the detected box is at chance, but over 2x the box it still reveals as much as blur
    does from sigma 4 on (a synthetic stand-in for a recogniser using the hair): relative to its own black box,
    blur over 2x the box is no more revealing from sigma 4 on; over the detected box from 16 on."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(N_PAIRS) % 2 == 0).astype(int)
    base = rng.normal(0.1, 0.1, N_PAIRS)
    rows = []
    rows += _rows(1.0, "blackbox", 1, base, labels)
    rows += _rows(2.0, "blackbox", 1, base + 0.3 * labels, labels)
    for level in (0, 4, 8, 16):
        narrow = base + {0: 0.6, 4: 0.4, 8: 0.2, 16: 0.0}[level] * labels + rng.normal(0, 0.001, N_PAIRS)
        rows += _rows(1.0, "blur", level, narrow, labels)
        wide = base + (0.6 if level == 0 else 0.3) * labels + rng.normal(0, 0.001, N_PAIRS)
        rows += _rows(2.0, "blur", level, wide, labels)
    return pd.DataFrame(rows, columns=scoring.SCORE_COLUMNS)


@pytest.fixture(scope="module")
def evaluated():
    return ev.evaluate(region_table(), n_boot=N_BOOT, seed=0, privacy_bound=0.55,
                       roc_levels={"blur": [0, 16]}, face_widths={"lfw": 80.0})


def test_curves_metrics_and_thresholds_are_indexed_by_region(evaluated):
    metrics, curves, roc, thresholds = evaluated
    blur = metrics["lfw"]["view1"]["arcface"]["oracle_box"]["blur"]
    assert list(blur) == ["region=1", "region=2"] and list(blur["region=2"]) == ["0", "4", "8", "16"]
    assert blur["region=2"]["0"]["auc"] > 0.99 and blur["region=2"]["4"]["auc"] > 0.9
    assert list(curves.columns) == ev.CURVE_COLUMNS
    assert sorted(set(zip(curves["obfuscation"], curves["region"], strict=True))) == [
        ("blackbox", 1.0), ("blackbox", 2.0), ("blur", 1.0), ("blur", 2.0)]
    assert set(roc["region"]) == {1.0, 2.0} and list(roc.columns) == ev.ROC_COLUMNS
    # a pixel level per face is per detected face width at every region
    assert set(curves.loc[(curves["obfuscation"] == "blur") & (curves["level"] == 8), "level_per_face"]) == {0.1}
    by = thresholds.set_index(["obfuscation", "region"])
    assert list(thresholds.columns) == absolute.THRESHOLD_COLUMNS
    assert by.loc[("blur", 1.0), "level"] == 16.0  # the absolute threshold per region
    assert not by.loc[("blur", 2.0), "reached"]  # over 2x the box this attacker still sees the hair
    assert by.loc[("blackbox", 1.0), "reached"] and not by.loc[("blackbox", 2.0), "reached"]
    report = privacy.privacy_report(thresholds, 0.55)
    assert report["summary"]["lfw"]["view1"]["arcface"]["oracle_box"]["blur"] == {
        "region=1": 16.0, "region=2": "grid ends (max 16)"}
    # the black box is uniform by definition: over 2x the box it still identifies, and nothing stronger exists
    assert by.loc[("blackbox", 2.0), "status"] == "uniform_still_identifies"
    assert report["summary"]["lfw"]["view1"]["arcface"]["oracle_box"]["blackbox"]["region=2"] == (
        "identifies even when uniform (max 1)")


def test_relative_threshold_compares_with_the_black_box_over_the_same_region():
    scores = ev.validate_scores(region_table())
    differences = relative.level_differences(scores, N_BOOT, seed=0)
    assert set(differences["region"]) == {1.0, 2.0}
    found = relative.relative_thresholds(differences, 0.01).set_index(["obfuscation", "region"])
    assert found.loc[("blur", 1.0), "level"] == 16.0
    assert found.loc[("blur", 2.0), "level"] == 4.0  # against the 1.0 black box it would never be reached
    assert found.loc[("blur", 2.0), "reference_level"] == 1.0
    # the same differences, computed with each region's table alone: nothing crosses regions
    for region in (1.0, 2.0):
        alone = relative.level_differences(scores[scores["region"] == region], N_BOOT, seed=0)
        mine = differences[differences["region"] == region].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine)


def test_region_one_keeps_the_bootstrap_seeds_of_a_table_without_regions():
    """A table written before regions (no region column) and the region-1.0 groups of a two-region table
    evaluate to the same numbers: region 1.0 adds nothing to a group's seed."""
    table = region_table()
    assert series.seed_key(("lfw", "view1", "a", "m", "blur", 8.0), 1.0) == ("lfw", "view1", "a", "m", "blur", 8.0)
    assert series.seed_key(("lfw", "view1", "a", "m", "blur", 8.0), 2.0) != ("lfw", "view1", "a", "m", "blur", 8.0)
    old = table[table["region"] == 1.0].drop(columns="region")
    before, _, _, before_thresholds = ev.evaluate(old, n_boot=N_BOOT, seed=0, privacy_bound=0.55)
    after, _, _, _ = ev.evaluate(table, n_boot=N_BOOT, seed=0, privacy_bound=0.55)
    for kind in ("blur", "blackbox"):
        node = after["lfw"]["view1"]["arcface"]["oracle_box"][kind]
        assert node["region=1"] == before["lfw"]["view1"]["arcface"]["oracle_box"][kind]["region=1"]
    assert set(before_thresholds["region"]) == {1.0}
