"""Shared fixtures: the real LFW copy beside the repo, and a small real pipeline run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LFW = (REPO.parent / "shared" / "data" / "lfw").resolve()
PROJECT_FILES = ["dvc.yaml", "params.yaml", "pyproject.toml", "flup", "stages", "profiles", ".dvc/plots", ".dvcignore"]


def require_lfw() -> Path:
    if not (LFW / "lfw-deepfunneled").is_dir():
        pytest.fail(f"{LFW}: the shared LFW copy is missing; tests need ../shared/data/lfw beside the repo")
    return LFW


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    return require_lfw()


def copy_project(dest: Path) -> Path:
    """A fresh DVC project with this repo's pipeline code, outside the repo's git."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        target = dest / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["DVC_NO_ANALYTICS"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def write_params(project: Path, overlay: dict) -> None:
    sys.path.insert(0, str(REPO))
    from flup.profiles import merge

    params = yaml.safe_load((project / "params.yaml").read_text())
    (project / "params.yaml").write_text(yaml.safe_dump(merge(params, overlay), sort_keys=False))


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory, lfw_root) -> Path:
    """The real `dvc repro` of the whole study on the tiny profile over a subset of the shared LFW."""
    project = copy_project(tmp_path_factory.mktemp("study"))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    dvc(project, "init", "-q", "--force")
    tiny = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())
    write_params(project, tiny)
    write_params(project, {"data": {"source": str(lfw_root)}})
    # dvclive (training) needs a repository with a commit, as any clone has
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=flup-tests", "-c", "user.email=tests@flup.invalid", "commit", "-qm",
                    "tiny study"], cwd=project, check=True)
    project.joinpath("first_repro.log").write_text(dvc(project, "repro").stdout)
    return project
