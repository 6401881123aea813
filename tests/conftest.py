"""Shared fixtures: the real LFW copy beside the repo, and a small real pipeline run."""

from __future__ import annotations

import fcntl
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from flup.cpu import pin_cpu_kernels

pin_cpu_kernels()  # as every stage does (stages/__init__.py), before any test module loads torch

REPO = Path(__file__).resolve().parents[1]
# The shared LFW copy (FLUP_LFW overrides where it is). Tests that need it skip without it, with the reason;
# FLUP_REQUIRE_LFW=1 (for a machine that must have it) turns those skips into failures.
LFW = Path(os.environ.get("FLUP_LFW") or REPO.parent / "shared" / "data" / "lfw").expanduser().resolve()
PROJECT_FILES = ["dvc.yaml", "params.yaml", "pyproject.toml", "flup", "stages", "profiles", ".dvc/plots", ".dvcignore"]


def require_lfw() -> Path:
    """The LFW folder; call it inside a test or fixture (never at import: collection must not need LFW)."""
    if not (LFW / "lfw-deepfunneled").is_dir():
        reason = f"needs the shared LFW copy: {LFW}/lfw-deepfunneled is missing (set FLUP_LFW to an LFW folder)"
        if os.environ.get("FLUP_REQUIRE_LFW", "") not in ("", "0"):
            pytest.fail(reason)
        pytest.skip(reason)
    return LFW


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    """The LFW folder; a test that requests it skips where LFW is missing."""
    return require_lfw()


needs_lfw = pytest.mark.usefixtures("lfw_root")


def require_scaling(*modules: str) -> None:
    """Skip (with the reason) unless the optional scaling packages (requirements-scaling.txt) import: ``modules``
    are import names, e.g. ``dvc_s3``, ``moto.server``, ``ray``. FLUP_REQUIRE_SCALING=1 (CI) makes it a failure."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            reason = f"needs {module} (pip install -r requirements-scaling.txt): {error}"
            if os.environ.get("FLUP_REQUIRE_SCALING", "") not in ("", "0"):
                pytest.fail(reason)
            pytest.skip(reason)


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
    from flup.config.profiles import merge

    params = yaml.safe_load((project / "params.yaml").read_text())
    (project / "params.yaml").write_text(yaml.safe_dump(merge(params, overlay), sort_keys=False))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Work units for the parallel run (pyproject: ``-n auto --dist loadgroup``). Each test module runs whole on one
    worker, so its module fixtures are built once; but each test that uses the session's tiny study is a unit of its
    own: the study is built once for all workers (:func:`tiny_study`), and its tests are the longest.

    Order: one tiny-study test first (its worker builds the study, about 8 minutes), then every other module (the
    other worker's work meanwhile), then the rest of the tiny-study tests, which both workers share once it is
    built: those that copy and rerun it first, the short ones last.
    Every test that runs a real `dvc repro` (the tiny study's, ``e2e``) is also marked ``slow``:
    ``pytest -m "not slow"`` is the fast tier to run before each commit."""
    uses_study = [item for item in items if "tiny_study" in item.fixturenames]
    for item in items:
        if "tiny_study" in item.fixturenames or item.get_closest_marker("e2e"):  # a real `dvc repro`
            item.add_marker(pytest.mark.slow)
        group = item.nodeid if "tiny_study" in item.fixturenames else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
    # the builder: a test that only reads the study; after the others, those that copy and rerun it (the longest)
    # go first, so that the short ones fill the end
    builder = next((item for item in uses_study if "tmp_path" not in item.fixturenames), None)

    def rank(item: pytest.Item) -> int:
        if item is builder:
            return 0
        if "tiny_study" not in item.fixturenames:
            return 1
        return 2 if "tmp_path" in item.fixturenames else 3

    items.sort(key=rank)  # stable within each rank


def shared_build(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root / name``, built by ``build(folder)`` in whichever process gets here first; the others wait on a file
    lock (xdist workers share ``root``) and then use it. A failed build is recorded, so the others fail at once
    with its error instead of building again. The build's last act marks it whole (``<name>.built``)."""
    folder, done, failed = root / name, root / f"{name}.built", root / f"{name}.failed"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            pytest.fail(f"{name} failed to build in another worker:\n{failed.read_text()}")
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            try:
                build(folder)
            except BaseException as error:
                failed.write_text(f"{type(error).__name__}: {error}")
                raise
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory, lfw_root) -> Path:
    """The real `dvc repro` of the whole study on the tiny profile over a subset of the shared LFW, built once per
    test run: under xdist the workers share it, so a test never edits it (:func:`copy_study` first)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's temporary folder, shared by its workers
    return shared_build(root, "tiny_study", lambda project: build_tiny_study(project, lfw_root))


def build_tiny_study(project: Path, lfw_root: Path) -> None:
    copy_project(project)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    dvc(project, "init", "-q", "--force")
    tiny = yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())
    write_params(project, tiny)
    write_params(project, {"data": {"source": str(lfw_root)}})
    # An evaluation-only dataset built from LFW people the 80-person subset does not reach: the CelebA layout, the
    # richer reader (missing files, a malformed line, annotated boxes); every model and attacker scores it. (The
    # identity-folder layout and its face rule are read in tests/test_datasets.py and scored by an attacker in
    # tests/test_attackers.py: a second dataset here cost the suite eleven stages.) It lives inside the project,
    # named relative to it (stages run there), so a copy of the study is whole: a test may move it in its copy
    # without touching what other tests see.
    extra = "extra_datasets"
    make_celeba(project / extra / "celeba", lfw_root)
    write_params(project, {"datasets": {
        "celeba": {"format": "celeba", "root": f"{extra}/celeba", "images": "img_celeba",
                   "face_rule": "annotated", "same_pairs": 12, "different_pairs": 12, "random_seed": 0},
    }})
    # dvclive (training) needs a repository with a commit, as any clone has
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=flup-tests", "-c", "user.email=tests@flup.invalid", "commit", "-qm",
                    "tiny study"], cwd=project, check=True)
    project.joinpath("first_repro.log").write_text(dvc(project, "repro").stdout)


def copy_study(study: Path, dest: Path, cache: bool = True) -> Path:
    """A private copy of a finished study (git, params, data, outputs; the DVC cache hard-linked, since DVC never
    writes into a cache file), for a test that edits or reruns it: the session's study stays as `dvc repro`
    left it, whatever the order of the tests."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(study, dest, symlinks=True, ignore=lambda folder, names: [
        *ignore(folder, names), *(["cache"] if Path(folder) == study / ".dvc" else [])])
    if cache and (study / ".dvc/cache").is_dir():
        shutil.copytree(study / ".dvc/cache", dest / ".dvc/cache", copy_function=os.link)
    return dest


# --- evaluation-only dataset fixtures, built from LFW images ---------------------------------------

MISSING_CELEBA_IMAGES = ("900001.jpg", "900002.jpg")


def lfw_people(lfw_root: Path, count: int, per_person: int, skip: int = 0) -> list[tuple[str, list[Path]]]:
    """``count`` LFW people with at least ``per_person`` images (after skipping ``skip`` such people)."""
    folder = lfw_root / "lfw-deepfunneled"
    people = []
    for person in sorted(p.name for p in folder.iterdir()):
        images = sorted((folder / person).glob("*.jpg"))
        if len(images) >= per_person:
            people.append((person, images[:per_person]))
    return people[skip:skip + count]


def make_celeba(dest: Path, lfw_root: Path, count: int = 16, per_person: int = 3) -> dict:
    """A small CelebA in the official layout: numbered images, identity file with two listed images
    missing from disk and one malformed line, boxes for every image, and the partition file."""
    images = dest / "Img" / "img_celeba"
    images.mkdir(parents=True)
    (dest / "Anno").mkdir()
    (dest / "Eval").mkdir()
    identity_lines, box_lines, partition_lines, truth = [], [], [], {}
    number = 0
    for identity, (_, files) in enumerate(lfw_people(lfw_root, count, per_person, skip=40), start=1):
        for source in files:
            number += 1
            name = f"{number:06d}.jpg"
            shutil.copy(source, images / name)
            identity_lines.append(f"{name} {identity}")
            box_lines.append(f"{name}  75  65  100  120")  # x_1 y_1 width height, around LFW's centred face
            partition_lines.append(f"{name} 2")
            truth[name] = f"celeba_{identity}"
    identity_lines.insert(5, "this line is malformed")
    identity_lines += [f"{name} {count + 1}" for name in MISSING_CELEBA_IMAGES]
    (dest / "Anno" / "identity_CelebA.txt").write_text("\n".join(identity_lines) + "\n")
    (dest / "Anno" / "list_bbox_celeba.txt").write_text(
        f"{len(box_lines)}\nimage_id x_1 y_1 width height\n" + "\n".join(box_lines) + "\n")
    (dest / "Eval" / "list_eval_partition.txt").write_text("\n".join(partition_lines) + "\n")
    return truth


def make_identity_folder(dest: Path, lfw_root: Path, count: int = 16, per_person: int = 3) -> dict:
    """A generic ``<identity>/<image>`` dataset (other LFW people than :func:`make_celeba`)."""
    truth = {}
    for person, files in lfw_people(lfw_root, count, per_person, skip=80):
        (dest / f"id_{person}").mkdir(parents=True)
        for source in files:
            shutil.copy(source, dest / f"id_{person}" / source.name)
            truth[f"id_{person}/{source.name}"] = f"id_{person}"
    return truth
