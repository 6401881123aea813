"""Experiment grids (flup/config/grid.py, params.yaml `grids:`): expansion and its errors without DVC, then
(e2e) a grid queued as DVC experiments on the tiny study and run by two queue workers.

As in tests/test_config.py, each bad case edits a copy of the real params.yaml and marks the edited line with
``# BAD``; the expected line is found by searching the text for the marker, never by asking the code under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flup.config import ConfigError, load_config
from flup.config.grid import commands, points
from tests.conftest import copy_study, dvc, write_params
from tests.test_pipeline_e2e import stages_run

REPO = Path(__file__).resolve().parents[1]
PARAMS = (REPO / "params.yaml").read_text()
BOOTSTRAP = "    params: {evaluate.seed: [1, 2, 3]}"
assert PARAMS.count(BOOTSTRAP) == 1


def with_grid(tmp_path: Path, line: str) -> tuple[Path, str]:
    """params.yaml with the bootstrap_seeds grid's ``params:`` line replaced by ``line`` (marked # BAD unless
    ``line``, several lines, marks one itself)."""
    text = PARAMS.replace(BOOTSTRAP, line if "# BAD" in line else f"{line}  # BAD")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path, text


def marked_line(text: str) -> int:
    (line,) = [n for n, content in enumerate(text.split("\n"), start=1) if "# BAD" in content]
    return line


def test_the_committed_grids_expand():
    assert points("bootstrap_seeds", REPO / "params.yaml") == [
        {"evaluate.seed": 1}, {"evaluate.seed": 2}, {"evaluate.seed": 3}]
    # zip: the lists item by item
    assert points("training_seeds", REPO / "params.yaml") == [
        {"train.seeds": [0, 1, 2], "attack.seeds": [0, 1, 2]}, {"train.seeds": [3, 4, 5], "attack.seeds": [3, 4, 5]}]


def test_product_runs_every_combination_first_key_slowest(tmp_path):
    path, _ = with_grid(tmp_path, "    params: {evaluate.seed: [1, 2], evaluate.n_boot: [10, 20, 30], "
                                  "render.protocols: [[view1, view2], [view1, view2, seed]]}")
    expected = [(seed, boot, protocols) for seed in (1, 2) for boot in (10, 20, 30)
                for protocols in (["view1", "view2"], ["view1", "view2", "seed"])]
    assert [tuple(p.values()) for p in points("bootstrap_seeds", path)] == expected
    assert list(points("bootstrap_seeds", path)[0]) == ["evaluate.seed", "evaluate.n_boot", "render.protocols"]


def test_commands_queue_one_named_experiment_per_point():
    queued = commands("g", [{"evaluate.seed": 1, "render.protocols": ["view1", "seed"]}, {"evaluate.seed": 2,
                                                                                           "train.lr": 5e-05}],
                      dvc=["dvc"])
    assert queued == [
        ["dvc", "exp", "run", "--queue", "-n", "g-1", "-S=evaluate.seed=1", '-S=render.protocols=["view1","seed"]'],
        ["dvc", "exp", "run", "--queue", "-n", "g-2", "-S=evaluate.seed=2", "-S=train.lr=5e-05"],
    ]


# (the grid's params line, the dotted key the one message names, words the message must hold)
BAD = {
    "misspelled key": ("    params: {evaluate.sed: [1, 2]}", "grids.bootstrap_seeds.params.evaluate.sed",
                       "unknown parameter, did you mean evaluate.seed?"),
    "no such section": ("    params: {nowhere.seed: [1, 2]}", "grids.bootstrap_seeds.params.nowhere.seed",
                        "unknown parameter"),
    "below a value": ("    params: {evaluate.seed.x: [1, 2]}", "grids.bootstrap_seeds.params.evaluate.seed.x",
                      "unknown parameter"),
    "a grid setting grids": ("    params: {grids.x.mode: [zip]}", "grids.bootstrap_seeds.params.grids.x.mode",
                             "unknown parameter"),
    "not a list": ("    params: {evaluate.seed: 1}", "grids.bootstrap_seeds.params.evaluate.seed",
                   "expected a non-empty list of values, got 1"),
    "empty list": ("    params: {evaluate.seed: []}", "grids.bootstrap_seeds.params.evaluate.seed",
                   "expected a non-empty list of values, got []"),
    "no keys": ("    params: {}", "grids.bootstrap_seeds.params", "expected a mapping of dotted keys to lists"),
    "bad mode": ("    mode: grid  # BAD\n    params: {evaluate.seed: [1]}", "grids.bootstrap_seeds.mode",
                 "expected 'product' or 'zip', got 'grid'"),
    "zip of unequal lists": ("    mode: zip\n    params: {evaluate.seed: [1, 2], evaluate.n_boot: [10]}",
                             "grids.bootstrap_seeds.params", "expected lists of one length to zip, got lengths 2, 1"),
    # a value is validated as the study its point makes; the message names the grid's line
    "bad value": ("    params: {evaluate.seed: [1, -2]}", "evaluate.seed",
                  "expected an integer >= 0, got -2 (grids.bootstrap_seeds, point 2)"),
    "bad level in a list value": ("    params: {evaluate.roc_levels.blur: [[0, 4], [0, 300]]}",
                                  "evaluate.roc_levels.blur[1]",
                                  "expected a blur sigma: a finite number >= 0 and <= 256, got 300 "
                                  "(grids.bootstrap_seeds, point 2)"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_grid_names_file_line_and_key(tmp_path, case):
    line, key, words = BAD[case]
    path, text = with_grid(tmp_path, line)
    with pytest.raises(ConfigError) as raised:
        points("bootstrap_seeds", path)
    (message,) = raised.value.problems
    assert "\n" not in message
    assert message.startswith(f"{path}:{marked_line(text)}: {key}: "), message
    assert words in message, message


def test_a_point_breaking_a_rule_across_keys_names_the_other_key_and_the_point(tmp_path):
    path, text = with_grid(tmp_path, "    params: {render.protocols: [[view1, view2], [view1]]}")
    line = text.split("\n").index("  baseline_only: [view2]  # rendered and scored at blur 0 only: view2's standard "
                                   "10-fold accuracy") + 1
    with pytest.raises(ConfigError) as raised:
        points("bootstrap_seeds", path)
    assert raised.value.problems == [f"{path}:{line}: render.baseline_only: expected protocols that render.protocols "
                                     "lists, got ['view2'] (grids.bootstrap_seeds, point 2)"]


def test_unknown_grid_is_named_with_the_grids_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    line = PARAMS.split("\n").index(next(x for x in PARAMS.split("\n") if x.startswith("grids:"))) + 1
    with pytest.raises(ConfigError) as raised:
        points("seeds", path)
    assert raised.value.problems == [f"{path}:{line}: grids.seeds: not defined "
                                     "(grids: bootstrap_seeds, training_seeds)"]


def test_grids_are_optional(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS[:PARAMS.index("\ngrids:")] + "\n")
    assert load_config(path).grids == {}


@pytest.mark.slow  # a subprocess
def test_cli_dry_run_prints_the_commands_and_a_bad_grid_exits_2(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS)
    run = subprocess.run([sys.executable, "-m", "flup.config.grid", "training_seeds", "--dry-run"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "dvc exp run --queue -n training_seeds-1 '-S=train.seeds=[0,1,2]' '-S=attack.seeds=[0,1,2]'",
        "dvc exp run --queue -n training_seeds-2 '-S=train.seeds=[3,4,5]' '-S=attack.seeds=[3,4,5]'"]
    path, text = with_grid(tmp_path, "    params: {evaluate.seed: [1, -2]}")
    run = subprocess.run([sys.executable, "-m", "flup.config.grid", "bootstrap_seeds"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == (f"error: params.yaml:{marked_line(text)}: evaluate.seed: expected an integer >= 0, got -2 "
                          "(grids.bootstrap_seeds, point 2)\n")
    assert not (tmp_path / ".dvc").exists()  # nothing queued (no DVC project was even looked for)


# --- e2e: the grid as queued DVC experiments on the tiny study ------------------------------------------


def leaves(tree, key: str, prefix: tuple = ()) -> dict:
    """``{path: value}`` of every ``key`` entry in a nested metrics dict."""
    found = {}
    for name, value in tree.items():
        if name == key and not isinstance(value, dict):
            found[prefix] = value
        elif isinstance(value, dict):
            found.update(leaves(value, key, (*prefix, name)))
    return found


@pytest.mark.e2e
def test_a_grid_runs_as_queued_experiments_on_two_workers(tiny_study, tmp_path):
    start = time.monotonic()
    study = copy_study(tiny_study, tmp_path / "study")
    write_params(study, {"grids": {"boot": {"params": {"evaluate.seed": [1, 2]}}}})
    git = ["git", "-c", "user.name=flup-tests", "-c", "user.email=tests@flup.invalid"]
    subprocess.run(["git", "add", "-A"], cwd=study, check=True, capture_output=True)  # experiments start from a
    subprocess.run([*git, "commit", "-qm", "the tiny study, reproduced"], cwd=study, check=True)  # commit
    env = {**os.environ, "PYTHONPATH": str(study), "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([sys.executable, "-m", "flup.config.grid", "boot", "--jobs", "2", "--wait"], cwd=study,
                         env=env, capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "boot-1: Success" in run.stderr and "boot-2: Success" in run.stderr

    baseline = json.loads((study / "metrics/verification.json").read_text())
    (entry,) = [e for e in json.loads(dvc(study, "exp", "show", "--json").stdout) if e["rev"] != "workspace"]
    found = {}
    for experiment in entry["experiments"] or []:
        (rev,) = experiment["revs"]
        data = rev["data"]
        found[experiment["name"]] = (data["params"]["params.yaml"]["data"]["evaluate"]["seed"],
                                     data["metrics"]["metrics/verification.json"]["data"])
    assert sorted(found) == ["boot-1", "boot-2"]
    assert (found["boot-1"][0], found["boot-2"][0]) == (1, 2)
    one, two = found["boot-1"][1], found["boot-2"][1]
    # the AUC does not depend on the bootstrap: equal to the baseline's in every group; its interval does
    assert leaves(one, "auc") == leaves(two, "auc") == leaves(baseline, "auc")
    assert len(leaves(one, "auc")) > 20
    assert leaves(one, "auc_low") != leaves(two, "auc_low") and leaves(one, "auc_high") != leaves(two, "auc_high")
    assert leaves(one, "n_pairs") == leaves(baseline, "n_pairs")
    # each experiment reran only the stages that read evaluate.* or its outputs
    for name in ("boot-1", "boot-2"):
        log = subprocess.run([sys.executable, "-m", "dvc", "queue", "logs", name], cwd=study, env=env,
                             capture_output=True, text=True, check=True).stdout
        # (and learning_curve, whose AUC intervals use evaluate.n_boot and evaluate.seed: seconds while it is off;
        # and validate, which checks all of params.yaml before any stage removes an output)
        ran = stages_run(log)
        assert "evaluate" in ran and ran <= {"validate", "evaluate", "learning_curve", "plot", "report"}, log
    print(f"grid of 2 experiments on 2 workers: {time.monotonic() - start:.1f} s")
    assert re.search(r"2 experiment\(s\) queued", run.stderr)
