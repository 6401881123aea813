"""The learning curve (flup/attack/learning_curve.py, stage learning_curve): nested seeded training sets, its
parameters' validation, and one real run on a few LFW people rendered here."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from flup.attack.learning_curve import COLUMNS, nested_order, nested_subsets, resolve_sizes
from flup.config import ConfigError, load_config
from tests.conftest import REPO, write_params

N_TRAIN_PEOPLE = 10
N_PAIRS = 6  # same and different pairs each


def _read_list(path, skip_first=True):
    lines = path.read_text().splitlines()
    return [line.split("\t") if "\t" in line else line.split() for line in lines[int(skip_first):] if line.strip()]


# --- nested training sets ------------------------------------------------------------------------


def test_training_sets_are_nested_and_seeded():
    sets = nested_subsets(100, [10, 50, None, 40], seed=3)
    assert list(sets) == [10, 50, 100, 40]
    assert np.array_equal(sets[10], sets[40][:10]) and np.array_equal(sets[40], sets[50][:40])
    assert set(sets[10]) < set(sets[40]) < set(sets[50]) < set(sets[100]) == set(range(100))
    again = nested_subsets(100, [10, 50, None, 40], seed=3)
    assert all(np.array_equal(sets[n], again[n]) for n in sets)
    assert not np.array_equal(nested_order(100, 3), nested_order(100, 4))
    assert not np.array_equal(sets[100], np.arange(100))  # an order of its own, not the table's


def test_a_size_beyond_the_training_images_is_capped():
    assert resolve_sizes([10, 500, None], 120) == [(10, 10), (500, 120), (None, 120)]
    assert list(nested_subsets(120, [500], seed=0)) == [120]


# --- parameters ----------------------------------------------------------------------------------


def _study(tmp_path, curve: dict, **other):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["learning_curve"] = {**params["learning_curve"], **curve}
    params.update(other)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return load_config(path)


def test_the_default_curve_is_off_and_valid(tmp_path):
    curve = load_config(REPO / "params.yaml").learning_curve
    assert curve.images == [] and not curve.enabled  # off by default: the default study has no time for it
    assert _study(tmp_path, {"images": [250, None]}).learning_curve.images == [250, None]


@pytest.mark.parametrize(("curve", "words"), [
    ({"images": [10], "attacker": "nobody"}, "learning_curve.attacker: expected an entry of the attackers table"),
    ({"images": [10], "levels": {"blur": [7]}}, "learning_curve.levels.blur: expected levels that render"),
    ({"images": [10], "region": 2.0}, "learning_curve.region: expected one of render.regions"),
    ({"images": [10], "levels": {}}, "learning_curve.levels: expected at least one level"),
    ({"images": [10, 10]}, "learning_curve.images: expected each entry once"),
    ({"images": [0]}, "learning_curve.images[0]: expected an integer >= 1"),
])
def test_bad_curve_parameters_are_named(tmp_path, curve, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        _study(tmp_path, curve)


def test_a_finetune_attacker_is_refused_naming_the_parameter(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    attackers = {**params["attackers"], "ft": {"method": "finetune", "obfuscation": "blur", "levels": [2, 8]}}
    with pytest.raises(ConfigError, match=r"learning_curve\.attacker: expected an adapter attacker.*ft is a finetune"):
        _study(tmp_path, {"images": [10], "attacker": "ft"}, attackers=attackers)


# --- a real run ----------------------------------------------------------------------------------

PARAMS = {
    "render": {"protocols": ["view1"], "baseline_only": [], "regions": [1.0, 1.3], "workers": 1,
               "obfuscations": {"blur": [0, 8], "pixelate": [], "blackbox": [], "deface": [], "face_gaussian": [],
                                "face_pixelate": []}},
    "evaluate": {"n_boot": 50, "roc_levels": {"blur": [0, 8], "pixelate": [], "blackbox": [], "deface": [],
                                              "face_gaussian": [], "face_pixelate": []}},
    "plot": {"gallery_levels": {"blur": [0, 8], "pixelate": [], "blackbox": [], "deface": [], "face_gaussian": [],
                                "face_pixelate": []}},
    "attack": {"val_fraction": 0.3, "val_pairs": 4, "batch_size": 16, "device": "cpu", "seeds": [0],
               "adapter": {"views": 1, "epochs": 2, "batch_size": 8}},
    "learning_curve": {"attacker": "adapter_blur", "images": [8, 16, 1000, None], "levels": {"blur": [0, 8]},
                       "region": 1.3},
}


@pytest.fixture(scope="module")
def curve_project(lfw_root, tmp_path_factory):
    """A project with real LFW images: a view1-like train.csv (the first peopleDevTrain people with >= 3 images),
    pairs.csv (same and different pairs of pairsDevTest), faces detected and the pairs rendered here."""
    import cv2

    from flup.faces import weights
    from flup.faces.detection import Detector, face_row
    from flup.pipeline.render import render_dataset

    root = tmp_path_factory.mktemp("curve")
    images = lfw_root / "lfw-deepfunneled"
    people = [(name, int(n)) for name, n in _read_list(lfw_root / "peopleDevTrain.txt") if int(n) >= 3]
    train = pd.DataFrame([(name, f"{name}/{name}_{i:04d}.jpg") for name, n in people[:N_TRAIN_PEOPLE]
                          for i in range(1, min(n, 4) + 1)], columns=["identity", "image"])
    rows = _read_list(lfw_root / "pairsDevTest.txt")
    same = [r for r in rows if len(r) == 3][:N_PAIRS]
    different = [r for r in rows if len(r) == 4][:N_PAIRS]
    pairs = pd.DataFrame(
        [{"pair_id": k, "fold": 0, "label": 1, "image_a": f"{n}/{n}_{int(i):04d}.jpg",
          "image_b": f"{n}/{n}_{int(j):04d}.jpg", "identity_a": n, "identity_b": n} for k, (n, i, j) in enumerate(same)]
        + [{"pair_id": N_PAIRS + k, "fold": 0, "label": 0, "image_a": f"{a}/{a}_{int(i):04d}.jpg",
            "image_b": f"{b}/{b}_{int(j):04d}.jpg", "identity_a": a, "identity_b": b}
           for k, (a, i, b, j) in enumerate(different)])
    detector = Detector(weights.resolve("detector", "scrfd_500m", "~/.insightface/models"), 320, 0.5)
    faces = []
    for image in sorted(set(train["image"]) | set(pairs["image_a"]) | set(pairs["image_b"])):
        pixels = cv2.imread(str(images / image))
        faces.append({"image": image, **face_row(detector.detect(pixels), pixels.shape)})
    for folder in ("data/faces", "data/protocols/view1", "data/raw/lfw"):
        (root / folder).mkdir(parents=True)
    (root / "data/raw/lfw/images").symlink_to(images)
    pd.DataFrame(faces).to_parquet(root / "data/faces/lfw.parquet", index=False)
    train.to_csv(root / "data/protocols/view1/train.csv", index=False)
    pairs.to_csv(root / "data/protocols/view1/pairs.csv", index=False)
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(root, PARAMS)
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    try:
        render_dataset(load_config())
    finally:
        mp.undo()
    return root


def test_the_stage_writes_one_row_per_size_and_level(curve_project, monkeypatch):
    from stages import learning_curve as stage

    monkeypatch.chdir(curve_project)
    stage.main()
    metrics = json.loads((curve_project / "metrics/learning_curve.json").read_text())
    table = pd.read_csv(curve_project / "plots/data/learning_curve.csv")
    assert list(table.columns) == COLUMNS
    available = metrics["available_images"]
    assert 16 < available < 1000 and metrics["enabled"] and metrics["attacker"] == "adapter_blur"
    assert metrics["images"] == [8, 16, available, available] and metrics["capped"] == [1000]
    trained = table[table["images"] > 0]
    assert len(trained) == 4 * 2 and len(table) == len(metrics["rows"]) == 4 * 2 + 2  # + plain ArcFace per level
    assert set(zip(trained["images"], trained["level"], strict=True)) == {
        (n, lv) for n in (8, 16, available) for lv in (0.0, 8.0)}
    assert trained["capped"].tolist() == [False] * 4 + [True] * 2 + [False] * 2
    assert (table["region"] == 1.3).all() and (table["mode"] == "oracle_box").all()
    for row in metrics["rows"]:
        assert row["n_pairs"] > 0 and row["n_same"] > 0 and row["n_different"] > 0
        assert all(math.isfinite(row[k]) and 0 <= row[k] <= 1 for k in ("auc", "auc_low", "auc_high"))
        assert row["auc_low"] <= row["auc"] <= row["auc_high"]
    # the null point and the capped one train on the same images: one adapter, the same numbers
    every = trained[trained["images"] == available]
    assert every.groupby("level")["auc"].nunique().eq(1).all()
    # the sharp level is where every adapter starts from identical crops: every point scores the same pairs
    assert table.groupby("level")["n_pairs"].nunique().eq(1).all()


def test_the_figure_and_an_empty_curve(curve_project, tmp_path, monkeypatch):
    from flup.report.figures import learning_curve_figure
    from stages import learning_curve as stage

    table = pd.read_csv(curve_project / "plots/data/learning_curve.csv")
    learning_curve_figure(table, tmp_path / "curve.png", 0.55)
    assert (tmp_path / "curve.png").stat().st_size > 5000

    monkeypatch.chdir(tmp_path)  # no data at all: an empty curve needs none
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(tmp_path, {"learning_curve": {"images": []}})
    stage.main()
    metrics = json.loads((tmp_path / "metrics/learning_curve.json").read_text())
    assert metrics["enabled"] is False and metrics["rows"] == []
    empty = pd.read_csv(tmp_path / "plots/data/learning_curve.csv")
    assert list(empty.columns) == COLUMNS and empty.empty
    learning_curve_figure(empty, tmp_path / "empty.png", 0.55)
    assert (tmp_path / "empty.png").stat().st_size > 1000


def test_the_report_section_shows_the_rows(curve_project):
    from flup.report.document import learning_curve_section
    from flup.report.metrics_files import parse_learning_curve

    metrics = parse_learning_curve(json.loads((curve_project / "metrics/learning_curve.json").read_text()))
    lines = learning_curve_section(metrics, "learning_curve.png")
    assert lines[0] == "## Learning curve" and "![Learning curve: AUC vs training images](learning_curve.png)" in lines
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 1 + 1 + 3  # header, plain ArcFace, the three distinct sizes (the capped one is the null one)
    assert table[1].startswith("| 0 (plain ArcFace) | ") and "capped to the images available: 1000" in lines[2]
    empty = parse_learning_curve({"enabled": False, "rows": []})
    assert learning_curve_section(empty) == [] and learning_curve_section(None) == []
