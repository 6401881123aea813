"""dvc.lock against the tree (issue 12): every stage recorded, params and git-tracked code as the lock says.

The checker (flup/lockcheck.py) is tested on a small real DVC project built here: ``dvc repro`` makes its lock
consistent, a ``git clone`` of it has no data and no cache (as CI has), and each edit must make exactly the stages
that `dvc status` (DVC's own verdict, on the copy that has the data) reports stale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from flup import lockcheck
from tests.conftest import dvc

pytestmark = pytest.mark.slow  # git and dvc subprocesses

REPO = Path(__file__).resolve().parents[1]

GEN = """\
import yaml
from lib.helper import times

scale = yaml.safe_load(open("params.yaml"))["scale"]
open("out/gen.txt", "w").write(str(times(scale, 21)))
"""
SUMMARY = """\
import json, sys, yaml

nested = yaml.safe_load(open("params.yaml"))["nested"]
value = int(open("out/gen.txt").read())
json.dump({"item": sys.argv[1], "value": value + nested["x"]}, open(f"results/summary_{sys.argv[1]}.json", "w"))
"""
DVC_YAML = """\
stages:
  gen:
    cmd: python src/gen.py
    deps:
      - src/gen.py
      - src/lib
    params:
      - scale
      - lr
    outs:
      - out/gen.txt
  summary:
    foreach: ${items}
    do:
      cmd: python src/summary.py ${item}
      deps:
        - src/summary.py
        - out/gen.txt
      params:
        - nested
      metrics:
        - results/summary_${item}.json:
            cache: false
"""
# lr: PyYAML writes 5.0e-05, DVC's lock 5e-05 (which YAML 1.1 would read as a string): the same value
PARAMS = {"scale": 2, "lr": 5e-05, "nested": {"x": 1, "y": [1, 2]}, "items": ["a", "b"]}
STAGES = ["gen", "summary@a", "summary@b"]


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=flup-tests", "-c", "user.email=tests@flup.invalid", *args], cwd=project,
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> tuple[Path, Path]:
    """(a run project with data and cache, a git clone of it with neither); both with a consistent dvc.lock."""
    run = tmp_path_factory.mktemp("lock") / "run"
    (run / "src/lib").mkdir(parents=True)
    (run / "out").mkdir()
    (run / "results").mkdir()
    (run / "src/gen.py").write_text(GEN)
    (run / "src/summary.py").write_text(SUMMARY)
    (run / "src/lib/__init__.py").write_text("")
    (run / "src/lib/helper.py").write_text("def times(a, b):\n    return a * b\n")
    (run / "dvc.yaml").write_text(DVC_YAML)
    (run / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    (run / ".gitignore").write_text("__pycache__/\n")
    git(run, "init", "-q")
    dvc(run, "init", "-q")
    (run / ".dvcignore").write_text("__pycache__/\n")
    dvc(run, "repro", "-q")
    assert json.loads((run / "results/summary_b.json").read_text()) == {"item": "b", "value": 43}
    assert "lr: 5.0e-05" in (run / "params.yaml").read_text() and "lr: 5e-05" in (run / "dvc.lock").read_text()
    git(run, "add", "-A")
    git(run, "commit", "-qm", "consistent lock")
    clone = run.with_name("clone")
    git(run.parent, "clone", "-q", str(run), str(clone))
    return run, clone


def copy(project: Path, tmp_path: Path) -> Path:
    target = tmp_path / project.name
    shutil.copytree(project, target, symlinks=True)
    return target


def stale_names(project: Path) -> set[str]:
    names, stale = lockcheck.check(project)
    assert names == STAGES
    return {s.stage for s in stale}


def dvc_status_stale(project: Path) -> set[str]:
    """DVC's own verdict: stages `dvc status` reports changed (needs the data, so only on the run project)."""
    return set(json.loads(dvc(project, "status", "--json").stdout.strip() or "{}"))


def test_a_fresh_clone_without_data_passes(projects):
    run, clone = projects
    assert not (clone / "out/gen.txt").exists() and not (clone / ".dvc/cache").exists()
    names, stale = lockcheck.check(clone)
    assert (names, stale) == (STAGES, [])
    assert not (clone / ".dvc/cache").exists()  # hashing wrote nothing
    assert "records the current tree: 3 stages" in lockcheck.report(names, stale)
    assert dvc_status_stale(run) == set()  # DVC agrees the run's lock is consistent


def test_what_dvc_ignores_changes_nothing(projects, tmp_path):
    """Bytecode (.dvcignore) in a code folder, and data that git does not track, leave the lock current."""
    project = copy(projects[1], tmp_path)
    (project / "src/lib/__pycache__").mkdir()
    (project / "src/lib/__pycache__/helper.cpython-311.pyc").write_bytes(b"\0")
    (project / "out/gen.txt").write_text("not what the run wrote")
    assert stale_names(project) == set()


def _set_param(project: Path, *path_and_value) -> None:
    *path, value = path_and_value
    params = yaml.safe_load((project / "params.yaml").read_text())
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _append(project: Path, name: str, text: str) -> None:
    with (project / name).open("a") as handle:
        handle.write(text)


# (edit, stages it makes stale, text the report must contain); each edit applies to a copy of a project
EDITS = {
    "param value": (lambda p: _set_param(p, "scale", 3), {"gen"}, "params.yaml: scale was 2 in the run, is 3 now"),
    "nested param value": (lambda p: _set_param(p, "nested", "y", [1, 2, 3]), {"summary@a", "summary@b"},
                           "params.yaml: nested.y was [1, 2] in the run, is [1, 2, 3] now"),
    "code in a folder dep": (lambda p: _append(p, "src/lib/helper.py", "# edited\n"), {"gen"},
                             "code or inputs changed: src/lib"),
    "new module in a folder dep": (lambda p: (p / "src/lib/extra.py").write_text("X = 1\n"), {"gen"},
                                   "code or inputs changed: src/lib"),
    "a stage's script": (lambda p: _append(p, "src/summary.py", "# edited\n"), {"summary@a", "summary@b"},
                         "code or inputs changed: src/summary.py"),
    "committed output": (lambda p: (p / "results/summary_a.json").write_text("{}"), {"summary@a"},
                         "committed outputs differ from the lock: results/summary_a.json"),
}
STRUCTURE_EDITS = {
    "command": (lambda p: (p / "dvc.yaml").write_text(DVC_YAML.replace("python src/gen.py", "python src/gen.py -v")),
                {"gen"}, "command changed: 'python src/gen.py' -> 'python src/gen.py -v'"),
    "dep added": (lambda p: (p / "dvc.yaml").write_text(DVC_YAML.replace("      - src/lib\n",
                                                                          "      - src/lib\n      - README\n")),
                  {"gen"}, "deps not recorded in the lock: README"),
    "param key added": (lambda p: (p / "dvc.yaml").write_text(DVC_YAML.replace("      - scale\n",
                                                                                "      - scale\n      - items\n")),
                        {"gen"}, "params.yaml: items not recorded in the lock"),
    "foreach item added": (lambda p: _set_param(p, "items", ["a", "b", "c"]), {"summary@c"},
                           "summary@c:\n    - not in dvc.lock"),
    "lock entry removed": (lambda p: (p / "dvc.lock").write_text((p / "dvc.lock").read_text().replace(
        "  summary@a:", "  summary@z:")), {"summary@a", "summary@z"}, "summary@a:\n    - not in dvc.lock"),
}


@pytest.mark.parametrize("edit", [*EDITS, *STRUCTURE_EDITS])
def test_an_edit_makes_its_stages_stale_in_a_clone(projects, tmp_path, edit):
    change, expected, text = {**EDITS, **STRUCTURE_EDITS}[edit]
    project = copy(projects[1], tmp_path)
    change(project)
    names, stale = lockcheck.check(project)
    assert {s.stage for s in stale} == expected
    message = lockcheck.report(names, stale)
    assert text in message, message
    assert f"Refresh: `dvc repro {' '.join(n for n in names if n in expected)}`" in message


@pytest.mark.parametrize("edit", list(EDITS))
def test_stale_stages_are_the_ones_dvc_status_reports(projects, tmp_path, edit):
    """The independent reference: on the project with data, DVC itself names the same stages."""
    change, expected, _ = EDITS[edit]
    project = copy(projects[0], tmp_path)
    change(project)
    assert dvc_status_stale(project) == expected  # the oracle sees the edit as this test expects
    assert stale_names(project) == expected


def test_command_line(projects, tmp_path):
    project = copy(projects[1], tmp_path)
    run = [sys.executable, "-m", "flup.lockcheck", str(project)]
    clean = subprocess.run(run, cwd=REPO, capture_output=True, text=True, check=False)
    assert clean.returncode == 0 and "records the current tree" in clean.stdout, clean.stderr
    _set_param(project, "scale", 5)
    stale = subprocess.run(run, cwd=REPO, capture_output=True, text=True, check=False)
    assert stale.returncode == 1, stale.stderr
    assert stale.stdout.startswith("dvc.lock is stale for 1 of 3 stages")
    assert "Refresh: `dvc repro gen` (or `dvc repro` for the whole default run)" in stale.stdout


def test_a_folder_without_git_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="cannot list the files git tracks"):
        lockcheck.git_tracked(tmp_path)


# --- this repository -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repo_check():
    return lockcheck.check(REPO)


def expected_stage_names() -> list[str]:
    """dvc.yaml's stages expanded by hand from params.yaml (foreach over a table's keys, matrix over two)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    names = []
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        if "foreach" in stage:
            table = params[stage["foreach"].removeprefix("${").removesuffix("}")]
            names += [f"{name}@{key}" for key in table]
        elif "matrix" in stage:
            axes = [params[v.removeprefix("${").removesuffix("}")] for v in stage["matrix"].values()]
            names += [f"{name}@{a}-{b}" for a in axes[0] for b in axes[1]] if len(axes) == 2 else []
            assert len(axes) == 2, "expand this matrix by hand too"
        else:
            names.append(name)
    return names


def test_every_stage_of_dvc_yaml_is_checked(repo_check):
    names, _ = repo_check
    assert sorted(names) == sorted(expected_stage_names())
    assert any("@" in name for name in names)  # foreach/matrix stages expanded, as DVC names them


def test_committed_lock_records_the_tree(repo_check):
    names, stale = repo_check
    assert not stale, lockcheck.report(names, stale)


def test_report_names_the_stale_stages_and_the_refresh_command():
    stale = [lockcheck.Stale("train@a", ["params.yaml: train.epochs was 1 in the run, is 2 now"]),
             lockcheck.Stale("report", ["not in dvc.lock"])]
    text = lockcheck.report(["fetch", "train@a", "report"], stale)
    assert text == textwrap.dedent("""\
        dvc.lock is stale for 2 of 3 stages (it does not record what this tree's code and params.yaml produce):
          train@a:
            - params.yaml: train.epochs was 1 in the run, is 2 now
          report:
            - not in dvc.lock
        Refresh: `dvc repro train@a report` (or `dvc repro` for the whole default run), then commit dvc.lock \
together with the outputs it records (metrics/, plots/).""")


def test_a_leftover_entry_of_a_removed_stage_is_reported(projects, tmp_path):
    """`dvc repro` keeps dvc.lock entries of stages dvc.yaml no longer has (a renamed attacker, say)."""
    project = copy(projects[1], tmp_path)
    lock = project / "dvc.lock"
    text = lock.read_text()
    first = text.index("\n  ", text.index("stages:")) + 1
    second = text.index("\n  ", text.index("\n", first) + 1)
    while text[second + 3] == " ":  # the end of the first stage's block: the next line indented by two only
        second = text.index("\n  ", second + 1)
    block = text[first:second + 1]
    name = block.split(":", 1)[0].strip()
    lock.write_text(text + block.replace(f"  {name}:", "  gone:", 1))
    names, stale = lockcheck.check(project)
    assert [(s.stage, s.leftover) for s in stale] == [("gone", True)]
    message = lockcheck.report(names, stale)
    assert message.startswith("dvc.lock is stale for 0 of 3 stages and records 1 stage the pipeline no longer has")
    assert "Delete the leftover entries (gone) from dvc.lock." in message and "Refresh:" not in message
