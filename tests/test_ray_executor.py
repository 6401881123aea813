"""detect, render and score_arcface on Ray (executor.kind: ray) write the same bits as in-process, on 30 real
LFW images.

One Ray instance on 127.0.0.1 (2 CPUs) is shared by the module. Without ray installed the Ray tests skip
with the reason; FLUP_REQUIRE_SCALING=1 turns that skip into a failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flup.config import load_config
from flup.config.paths import ARCFACE_EMBEDDINGS
from flup.config.profiles import merge
from flup.config.schema import Executor
from flup.executor import ActorPool
from flup.faces.detect_dataset import detect_dataset
from flup.io import write_table
from flup.obfuscate.render_dataset import render_dataset
from tests.conftest import require_scaling

REPO = Path(__file__).resolve().parents[1]
IMAGES = 30
RAY = Executor(kind="ray", workers=2, batch_size=4)


@pytest.fixture(scope="module")
def ray_cluster():
    require_scaling("ray.data")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def study(tmp_path_factory, lfw_root) -> tuple[Path, object]:
    """A project folder with 30 LFW images (15 people x 2), a view1 of 15 same- and 5 other-person pairs, a small
    render."""
    root = tmp_path_factory.mktemp("ray_study")
    folder = lfw_root / "lfw-deepfunneled"
    people = [p for p in sorted(folder.iterdir()) if len(list(p.glob("*.jpg"))) >= 2][:IMAGES // 2]
    images = root / "data" / "raw" / "lfw" / "images"
    pairs = []
    for person in people:
        (images / person.name).mkdir(parents=True)
        names = [f"{person.name}/{f.name}" for f in sorted(person.glob("*.jpg"))[:2]]
        for name in names:
            (images / name).symlink_to(folder / name)
        pairs.append({"image_a": names[0], "image_b": names[1], "label": 1})
    pairs += [{"image_a": a["image_a"], "image_b": b["image_b"], "label": 0}
              for a, b in zip(pairs[:5], pairs[5:10], strict=True)]
    pairs = [{"pair_id": i, "fold": 0, **pair} for i, pair in enumerate(pairs)]
    (root / "data" / "protocols" / "view1").mkdir(parents=True)
    pd.DataFrame(pairs).to_csv(root / "data" / "protocols" / "view1" / "pairs.csv", index=False)
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()), {"render": {
        "protocols": ["view1"], "baseline_only": [], "workers": 1,
        "obfuscations": {"blur": [0, 8], "pixelate": [8], "blackbox": [1], "deface": [1.3], "face_gaussian": [],
                         "face_pixelate": [0.1]}}, "attackers": {}})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root, load_config(root / "params.yaml")


def with_ray(cfg):
    return cfg.model_copy(update={"executor": RAY})


def test_detect_on_ray_is_the_in_process_table(study, ray_cluster, monkeypatch):
    root, cfg = study
    monkeypatch.chdir(root)
    local = detect_dataset(cfg)
    on_ray = detect_dataset(with_ray(cfg))
    assert len(local) == IMAGES and (local["status"] == "ok").sum() >= IMAGES - 2
    assert local.equals(on_ray)
    assert (local.dtypes == on_ray.dtypes).all()


def test_render_on_ray_is_the_in_process_render(study, ray_cluster, monkeypatch):
    root, cfg = study
    monkeypatch.chdir(root)
    write_table(Path("data/faces/lfw.parquet"), detect_dataset(cfg))
    local = render_dataset(cfg)
    Path("data/render").rename("render_local")
    on_ray = render_dataset(with_ray(cfg))
    assert local == on_ray and local["rendered"] >= IMAGES // 2 - 1
    assert local["renders"] == 6 * local["rendered"]  # six levels, no baseline-only protocol
    stores = sorted(p.relative_to("render_local") for p in Path("render_local").rglob("*"))
    assert stores == sorted(p.relative_to("data/render") for p in Path("data/render").rglob("*"))
    assert len([s for s in stores if s.suffix == ".npz"]) == 6
    for store in stores:
        if store.suffix == ".npz":  # the zip members' timestamps differ; every array must not
            with np.load(Path("render_local") / store) as a, np.load(Path("data/render") / store) as b:
                assert a.files == b.files
                for key in a.files:
                    assert a[key].dtype == b[key].dtype
                    np.testing.assert_array_equal(a[key], b[key], strict=True)
        elif (Path("render_local") / store).is_file():
            assert (Path("render_local") / store).read_bytes() == (Path("data/render") / store).read_bytes()


def test_score_arcface_on_ray_is_the_in_process_scoring(study, ray_cluster, monkeypatch):
    # The stage itself, in-process then with its crops embedded by 2 Ray actors: the score table and every
    # saved embedding the same bits (20 view1 pairs x 6 levels x 2 threat models).
    from stages import score_arcface as stage

    root, cfg = study
    monkeypatch.chdir(root)
    if not Path("data/render/summary.json").exists():  # this test run alone
        write_table(Path("data/faces/lfw.parquet"), detect_dataset(cfg))
        render_dataset(cfg)
    monkeypatch.setattr(stage, "load_config", lambda: cfg)
    stage.main()
    local = pd.read_parquet("data/scores/arcface.parquet")
    ARCFACE_EMBEDDINGS.rename("embeddings_local.npz")
    monkeypatch.setattr(stage, "load_config", lambda: with_ray(cfg.model_copy(
        update={"arcface": cfg.arcface.model_copy(update={"batch_size": 8})})))  # several pieces a call
    calls, embed = [], ActorPool.__call__
    monkeypatch.setattr(ActorPool, "__call__", lambda pool, crops: calls.append(len(crops)) or embed(pool, crops))
    stage.main()
    assert 8 < max(calls) <= 16  # up to the pool's width (2 actors x 8 crops): both actors at work
    on_ray = pd.read_parquet("data/scores/arcface.parquet")
    assert len(local) == 20 * 6 * 2 and (local["status"] == "ok").sum() >= len(local) // 2
    assert local.equals(on_ray)
    with np.load("embeddings_local.npz") as a, np.load(ARCFACE_EMBEDDINGS) as b:
        assert a.files == b.files and len(a["keys"]) > 30
        for key in a.files:  # the same crops in the same order (first seen), the same vectors
            assert a[key].dtype == b[key].dtype
            np.testing.assert_array_equal(a[key], b[key], strict=True)


def test_the_default_executor_needs_no_ray():
    code = ("import sys, flup.executor, flup.faces.detect_dataset, flup.obfuscate.render_dataset, stages.detect, "
            "stages.render, stages.score_arcface; from flup.config import load_config; "
            "assert load_config().executor.kind == 'local'; assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_params_without_an_executor_section_run_in_process(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    del params["executor"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert load_config(tmp_path / "params.yaml").executor == Executor(kind="local")
