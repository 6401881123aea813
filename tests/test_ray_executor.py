"""detect, render, score_arcface, score_model and score_attacker on Ray (executor.kind: ray) write the same bits as
in-process, on 30 real LFW images.

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
from flup.io import write_json, write_table
from flup.pipeline import model_files
from flup.pipeline.detect import detect_dataset
from flup.pipeline.render import render_dataset
from flup.training.weight_files import save_weights
from tests.conftest import require_scaling

pytestmark = pytest.mark.slow  # a local Ray instance

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
        pairs.append({"image_a": names[0], "image_b": names[1], "label": 1, "identity_a": person.name,
                      "identity_b": person.name})
    pairs += [{"image_a": a["image_a"], "image_b": b["image_b"], "label": 0, "identity_a": a["identity_a"],
               "identity_b": b["identity_b"]} for a, b in zip(pairs[:5], pairs[5:10], strict=True)]
    pairs = [{"pair_id": i, "fold": 0, **pair} for i, pair in enumerate(pairs)]
    (root / "data" / "protocols" / "view1").mkdir(parents=True)
    pd.DataFrame(pairs).to_csv(root / "data" / "protocols" / "view1" / "pairs.csv", index=False)
    # the trained recognisers' training people: none of the test pairs' (score_model and score_attacker score all)
    pd.DataFrame({"identity": ["Nobody_Tested"], "image": ["Nobody_Tested/Nobody_Tested_0001.jpg"]}).to_csv(
        root / "data" / "protocols" / "view1" / "train.csv", index=False)
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()), {"render": {
        "protocols": ["view1"], "baseline_only": [], "workers": 1, "regions": [1.0],
        "obfuscations": {"blur": [0, 8], "pixelate": [8], "blackbox": [1], "deface": [1.3], "face_gaussian": [],
                         "face_pixelate": [0.1]}}, "attackers": {},
        "arcface": {"modes": ["end_to_end", "oracle_box"]}})  # both threat models: render re-detects
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root, load_config(root / "params.yaml")


def with_ray(cfg):
    return cfg.model_copy(update={"executor": RAY})


def rendered(cfg) -> None:
    """The study's faces and render, made here when this test runs alone."""
    if not Path("data/render/summary.json").exists():
        write_table(Path("data/faces/lfw.parquet"), detect_dataset(cfg))
        render_dataset(cfg)


def piece_sizes(monkeypatch) -> list[int]:
    """The number of items of every call of an ActorPool, from now on."""
    calls, call = [], ActorPool.__call__
    monkeypatch.setattr(ActorPool, "__call__", lambda pool, items, *args: calls.append(len(items))
                        or call(pool, items, *args))
    return calls


def recorded(monkeypatch, owner, name: str, *when) -> list[np.ndarray]:
    """What every call of ``owner.name`` returns from now on (only calls whose last arguments are ``when``)."""
    results, call = [], getattr(owner, name)

    def record(*args):
        result = call(*args)
        if args[len(args) - len(when):] == when:
            results.append(np.asarray(result))
        return result

    monkeypatch.setattr(owner, name, record)
    return results


def assert_same_rows(local: list[np.ndarray], on_ray: list[np.ndarray]) -> None:
    # The score tables round each score to float32, which can hide a last-bit difference in an embedding: the
    # batch-dependent embeddings themselves, in order, bit for bit.
    np.testing.assert_array_equal(np.concatenate(local), np.concatenate(on_ray), strict=True)


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
    rendered(cfg)
    monkeypatch.setattr(stage, "load_config", lambda: cfg)
    stage.main()
    local = pd.read_parquet("data/scores/arcface.parquet")
    ARCFACE_EMBEDDINGS.rename("embeddings_local.npz")
    monkeypatch.setattr(stage, "load_config", lambda: with_ray(cfg.model_copy(
        update={"arcface": cfg.arcface.model_copy(update={"batch_size": 8})})))  # several pieces a call
    calls = piece_sizes(monkeypatch)
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


def test_score_model_on_ray_is_the_in_process_scoring(study, ray_cluster, monkeypatch):
    # A small dual-stream model (random weights, saved as train saves it) scores in-process, then with its
    # batches embedded by 2 Ray actors that load it from its file: the same batches, the same bits. Batches of 3:
    # torch's CPU kernels give a row other bits in a batch of 3 than in one of 4 or more (rows past a multiple
    # of 4 take another path), so other batches than in-process would show here.
    import torch

    from flup.models import embedding
    from flup.models.model import build_dual_stream
    from flup.models.sampling import Policy
    from stages import score_model as stage

    root, cfg = study
    monkeypatch.chdir(root)
    rendered(cfg)
    folder = Path("data/models/tiny/seed0")
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(build_dual_stream("gap", 64, "none", seed=1), folder / "model.safetensors")
    write_json(folder / "meta.json", {"head": "gap", "input_size": 64, "protocol": "view1",
                                      "policy": vars(Policy("tight", "face_box"))})
    cfg = cfg.model_copy(update={"score_model": cfg.score_model.model_copy(update={"batch_size": 3, "device": "cpu"}),
                                 "variants": {**cfg.variants, "tiny": cfg.variants["random_blur"]}})  # seeds: [0]
    monkeypatch.setattr(stage, "load_config", lambda: cfg)
    with torch.no_grad():
        local_rows = recorded(monkeypatch, embedding, "embed_pixels")
        stage.main("tiny")
        local = pd.read_parquet("data/scores/tiny.parquet")
        monkeypatch.setattr(stage, "load_config", lambda: with_ray(cfg))
        calls = piece_sizes(monkeypatch)
        ray_rows = recorded(monkeypatch, ActorPool, "__call__")
        stage.main("tiny")
    assert max(calls) == 3 * 2  # the engine asks for the pool's width (2 actors x 3 inputs): both actors at work
    assert_same_rows(local_rows, ray_rows)
    on_ray = pd.read_parquet("data/scores/tiny.parquet")
    assert len(local) == 20 * 6 and (local["status"] == "ok").sum() >= len(local) // 2
    assert local.equals(on_ray)


@pytest.mark.parametrize("method", ["adapter", "finetune"])
def test_score_attacker_on_ray_is_the_in_process_scoring(study, ray_cluster, monkeypatch, method):
    # An attacker scores in-process, then on 2 Ray actors holding its models loaded from their files: the same
    # bits. adapter: random MLP weights (an untrained one is the identity), ArcFace's ONNX session on the actors
    # too, no saved ArcFace embeddings, so the actors embed every distinct crop; finetune: the torch ArcFace
    # (converted weights) on 1 actor with 2 threads: on 1 thread its CPU kernels give other last bits than on 2 or
    # more, as in-process here (docs/scaling.md). Batches of 3, as for score_model.
    import torch

    from flup.attack import adapter, arcface_torch, recognizer
    from flup.pipeline import score_attacker as driver
    from stages import score_attacker as stage

    root, _ = study
    monkeypatch.chdir(root)
    params = merge(yaml.safe_load(Path("params.yaml").read_text()), {
        "attack": {"batch_size": 3, "device": "cpu", "modes": ["oracle_box", "end_to_end"]},
        "attackers": {method: {"method": method, "obfuscation": "blur", "levels": [2, 24]}}})
    Path("attacker_params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cfg = load_config("attacker_params.yaml")
    rendered(cfg)
    folder = Path("data/attackers") / method / "seed0"
    folder.mkdir(parents=True, exist_ok=True)
    if method == "adapter":
        net = adapter.EmbeddingAdapter(512, 32, 2)
        with torch.no_grad():
            for weight in net.parameters():
                weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(weight.numel())) * 0.05)
        save_weights(net, folder / "adapter.safetensors")
        write_json(folder / "meta.json", {"method": method, "protocol": "view1", "hidden": 32, "depth": 2})
        batch_dependent, step = (adapter, "apply"), (recognizer.ADAPTER,)  # ArcFace's rows do not depend on it
        ray = with_ray(cfg)
    else:
        save_weights(arcface_torch.convert(model_files.recognizer_file(cfg)), folder / "model.safetensors")
        write_json(folder / "meta.json", {"method": method, "protocol": "view1"})
        batch_dependent, step = (arcface_torch, "embed"), ()
        ray = cfg.model_copy(update={"executor": RAY.model_copy(update={"workers": 1, "cpus_per_worker": 2})})
    monkeypatch.setattr(driver, "ARCFACE_EMBEDDINGS", Path("no_saved_embeddings.npz"))
    monkeypatch.setattr(stage, "load_config", lambda: cfg)
    with torch.no_grad():
        local_rows = recorded(monkeypatch, *batch_dependent)
        stage.main(method)
        local = pd.read_parquet(f"data/scores/{method}.parquet")
        monkeypatch.setattr(stage, "load_config", lambda: ray)
        calls = piece_sizes(monkeypatch)
        ray_rows = recorded(monkeypatch, ActorPool, "__call__", *step)
        stage.main(method)
    assert max(calls) == 3 * ray.executor.workers  # the engine asks for the pool's width (actors x 3 crops)
    assert_same_rows(local_rows, ray_rows)
    on_ray = pd.read_parquet(f"data/scores/{method}.parquet")
    assert len(local) == 20 * 6 * 2 and (local["status"] == "ok").sum() >= len(local) // 2
    assert local.equals(on_ray)


def test_the_default_executor_needs_no_ray():
    code = ("import sys, flup.executor, flup.pipeline.detect, flup.pipeline.render, stages.detect, "
            "stages.render, stages.score_arcface, stages.score_model, stages.score_attacker; "
            "from flup.config import load_config; "
            "assert load_config().executor.kind == 'local'; assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_params_without_an_executor_section_run_in_process(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    del params["executor"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert load_config(tmp_path / "params.yaml").executor == Executor(kind="local")
