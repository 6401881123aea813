"""The faults found by the adversarial run of issue 11, each pinned by a test that failed before its fix.

Expected values are worked out by hand from the inputs each test builds (sizes, counts, which face lies
where), never recomputed with the code under test.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flup import io as fio

REPO = Path(__file__).resolve().parents[1]


# --- atomic_path: concurrent rewrites, staging that a kill strands ----------------------------------


def _rewrite_dir(target: str, tag: str, files: int = 5) -> None:
    with fio.atomic_path(target) as tmp:
        tmp.mkdir()
        for i in range(files):
            (tmp / f"part{i}.txt").write_text(tag)


def _rewrite_many(args: tuple[str, str, int]) -> list[str]:
    target, tag, times = args
    errors = []
    for n in range(times):
        try:
            _rewrite_dir(target, f"{tag}-{n}")
        except Exception as error:  # noqa: BLE001 - every failure is the finding
            errors.append(f"{type(error).__name__}: {error}")
    return errors


def _assert_one_whole_output(target: Path) -> None:
    """The output is one writer's complete directory, and no staging or old copy is left beside it."""
    contents = {p.name: p.read_text() for p in target.iterdir()}
    assert sorted(contents) == [f"part{i}.txt" for i in range(5)]
    assert len(set(contents.values())) == 1, contents
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_concurrent_processes_rewriting_one_directory_all_succeed(tmp_path):
    # Before: rmtree-then-replace; 10 of 60 concurrent rewrites failed (ENOTEMPTY, FileNotFoundError).
    target = tmp_path / "out" / "render"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        errors = [e for batch in pool.map(_rewrite_many, [(str(target), f"p{i}", 15) for i in range(4)]) for e in batch]
    assert errors == []
    _assert_one_whole_output(target)


def test_concurrent_threads_rewriting_one_directory_all_succeed(tmp_path):
    target = tmp_path / "out" / "render"
    errors: list[str] = []
    threads = [threading.Thread(target=lambda i=i: errors.extend(_rewrite_many((str(target), f"t{i}", 15))))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_one_whole_output(target)


def test_file_output_replaced_by_a_directory_and_back(tmp_path):
    target = tmp_path / "thing"
    fio.write_json(target, {"a": 1})
    _rewrite_dir(target, "dir")
    assert target.is_dir()
    fio.write_json(target, {"b": 2})
    assert fio.read_json(target) == {"b": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]


_KILLED_WRITER = """
import os, signal, sys
from flup.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "blur").mkdir()
    (tmp / "blur" / "4.npz").write_bytes(b"half a store")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(target: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], cwd=REPO, check=False)
    assert done.returncode == -signal.SIGKILL


def test_staging_stranded_by_sigkill_is_removed_by_the_next_run(tmp_path):
    data = tmp_path / "data"
    target = data / "render"
    _killed_writer(target)
    stranded = [p for p in data.iterdir() if p.name != "render"]
    assert len(stranded) == 1 and stranded[0].name.startswith(".render.")  # the kill left partial files
    assert list(stranded[0].rglob("4.npz"))
    _rewrite_dir(target, "second run")
    assert sorted(p.name for p in data.iterdir()) == ["render"]  # the next run cleaned it up
    assert (target / "part0.txt").read_text() == "second run"


def test_staging_left_by_the_old_atomic_path_is_removed(tmp_path):
    # flup before the fix staged in tempfile.mkdtemp(prefix=".render."): ".render.<8 chars>/render/".
    legacy = tmp_path / ".render.k2x_9qab" / "render" / "blur"
    legacy.mkdir(parents=True)
    (legacy / "4.npz").write_bytes(b"half a store")
    unrelated = tmp_path / ".render.notes"  # not a staging folder's name: left alone
    unrelated.mkdir()
    _rewrite_dir(tmp_path / "render", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".render.notes", "render"]


def test_live_writers_staging_is_never_cleaned(tmp_path):
    target = tmp_path / "render"
    entered, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_writer():
        try:
            with fio.atomic_path(target) as tmp:
                tmp.mkdir()
                entered.set()
                release.wait(30)
                for i in range(5):
                    (tmp / f"part{i}.txt").write_text("slow")
        except BaseException as error:  # noqa: BLE001
            failures.append(error)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert entered.wait(30)
    _rewrite_dir(target, "fast")  # must not remove the slow writer's staging folder
    release.set()
    thread.join()
    assert failures == []
    assert (target / "part0.txt").read_text() == "slow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_failed_writer_leaves_the_old_output_and_no_staging(tmp_path):
    target = tmp_path / "render"
    _rewrite_dir(target, "old")
    with pytest.raises(RuntimeError), fio.atomic_path(target) as tmp:
        tmp.mkdir()
        raise RuntimeError("stage failed")
    assert (target / "part0.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_staging_folder_is_named_after_the_output(tmp_path):
    with fio.atomic_path(tmp_path / "render") as tmp:
        assert tmp.parent.parent == tmp_path and tmp.parent.name.startswith(".render.")
        tmp.write_text("x")
    assert os.listdir(tmp_path) == ["render"]
