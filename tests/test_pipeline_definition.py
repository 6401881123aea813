"""dvc.yaml must list, for every stage, the code that stage runs: else a code change reruns nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flup", "stages")
NOT_RESULTS = {"flup/log.py", "flup/__init__.py", "stages/__init__.py"}  # cannot change what a stage writes


def local_imports(path: str, seen: set[str]) -> set[str]:
    """``path`` and every flup/stages module it imports, transitively (repository-relative paths)."""
    if path in seen:
        return seen
    seen.add(path)
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            stem = name.replace(".", "/")
            for module in (stem + ".py", stem + "/__init__.py"):
                if name.split(".")[0] in PACKAGES and (ROOT / module).exists():
                    local_imports(module, seen)
    return seen


def covered(module: str, deps: set[str]) -> bool:
    """A module is covered by a dependency on itself or on any folder above it."""
    parts = module.split("/")
    return any("/".join(parts[:i]) in deps for i in range(1, len(parts) + 1))


def stage_definitions() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def test_every_stage_depends_on_the_code_it_runs():
    missing = {}
    for name, stage in stage_definitions().items():
        module = re.search(r"python -m (\S+)", stage["cmd"]).group(1).replace(".", "/") + ".py"
        deps = {(d if isinstance(d, str) else next(iter(d))).rstrip("/") for d in stage.get("deps", [])}
        lacking = sorted(m for m in local_imports(module, set()) - NOT_RESULTS if not covered(m, deps))
        if lacking:
            missing[name] = lacking
    assert missing == {}


def test_no_stage_depends_on_code_it_does_not_run():
    # The other direction: a listed module or folder nothing the stage imports lies in reruns the stage for
    # nothing (why the scoring engine is flup/verify, apart from flup/evaluate's folding of score tables).
    unused = {}
    for name, stage in stage_definitions().items():
        module = re.search(r"python -m (\S+)", stage["cmd"]).group(1).replace(".", "/") + ".py"
        code = local_imports(module, set())
        deps = [(d if isinstance(d, str) else next(iter(d))).rstrip("/") for d in stage.get("deps", [])]
        listed = [d for d in deps if d.split("/")[0] in PACKAGES]
        idle = [d for d in listed if not any(m == d or m.startswith(d + "/") for m in code)]
        if idle:
            unused[name] = idle
    assert unused == {}
    # An evaluate-only change reruns evaluate and report, none of the scoring stages.
    scoring = ("render", "score_arcface", "train", "score_model", "train_attacker", "score_attacker")
    assert not any("flup/evaluate" in map(str, stage_definitions()[name]["deps"]) for name in scoring)


def test_the_import_walk_sees_through_from_package_imports():
    # stages/train.py imports "from flup import model, training"; training imports flup.models.sampling,
    # which imports flup.obfuscate.obfuscation: the blur the models learn from.
    code = local_imports("stages/train.py", set())
    assert {
        "flup/models/model.py", "flup/models/training.py", "flup/models/sampling.py", "flup/obfuscate/obfuscation.py"
    } <= code
