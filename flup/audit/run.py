"""Running a redaction tool over a set of photos: :func:`run_tool`.

Each photo gets a private work folder (in the system's temporary folder): a read-only copy of the photo, an empty
folder for the output, and the tool's working directory, so the tool never writes into the user's folders or
the repository. The output is checked (:mod:`flup.audit.validate`) and only a usable one (``ok``, or
``identical``: a copy of its photo) is moved into ``dest_dir``, atomically (:func:`flup.io.atomic_path`); a photo
the tool failed on leaves nothing there. ``dest_dir`` is flup's own: it holds the kept outputs, named after
their photos, and the run's record ``tool_runs.json``; a folder holding other files and no record is refused,
and outputs that a previous run recorded but this one does not keep (a photo dropped from the list, a changed
tool) are removed, so the folder always holds exactly the recorded outputs.

**Output names.** A photo's name is its path relative to ``root`` (e.g. ``Person/Person_0001.jpg``), or its
file name without ``root``. A ``{output}`` tool's output keeps that name, suffix included; an ``{output_dir}``
tool's keeps the stem with the suffix of the file the tool wrote; a Python tool's is the stem + ``.png``
(lossless, so the audit scores exactly the returned pixels).

**Cache.** Every photo has a key: the sha256 of the tool's identity (a command tool: its template exactly as
written, ``version`` and the output of ``version_command``; a Python tool: its qualified name, ``version`` and
its source's sha256), of :data:`FORMAT` (this runner's rules) and of the photo's bytes' sha256. A photo whose key
is recorded in ``tool_runs.json`` is not run again: a kept output is reused if its file still has the recorded
sha256, and a failure is reported again as recorded (a deterministic tool fails the same way), unless
``retry_failed`` is set, or it timed out (or hit the size cap) under a smaller ``timeout_s`` (or
``max_output_bytes``) than now. So rerunning with nothing changed runs nothing; editing the command (even its
spacing), the declared version, or a photo's bytes reruns the photos concerned. The record is written when the
run starts, every few seconds and when it ends or is interrupted, so an interrupted run resumes where it was.

**Limits.** ``timeout_s`` per photo (the tool's whole process group is killed past it), ``max_output_bytes`` per
file the tool writes (enforced by the kernel while it writes, and checked again before decoding). ``workers``
photos run at once (threads, each waiting on its tool's process); each tool process gets ``OMP_NUM_THREADS``
(and the other libraries' thread counts) of cores / workers, unless the environment already sets them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from flup.audit.process import TAIL_BYTES, run_command
from flup.audit.tool import CommandTool, PythonTool, Redact, Tool, as_tool
from flup.audit.validate import KEPT, Checked, Photo, Status, check_file, check_pixels
from flup.config.schema import DEFAULT_MAX_IMAGE_PIXELS
from flup.cpu import available_cores
from flup.data.fetch import decode_problem
from flup.data.sources import ImageTooLargeError, check_image_pixels
from flup.io import atomic_path, read_json, sha256_file, write_json

log = logging.getLogger(__name__)

FORMAT = 1  # this runner's checks and naming: bump it when they change, and every cached row reruns
RECORD = "tool_runs.json"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_OUTPUT_BYTES = 64 * 2**20
VERSION_TIMEOUT_S = 60.0
RECORD_EVERY_S = 5.0
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
PNG_COMPRESSION = 1  # as flup/obfuscation/render.py: same pixels as level 9, far faster

COLUMNS = ["input", "output", "status", "detail", "exit_code", "tool_output_tail", "duration_s", "input_sha256",
           "output_sha256", "identical", "changed_fraction", "cached", "key", "timeout_s", "max_output_bytes"]


class ToolRunError(RuntimeError):
    """The tool failed on some photos; ``table`` is the whole run's result (the other photos' outputs are kept)."""

    def __init__(self, message: str, table: pd.DataFrame):
        super().__init__(message)
        self.table = table


@dataclass(frozen=True)
class _Job:
    name: str  # the photo's name (relative path), also its output's name in dest_dir
    path: Path
    sha256: str
    key: str


def _tool_key(tool: Tool, version_output: str | None) -> str:
    identity = tool.identity(version_output) if isinstance(tool, CommandTool) else tool.identity()
    text = json.dumps({"format": FORMAT, "tool": identity}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _photo_key(tool_key: str, photo_sha256: str) -> str:
    return hashlib.sha256(f"{tool_key}:{photo_sha256}".encode()).hexdigest()


def tool_version_output(tool: CommandTool, env: Mapping[str, str] | None = None) -> str | None:
    """What ``tool.version_command`` prints (None without one); RuntimeError naming the tool if it fails."""
    argv = tool.version_argv()
    if argv is None:
        return None
    with tempfile.TemporaryDirectory(prefix="flup-tool-version-") as folder:
        done = run_command(argv, Path(folder), VERSION_TIMEOUT_S, DEFAULT_MAX_OUTPUT_BYTES, env)
    if done.exit_code != 0:
        what = "timed out" if done.timed_out else f"exited with code {done.exit_code}"
        raise RuntimeError(f"tool {tool.name!r}: version command {tool.version_command!r} {what}: "
                           f"{_last_line(done.output_tail)}")
    return done.output_tail.strip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(it printed nothing)"


def _names(images: Sequence[Path], root: Path | None, free_suffix: bool) -> list[str]:
    """Each photo's name (its path relative to ``root``, or its file name); ValueError on clashes."""
    names = []
    for image in images:
        if root is None:
            names.append(image.name)
            continue
        try:
            names.append(image.resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            raise ValueError(f"photo {image} is not under root {root}") from None
    seen: dict[str, Path] = {}
    for image, name in zip(images, names, strict=True):
        clash_name = str(Path(name).with_suffix("")) if free_suffix else name
        if name == RECORD:
            raise ValueError(f"photo {image}: its output would be named {RECORD}, the run's own record")
        if clash_name in seen:
            why = " (this tool picks its output's suffix, so names must differ without it)" if free_suffix else ""
            raise ValueError(f"photos {seen[clash_name]} and {image} would write the same output {name!r}{why}; "
                             "pass root= so outputs keep their folders, or rename one")
        seen[clash_name] = image
    return names


def _read_record(dest: Path) -> dict[str, dict]:
    """The rows of a previous run in ``dest`` by photo name; refuses a folder flup did not make."""
    record = dest / RECORD
    if record.is_file():
        return {row["input"]: row for row in read_json(record).get("rows", [])}
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest}: not a folder a tool run made (it holds files and no {RECORD}); flup only "
                              "writes outputs into its own folder: pick a new or empty one")
    return {}


def _reusable(row: dict | None, key: str, dest: Path, timeout_s: float, max_output_bytes: int,
              retry_failed: bool) -> bool:
    if row is None or row.get("key") != key:
        return False
    status = Status(row["status"])
    if status in KEPT:
        output = dest / row["output"]
        return output.is_file() and not output.is_symlink() and sha256_file(output) == row["output_sha256"]
    if retry_failed and status != Status.UNREADABLE_INPUT:
        return False
    if status == Status.TIMED_OUT:
        return timeout_s <= row["timeout_s"]
    if status == Status.OUTPUT_TOO_LARGE:
        return max_output_bytes <= row["max_output_bytes"]
    return True


def _remove_output(dest: Path, row: dict) -> None:
    """Remove a recorded output, and the folders it leaves empty (up to ``dest``)."""
    if not row.get("output"):
        return
    output = dest / row["output"]
    output.unlink(missing_ok=True)
    for folder in output.parents:
        if folder == dest or not folder.is_relative_to(dest):
            break
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            break


def _tool_environment(env: Mapping[str, str] | None, workers: int) -> dict[str, str]:
    environment = dict(os.environ if env is None else env)
    threads = str(max(1, available_cores() // max(1, workers)))
    for variable in THREAD_VARIABLES:
        environment.setdefault(variable, threads)
    return environment


def _read_photo(path: Path, sha256: str, max_pixels: int) -> Photo | str:
    """The decoded photo, or why it cannot be used."""
    data = path.read_bytes()
    try:
        check_image_pixels(path, max_pixels, data)
    except ImageTooLargeError as error:
        return str(error)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.size == 0:
        return "does not decode as an image"
    if data[:2] == b"\xff\xd8":
        problem = decode_problem(data)
        if problem:
            return problem
    return Photo(path, sha256, pixels)


def _stray_files(folder: Path, expected: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p != expected)


def _run_command_tool(tool: CommandTool, job: _Job, photo: Photo, work: Path, timeout_s: float,
                      max_output_bytes: int, env: Mapping[str, str]) -> tuple[Checked, Path | None, dict]:
    """Run the tool on one photo in ``work``: (verdict, the file it wrote or None, process facts)."""
    given = work / "in" / job.path.name
    given.parent.mkdir(parents=True)
    shutil.copyfile(job.path, given)
    given.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    out_folder = work / "out"
    out_folder.mkdir()
    target = out_folder if tool.writes_folder else out_folder / job.path.name
    # the cap is one byte over max_output_bytes, so a file stopped by it reads as over the cap
    done = run_command(tool.argv(given, target), work, timeout_s, max_output_bytes + 1, env)
    facts = {"exit_code": done.exit_code, "tool_output_tail": done.output_tail, "duration_s": done.duration_s}
    written: Path | None = target
    if tool.writes_folder:
        files = _stray_files(out_folder, out_folder)
        written = out_folder / files[0] if len(files) == 1 else None
    too_large = [p for p in out_folder.rglob("*") if p.is_file() and p.stat().st_size > max_output_bytes]
    if too_large:
        largest = max(too_large, key=lambda p: p.stat().st_size)
        return Checked(Status.OUTPUT_TOO_LARGE, f"wrote {largest.name}, stopped at the cap of {max_output_bytes:,} "
                                                "bytes per file (max_output_bytes)"), None, facts
    if done.timed_out:
        return Checked(Status.TIMED_OUT, f"still running after {timeout_s:g} s (timeout_s); killed"), None, facts
    if done.exit_code != 0:
        how = (f"killed by signal {-done.exit_code}" if done.exit_code < 0 else f"exited with code {done.exit_code}")
        return Checked(Status.CRASHED, f"{how}: {_last_line(done.output_tail)}"), None, facts
    if written is None:
        files = _stray_files(out_folder, out_folder)
        what = f"{len(files)} files ({', '.join(files[:5])})" if files else "nothing"
        return Checked(Status.NO_OUTPUT, f"wrote {what} into {{output_dir}}; expected exactly one file"), None, facts
    checked = check_file(written, photo, max_output_bytes)
    if checked.status == Status.NO_OUTPUT:
        stray = _stray_files(out_folder, written)
        hint = (f"; it wrote {', '.join(stray[:5])} instead ({{output}} is a file named like the photo, with its "
                "suffix; a tool that picks its own name or suffix needs {output_dir})") if stray else ""
        checked = Checked(Status.NO_OUTPUT, f"exited 0 but wrote no {written.name}{hint}")
    return checked, written, facts


def _run_python_tool(tool: PythonTool, photo: Photo, max_output_bytes: int) -> tuple[Checked, bytes | None, dict]:
    start = time.monotonic()
    try:
        result = tool.redact(photo.pixels.copy())
    except Exception as error:  # the user's function: report any failure as this photo's
        tail = traceback.format_exc()[-TAIL_BYTES:]
        facts = {"exit_code": None, "tool_output_tail": tail, "duration_s": time.monotonic() - start}
        return Checked(Status.CRASHED, f"raised {type(error).__name__}: {error}"), None, facts
    facts = {"exit_code": None, "tool_output_tail": "", "duration_s": time.monotonic() - start}
    if not isinstance(result, np.ndarray):
        return Checked(Status.UNREADABLE_OUTPUT, f"returned {type(result).__name__}, not an image array"), None, facts
    checked = check_pixels(result, photo, "", byte_copy=False)
    if checked.status not in KEPT:
        return checked, None, facts
    ok, encoded = cv2.imencode(".png", result, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        return Checked(Status.UNREADABLE_OUTPUT, "the returned array does not encode as PNG"), None, facts
    data = encoded.tobytes()
    if len(data) > max_output_bytes:
        return Checked(Status.OUTPUT_TOO_LARGE, f"{len(data):,} bytes as PNG, over the cap of "
                                                f"{max_output_bytes:,}"), None, facts
    sha256 = hashlib.sha256(data).hexdigest()
    return Checked(checked.status, checked.detail, sha256, checked.identical, checked.changed_fraction), data, facts


def _run_one(tool: Tool, job: _Job, dest: Path, work_root: Path, timeout_s: float, max_output_bytes: int,
             max_pixels: int, env: Mapping[str, str]) -> dict:
    """One photo, start to end: its result row; a usable output is in ``dest`` before the row is returned."""
    row = {"input": job.name, "output": "", "exit_code": None, "tool_output_tail": "", "duration_s": 0.0,
           "input_sha256": job.sha256, "output_sha256": "", "identical": "", "changed_fraction": None,
           "cached": False, "key": job.key, "timeout_s": timeout_s, "max_output_bytes": max_output_bytes}
    photo = _read_photo(job.path, job.sha256, max_pixels)
    if isinstance(photo, str):
        return {**row, "status": str(Status.UNREADABLE_INPUT), "detail": f"photo {job.path}: {photo}; not run"}
    stem = str(Path(job.name).with_suffix(""))
    work = Path(tempfile.mkdtemp(prefix="photo-", dir=work_root))
    try:
        if isinstance(tool, CommandTool):
            checked, written, facts = _run_command_tool(tool, job, photo, work, timeout_s, max_output_bytes, env)
            output_name = (stem + written.suffix) if tool.writes_folder and written is not None else job.name
        else:
            checked, data, facts = _run_python_tool(tool, photo, max_output_bytes)
            output_name = stem + ".png"
        facts["tool_output_tail"] = facts["tool_output_tail"].replace(str(work), "<work>")  # no random paths
        row.update(facts)
        row["status"] = str(checked.status)
        row["detail"] = "" if checked.status == Status.OK else checked.detail
        if checked.status in KEPT:
            target = dest / output_name
            with atomic_path(target) as staging:
                if isinstance(tool, CommandTool):
                    shutil.copyfile(written, staging)
                else:
                    staging.write_bytes(data)
            row.update(output=output_name, output_sha256=checked.sha256, identical=checked.identical,
                       changed_fraction=checked.changed_fraction)
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["exit_code"] = table["exit_code"].astype("Int64")
    table["changed_fraction"] = table["changed_fraction"].astype(float)
    table["cached"] = table["cached"].astype(bool)
    return table


def summarize(table: pd.DataFrame, tool_name: str) -> str:
    """One line: how many photos, how many kept (ok / a copy of the photo), how many failed and why."""
    counts = Counter(table["status"])
    failed = {status: n for status, n in counts.items() if Status(status) not in KEPT}
    parts = [f"{counts.get(Status.OK, 0)} ok"]
    if counts.get(Status.IDENTICAL):
        parts.append(f"{counts[Status.IDENTICAL]} identical to their photo (read as not redacted)")
    if failed:
        reasons = ", ".join(f"{n} {status}" for status, n in sorted(failed.items(), key=lambda item: -item[1]))
        parts.append(f"{sum(failed.values())} failed ({reasons})")
    reused = int(table["cached"].sum()) if len(table) else 0
    return f"{tool_name}: {len(table)} photos: {', '.join(parts)}; {reused} from the cache"


def failures(table: pd.DataFrame, tool_name: str, shown: int = 20) -> list[str]:
    """One line per failed photo (the first ``shown``): the tool, the photo, the status and why."""
    bad = table[~table["status"].isin([str(s) for s in KEPT])]
    lines = [f"{tool_name}: {row.input}: {row.status}: {row.detail}" for row in bad.head(shown).itertuples()]
    if len(bad) > shown:
        lines.append(f"... and {len(bad) - shown} more (every row is in {RECORD})")
    return lines


def run_tool(tool: Tool | str | Redact, images: Sequence[str | os.PathLike], dest_dir: str | os.PathLike, *,
             root: str | os.PathLike | None = None, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S,
             max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
             keep_going: bool = False, retry_failed: bool = False, env: Mapping[str, str] | None = None,
             progress: bool = True) -> pd.DataFrame:
    """Run ``tool`` on every photo of ``images``, keep its checked outputs in ``dest_dir``; one row per photo.

    ``tool``: a :class:`~flup.audit.tool.CommandTool`, a :class:`~flup.audit.tool.PythonTool`, a command template
    or a ``redact`` function. Returns the table of :data:`COLUMNS` in the order of ``images`` (``output`` is
    relative to ``dest_dir``, empty for a failure). Photos whose key is in the cache are not run (see the module
    docstring). With failures, raises :class:`ToolRunError` naming the photos after the whole run (every
    usable output kept and recorded), unless ``keep_going``, which returns the table with them as rows.
    The template and the tool's program are checked before anything runs.
    """
    tool = as_tool(tool)
    if workers < 1 or timeout_s <= 0 or max_output_bytes < 1:
        raise ValueError(f"tool {tool.name!r}: workers >= 1, timeout_s > 0 and max_output_bytes >= 1 needed, got "
                         f"{workers}, {timeout_s}, {max_output_bytes}")
    environment = _tool_environment(env, workers)
    version_output = None
    if isinstance(tool, CommandTool):
        tool.check_installed()
        version_output = tool_version_output(tool, environment)
    tool_key = _tool_key(tool, version_output)
    paths = [Path(image) for image in images]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"tool {tool.name!r}: photo {path} not found")
    dest = Path(dest_dir)
    dest_resolved = dest.resolve()
    for path in paths:
        if path.resolve().is_relative_to(dest_resolved):
            raise ValueError(f"tool {tool.name!r}: photo {path} is inside the output folder {dest}")
    free_suffix = not (isinstance(tool, CommandTool) and not tool.writes_folder)
    names = _names(paths, None if root is None else Path(root), free_suffix)
    previous = _read_record(dest)
    jobs = [_Job(name, path, sha, _photo_key(tool_key, sha))
            for name, path, sha in zip(names, paths, (sha256_file(p) for p in paths), strict=True)]

    rows: dict[str, dict] = {}
    pending: list[_Job] = []
    for job in jobs:
        row = previous.get(job.name)
        if _reusable(row, job.key, dest, timeout_s, max_output_bytes, retry_failed):
            rows[job.name] = {**{column: row.get(column) for column in COLUMNS}, "cached": True}
        else:
            pending.append(job)
    for name, row in previous.items():  # outputs this run will not keep as they are
        if name not in rows:
            _remove_output(dest, row)
    dest.mkdir(parents=True, exist_ok=True)
    identity = tool.identity(version_output) if isinstance(tool, CommandTool) else tool.identity()
    header = {"format": FORMAT, "tool": tool.name, "identity": identity, "tool_key": tool_key}

    def record() -> None:  # "cached" says what this run did, not what the record holds
        kept = [{c: rows[job.name][c] for c in COLUMNS if c != "cached"} for job in jobs if job.name in rows]
        write_json(dest / RECORD, {**header, "rows": kept})

    record()
    work_root = Path(tempfile.mkdtemp(prefix="flup-tool-"))
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flup-tool")
    try:
        futures = {executor.submit(_run_one, tool, job, dest, work_root, timeout_s, max_output_bytes,
                                   max_image_pixels, environment) for job in pending}
        last_record = time.monotonic()
        failed = 0
        with tqdm(total=len(pending), desc=f"audit: {tool.name}", unit="img", mininterval=1.0,
                  disable=not progress or not pending) as bar:
            while futures:
                done, futures = wait(futures, timeout=RECORD_EVERY_S, return_when=FIRST_COMPLETED)
                for future in done:
                    row = future.result()
                    rows[row["input"]] = row
                    failed += Status(row["status"]) not in KEPT
                    bar.update(1)
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
                if time.monotonic() - last_record > RECORD_EVERY_S:
                    record()
                    last_record = time.monotonic()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        record()
        shutil.rmtree(work_root, ignore_errors=True)
    table = _table([rows[job.name] for job in jobs])
    log.info("%s", summarize(table, tool.name))
    problems = failures(table, tool.name)
    if problems and not keep_going:
        raise ToolRunError(f"{summarize(table, tool.name)}\n" + "\n".join(problems) +
                           f"\n(usable outputs are kept in {dest}; keep_going=True records the failures as misses)",
                           table)
    return table
