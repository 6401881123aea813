"""The identification protocol on an evaluation-only dataset (docs/design.md "Identification"): a folder of real LFW
photos (people the study's LFW protocol is not drawn from here) ingested and detected by the stages' own code, then
identities_dataset, identify_dataset, identify_attacker_dataset and evaluate_identification run in this process
(flup/pipeline/identities.py, identify.py, identify_attacker.py, evaluate_identification.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from flup.config import load_config
from flup.config.params import ParamError
from flup.config.paths import (
    ATTACKERS,
    IDENTIFICATION_ATTACKERS,
    IDENTIFICATION_PROTOCOL,
    IDENTIFICATION_SCORES,
    replica,
)
from flup.io import read_table, write_json, write_table
from flup.pipeline.identities import identification_files, split_dataset_identities
from tests.conftest import REPO, make_identity_folder, write_params

pytestmark = pytest.mark.slow  # the detector and ArcFace on 30 photos

NAME = "people"
ADAPTER, FINETUNE = "adapter_blur", "finetune_blur"
OVERLAY = {
    "identification": {"folds": 2, "probes_per_identity": 2, "n_boot": 200, "regions": [1.0], "modes": ["oracle_box"],
                       "obfuscations": {"blur": [0, 8], "pixelate": [], "blackbox": [1], "deface": [],
                                        "face_gaussian": [], "face_pixelate": []}},
    "attackers": {"adapter_pixelate": None, "adapter_deface": None, "adapter_face_gaussian": None,
                  "adapter_face_pixelate": None, ADAPTER: {"attack": {"seeds": [0, 1]}},
                  FINETUNE: {"method": "finetune", "obfuscation": "blur", "levels": [16, 16]}},
    # every photo of the folder is in a same-person pair, so every one is detected (detect_dataset reads the pairs')
    "datasets": {NAME: {"format": "folder", "root": NAME, "face_rule": "largest_central", "same_pairs": 30,
                        "different_pairs": 8, "random_seed": 0, "min_pairs_per_label": 4}},
}


def _adapters(cfg) -> None:
    """Replica 0 of the adapter attacker untrained (the identity map: ArcFace's own outcomes), replica 1 with a
    random last layer (other outcomes), each where train_attacker leaves it."""
    from flup.attack.adapter import EmbeddingAdapter
    from flup.training.weight_files import save_weights

    settings = cfg.attacker(ADAPTER).attack.adapter
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = EmbeddingAdapter(512, settings.hidden, settings.depth)
        if seed:
            last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
            torch.nn.init.normal_(last.weight, std=0.05)
        folder = replica(ATTACKERS / ADAPTER, seed)
        save_weights(net, folder / "adapter.safetensors")
        write_json(folder / "meta.json", {"name": ADAPTER, "seed": seed, "method": "adapter",
                                          "hidden": settings.hidden, "depth": settings.depth})


@pytest.fixture(scope="module")
def study(tmp_path_factory, lfw_root):
    """The dataset's identification files and metrics, built by the stages' drivers; LFW's identification files are
    a copy of the dataset's, so evaluate_identification computes LFW's cells from the very same outcomes."""
    from flup.pipeline.evaluate_identification import evaluate_identification
    from stages import detect, identify, identify_attacker, ingest
    from stages import identities as identities_stage

    root = tmp_path_factory.mktemp("dataset_identification")
    make_identity_folder(root / NAME, lfw_root, count=10, per_person=3)
    shutil.copy2(REPO / "params.yaml", root / "params.yaml")
    write_params(root, OVERLAY)
    with pytest.MonkeyPatch.context() as patch, torch.no_grad():
        patch.chdir(root)
        cfg = load_config("params.yaml")
        ingest.main(NAME)
        detect.main(NAME)
        identities_stage.main(NAME)
        identify.main(NAME)
        _adapters(cfg)
        identify_attacker.main(ADAPTER, NAME)
        identify_attacker.main(FINETUNE, NAME)
        files = identification_files(NAME)
        shutil.copytree(files.protocol, IDENTIFICATION_PROTOCOL)
        shutil.copytree(files.scores, IDENTIFICATION_SCORES)
        arcface = read_table(files.scores / "arcface.parquet")
        write_table(IDENTIFICATION_SCORES / "arcface_restored.parquet", arcface.iloc[:0])
        write_json(IDENTIFICATION_ATTACKERS / ADAPTER / "meta.json", {"scored": True})
        write_json(IDENTIFICATION_ATTACKERS / FINETUNE / "meta.json", {"scored": False})
        metrics, table = evaluate_identification(cfg)
        tables = {name: read_table(files.scores / f"{name}.parquet") for name in ("arcface", ADAPTER, FINETUNE)}
        protocol = {name: read_table(files.protocol / f"{name}.csv") for name in ("folds", "gallery", "probes")}
        faces = read_table(root / "data/datasets" / NAME / "faces.parquet")
    return {"metrics": metrics, "table": table, "tables": tables, "protocol": protocol, "faces": faces}


def _auc(cells, recognizer: str, kind: str, level: float) -> float:
    cell = next(c for c in cells if (c["recognizer"], c["obfuscation"]) == (recognizer, kind))
    entry = next(e for e in cell["levels"] if e["level"] == level)
    return entry["metrics"]["auc"]["estimate"]


def test_the_protocol_splits_the_datasets_people_into_disjoint_folds_and_probes_every_target(study):
    folds, gallery, probes = study["protocol"]["folds"], study["protocol"]["gallery"], study["protocol"]["probes"]
    detected = study["faces"][study["faces"]["status"] == "ok"]
    assert set(folds["identity"]) == set(study["faces"]["identity"]) and folds["identity"].is_unique
    assert set(folds["fold"]) == {0, 1}
    fold = dict(zip(folds["identity"], folds["fold"], strict=True))
    for table in (gallery, probes):
        assert (table["identity"].map(fold) == table["fold"]).all()  # each person in its own fold only
    assert not set(gallery.loc[gallery["fold"] == 0, "identity"]) & set(gallery.loc[gallery["fold"] == 1, "identity"])
    targets = set(gallery.loc[gallery["target"], "identity"])
    assert len(targets) >= 4 and set(probes["identity"]) == targets  # every target probed, nobody else
    assert not set(probes["image"]) & set(gallery["image"])
    assert set(probes["image"]) | set(gallery["image"]) <= set(detected["image"])
    assert np.allclose(probes.groupby("identity")["weight"].sum(), 1.0)


def test_arcface_identifies_sharp_probes_and_a_black_box_is_near_chance(study):
    cells = study["metrics"]["datasets"][NAME]["cells"]
    assert _auc(cells, "arcface", "blur", 0.0) > 0.9
    assert abs(_auc(cells, "arcface", "blackbox", 1.0) - 0.5) < 0.25
    assert _auc(cells, "arcface", "blur", 0.0) > _auc(cells, "arcface", "blackbox", 1.0) + 0.3


def test_each_adapter_replica_scores_every_probe_and_a_finetuned_attacker_none(study):
    arcface, attacker = study["tables"]["arcface"], study["tables"][ADAPTER]
    probes = set(study["protocol"]["probes"]["probe_id"])
    keys = ["mode", "obfuscation", "level", "region", "probe_id"]
    assert set(attacker["train_seed"]) == {0, 1}
    for _, rows in attacker.groupby("train_seed"):
        assert len(rows) == len(arcface) == 3 * len(probes)  # blur 0, blur 8, black box
        assert set(rows["probe_id"]) == probes and not rows.duplicated(keys).any()
    identity = attacker[attacker["train_seed"] == 0].drop(columns="train_seed").sort_values(keys)
    ours = arcface.sort_values(keys)
    # the untrained adapter is the identity map: ArcFace's ranks; the perturbed one moves the probes' scores
    assert (identity["targets_above"].to_numpy() == ours["targets_above"].to_numpy()).all()
    assert np.allclose(identity["matched"], ours["matched"], atol=1e-5)
    moved = attacker[attacker["train_seed"] == 1].sort_values(keys)
    assert not np.allclose(moved["matched"], ours["matched"], atol=1e-3)
    assert study["tables"][FINETUNE].empty


def test_evaluate_writes_the_datasets_cells_beside_lfws_unchanged(study):
    metrics, table = study["metrics"], study["table"]
    part = metrics["datasets"][NAME]
    assert set(metrics) >= {"protocol", "rule", "not_cross_fitted", "cells", "datasets"}
    assert part["not_scored"] == [FINETUNE] and metrics["not_cross_fitted"] == [FINETUNE]
    assert part["protocol"]["targets"] == int(study["protocol"]["gallery"]["target"].sum())
    assert part["protocol"]["probes"] == len(study["protocol"]["probes"])
    # LFW's files here are a copy of the dataset's: the same outcomes give the same cells, LFW's keys as before
    assert part["cells"] == metrics["cells"]
    assert {(c["recognizer"], c["obfuscation"]) for c in part["cells"]} == {
        (name, kind) for name in ("arcface", ADAPTER) for kind in ("blur", "blackbox")}
    assert list(table.columns[:3]) == ["dataset", "recognizer", "recognizer_kind"]
    assert set(table["dataset"]) == {"lfw", NAME}
    lfw, ours = (table[table["dataset"] == name].drop(columns="dataset").reset_index(drop=True)
                 for name in ("lfw", NAME))
    pd.testing.assert_frame_equal(lfw, ours)


def test_the_report_gives_the_dataset_a_short_section_and_the_figures_keep_lfw(study):
    from flup.report.identification import identification_section
    from flup.report.identification_figures import dataset_rows

    lines = identification_section(study["metrics"])
    text = "\n".join(lines)
    start = text.index(f"### On the evaluation-only dataset `{NAME}`")
    part = text[start:]
    targets = study["metrics"]["datasets"][NAME]["protocol"]["targets"]
    assert f"{targets} people in 2 identity folds" in part
    assert "#### The attacker knows where the face was (oracle box)" in part
    assert "| Gaussian blur | **no setting of this family hides a face" in part  # sharp ArcFace leaks at σ 8 too
    assert "| black box |" in part
    assert f"`{FINETUNE}`" in part
    assert set(dataset_rows(study["table"], "lfw")["dataset"]) == {"lfw"}


def test_too_few_people_for_the_folds_is_refused_naming_the_dataset(tmp_path, monkeypatch):
    shutil.copy2(REPO / "params.yaml", tmp_path / "params.yaml")
    write_params(tmp_path, {"identification": {"folds": 3},
                            "datasets": {"few": {**OVERLAY["datasets"][NAME], "root": "few"}}})
    monkeypatch.chdir(tmp_path)
    faces = pd.DataFrame({"image": [f"p{i}/{k}.jpg" for i in range(6) for k in range(2)],
                          "identity": [f"p{i}" for i in range(6) for _ in range(2)], "status": "ok"})
    faces.loc[0, "status"] = "no_face"  # p0 keeps one usable photo: 5 people can be probed, 3 folds need 6
    write_table(tmp_path / "data/datasets/few/faces.parquet", faces)
    with pytest.raises(ParamError, match=r"datasets\.few: 5 people with two or more photos.*\(6 people, 11 of 12 "
                                         r"photos usable\), fewer than the 6 that identification.folds = 3 needs"):
        split_dataset_identities(load_config("params.yaml"), "few")
