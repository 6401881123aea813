"""Running one command of a redaction tool: no shell, a wall-clock limit, a cap on every file it writes, and a
bounded tail of what it printed.

The command runs in a session of its own (its own process group), so the time limit kills the tool *and*
whatever it started (an ffmpeg, a worker pool), and so does its normal exit: nothing it left behind keeps
running or writing. Each file it writes is capped by the kernel (``RLIMIT_FSIZE``, set by a tiny Python
launcher that then ``exec``s the tool, since ``preexec_fn`` is unsafe in a threaded program): a tool that tries
to write 10 GB is stopped at the cap instead of filling the disk. Its stdout and stderr are read through one
pipe, keeping only the last :data:`TAIL_BYTES`, so a chatty tool cannot fill memory either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import resource
except ImportError:  # not POSIX: files are only checked after the run
    resource = None

TAIL_BYTES = 4096

# Python starts with SIGXFSZ and SIGPIPE ignored, and an ignored signal stays ignored across exec: restore
# their defaults, so the tool is stopped at the cap as any program would be (a Python tool gets EFBIG instead).
_LAUNCHER = """\
import os, resource, signal, sys
cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
for name in ("SIGXFSZ", "SIGPIPE"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
os.execvp(sys.argv[2], sys.argv[2:])
"""


@dataclass(frozen=True)
class Finished:
    """How one command ended."""

    exit_code: int | None  # None: killed at the time limit; negative: killed by that signal
    timed_out: bool
    output_tail: str  # the last TAIL_BYTES of stdout and stderr together, decoded leniently
    duration_s: float


def _read_tail(stream, tail: bytearray) -> None:
    for chunk in iter(lambda: stream.read(65536), b""):
        tail.extend(chunk)
        del tail[:-TAIL_BYTES]


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited, without reaping it (so its process group id cannot be reused yet)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_command(argv: Sequence[str], cwd: Path, timeout_s: float, max_file_bytes: int,
                env: Mapping[str, str] | None = None) -> Finished:
    """Run ``argv`` (no shell) in ``cwd`` for at most ``timeout_s`` seconds, each file it writes capped at
    ``max_file_bytes``; then kill whatever of its process group is left."""
    command = list(argv)
    if resource is not None:
        command = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(max_file_bytes), *command]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    tail = bytearray()
    reader = threading.Thread(target=_read_tail, args=(process.stdout, tail), daemon=True)
    reader.start()
    timed_out = False
    pause = 0.002
    try:
        while not _exited(process.pid):
            if time.monotonic() - start > timeout_s:
                timed_out = True
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
    finally:
        _kill_group(process.pid)  # the leader is not reaped yet, so the group id is still this tool's
        process.wait()
    duration = time.monotonic() - start
    reader.join(timeout=5.0)
    if not reader.is_alive():  # else a process that left the group still holds the pipe: leave the thread be
        process.stdout.close()
    text = bytes(tail).decode("utf-8", errors="replace")
    return Finished(None if timed_out else process.returncode, timed_out, text, duration)
