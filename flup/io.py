"""Atomic output writing and small file helpers shared by every stage.

A stage that fails must leave no half-written output: everything is written to a
temporary sibling first and renamed into place (rename is atomic on POSIX). A staging folder
that a killed stage left behind is removed by the next write of the same output.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import fcntl
except ImportError:  # not POSIX: no stranded-staging cleanup
    fcntl = None


# A stage writes its output in a staging folder beside it, ``.<name>.staging-<random>/``, holding an
# exclusive flock on ``<staging>/.flup-staging.lock`` until the folder is gone. The kernel drops the lock
# when its holder dies, SIGKILL included, so the next atomic_path on the same output can tell a stranded
# staging folder (lock free) from a live one (lock held) and remove only the former.
_LOCK_NAME = ".flup-staging.lock"
_STAGING = "staging-"
_INIT = "init-"  # a staging folder before its lock is taken: renamed to staging- at once
_INIT_GRACE_S = 60.0
_LEGACY = re.compile(r"^[a-z0-9_]{8}$")  # tempfile.mkdtemp's suffix: the staging of flup before the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _remove_stranded_staging(target: Path) -> None:
    """Remove staging folders of ``target`` whose writer died (killed, power cut) before cleaning up."""
    prefix = f".{target.name}."
    try:
        entries = [e for e in os.scandir(target.parent)
                   if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for entry in entries:
        suffix = entry.name[len(prefix):]
        folder = Path(entry.path)
        if suffix.startswith(_STAGING):
            try:
                fd = os.open(folder / _LOCK_NAME, os.O_RDWR)
            except OSError:
                continue  # not ours, or just removed by its owner
            try:
                if _try_lock(fd):  # nobody holds it: the writer is dead
                    shutil.rmtree(folder, ignore_errors=True)
            finally:
                os.close(fd)
        elif suffix.startswith(_INIT):
            try:
                age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            if age > _INIT_GRACE_S:  # a live writer renames it within microseconds
                shutil.rmtree(folder, ignore_errors=True)
        elif _LEGACY.match(suffix) and {p.name for p in folder.iterdir()} <= {target.name}:
            shutil.rmtree(folder, ignore_errors=True)


def _new_staging(target: Path) -> tuple[Path, int | None]:
    """A fresh staging folder beside ``target`` and the fd of its held lock (None where flock is missing)."""
    if fcntl is None:
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.{_STAGING}", dir=target.parent)), None
    while True:
        init = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_INIT}", dir=target.parent))
        fd = os.open(init / _LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        staging = init.with_name(f".{target.name}.{_STAGING}{init.name[len(target.name) + 2 + len(_INIT):]}")
        try:
            os.rename(init, staging)  # only now visible as a staging folder, and already locked
            return staging, fd
        except OSError as error:  # the name is taken (an old staging folder): draw another
            os.close(fd)
            shutil.rmtree(init, ignore_errors=True)
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise


def _move_into_place(tmp: Path, target: Path, staging: Path) -> None:
    """Rename ``tmp`` onto ``target``; an old ``target`` is first renamed into ``staging`` (deleted with it).

    Each step is one atomic rename, so concurrent writers never see half an output and never fail on each
    other: whoever renames last wins, and each old copy ends up in some writer's staging folder.
    """
    moved = None
    for attempt in range(1000):
        try:
            os.rename(tmp, target)  # replaces a file, a link or an empty folder atomically
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                if moved is not None and not target.exists():  # put the old output back
                    with contextlib.suppress(OSError):
                        os.rename(moved, target)
                raise
        with contextlib.suppress(FileNotFoundError):  # another writer may have moved it already
            os.rename(target, staging / f".replaced-{attempt}")
            moved = staging / f".replaced-{attempt}"
    raise OSError(f"{target}: could not move the new output into place (kept being replaced)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Works for files and directories. On error the temporary is removed and an existing ``path`` is left
    untouched. The temporary lives in a staging folder ``.<name>.staging-<random>/`` beside ``path``; one
    that a killed process left behind is removed by the next ``atomic_path`` on the same ``path``, and
    concurrent writers of the same ``path`` all succeed (the last one's output stays).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is not None:
        _remove_stranded_staging(target)
    staging, lock = _new_staging(target)
    tmp = staging / target.name
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise FileNotFoundError(f"{target}: nothing was written to the staging path {tmp}")
        _move_into_place(tmp, target, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def write_table(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV or parquet (by suffix), atomically."""
    target = Path(path)
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif target.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            raise ValueError(f"{target}: unsupported table format (use .csv or .parquet)")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"{source}: table not found (did the stage that writes it run?)")
    if source.suffix == ".parquet":
        return pd.read_parquet(source)
    return pd.read_csv(source, keep_default_na=False, na_values=[""])


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # what np.load takes for an .npz: a zip, or an empty one


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read with ``allow_pickle=False``. A file holding pickled objects (an
    object array, or a pickle under an ``.npz`` name) is refused, never unpickled: ValueError naming the file."""
    path = Path(path)
    refused = "refused (flup reads plain arrays only: allow_pickle=False); restore it with `dvc checkout` or rerun " \
              "the stage that writes it"
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head not in _ZIP_MAGIC:
        what = "a pickle, not an .npz archive" if head[:1] == b"\x80" else "not an .npz archive"
        raise ValueError(f"{path}: {what}; {refused}")
    arrays = {}
    with np.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError:  # numpy's words: "Object arrays cannot be loaded when allow_pickle=False"
                raise ValueError(f"{path}: array {key!r} holds pickled objects (an object array); {refused}") from None
    return arrays
