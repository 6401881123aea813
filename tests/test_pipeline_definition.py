"""dvc.yaml lists, for every stage, exactly the code that stage runs (flup/stage_deps.py reads it from the
imports): a code change reruns every stage that runs it, and no other."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from flup import stage_deps
from flup.stage_deps import VALIDATED, code_deps, differences, rewrite, stage_code, stage_definitions

ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_lists_exactly_the_code_it_runs():
    assert differences() == {}, "run: python -m flup.stage_deps --write"


def test_every_stage_but_validate_depends_on_the_validation_token():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages["validate"]["params"] == [{"params.yaml": None}]  # every key of the file
    assert stages["validate"]["outs"] == [VALIDATED]
    for name, stage in stage_definitions().items():
        assert (VALIDATED in stage["deps"]) == (name != "validate"), name


def test_an_evaluation_change_reruns_no_scoring_stage():
    scoring = ("render", "score_arcface", "train", "score_model", "train_attacker", "score_attacker")
    for name in scoring:
        assert not any(dep.startswith("flup/evaluation") for dep in stage_definitions()[name]["deps"]), name


def test_no_stage_depends_on_the_profiles_or_the_grids():
    # Editing an experiment grid or a profile's printer changes no result: it reruns nothing.
    for name, stage in stage_definitions().items():
        assert not {"flup/config", "flup/config/grid.py", "flup/config/profiles.py"} & set(stage["deps"]), name


def test_the_import_walk_sees_through_from_package_imports_and_function_imports():
    # stages/train.py -> flup.pipeline.train -> "from flup.models import ... trainer" -> flup.models.sampling ->
    # flup.obfuscation.methods: the blur the models learn from; the packages' __init__.py run on the way.
    code = stage_code("stages.train")
    assert {"flup/models/__init__.py", "flup/models/trainer.py", "flup/models/sampling.py",
            "flup/obfuscation/__init__.py", "flup/obfuscation/methods.py", "stages/__init__.py"} <= code


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def test_a_folder_stands_for_its_modules_only_when_the_stage_runs_them_all(tmp_path):
    write_package(tmp_path, {
        "stages/__init__.py": "",
        "stages/one.py": """
            from flup.a import x
            from flup.b.used import y
            def late():
                import flup.c  # runs when called: a dependency too
        """,
        "flup/__init__.py": "import flup.notebook_only\n",  # the API's imports are not followed
        "flup/notebook_only.py": "",
        "flup/log.py": "",
        "flup/a/__init__.py": "", "flup/a/x.py": "",
        "flup/b/__init__.py": "", "flup/b/used.py": "", "flup/b/unused.py": "",
        "flup/c.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from flup.b import unused  # annotations only: not run
        """,
    })
    assert code_deps("stages.one", tmp_path) == [
        "flup/a", "flup/b/__init__.py", "flup/b/used.py", "flup/c.py", "stages/__init__.py", "stages/one.py"]


def test_rewrite_keeps_the_data_deps_and_the_comments(tmp_path, monkeypatch):
    write_package(tmp_path, {"stages/__init__.py": "", "stages/one.py": "import flup.io\n", "flup/__init__.py": "",
                             "flup/io.py": ""})
    text = textwrap.dedent("""\
        stages:
          one:
            cmd: python -m stages.one
            deps: [stages/one.py, flup/gone.py,
                   data/input]  # read first
            outs: [data/out]
        """)
    (tmp_path / "dvc.yaml").write_text(text)
    monkeypatch.setattr(stage_deps, "ROOT", tmp_path)
    assert rewrite(text, tmp_path) == text.replace(
        "[stages/one.py, flup/gone.py,\n           data/input]",
        "[data/validated, flup/io.py, stages/__init__.py, stages/one.py, data/input]")
