"""The default study from a fresh clone: wall time of `dvc repro` and of each stage.

    python -m benchmarks.default_study [--repo .] [--dest ../flup-default-run] [--keep] [--then PROFILE]

Clones the repository's committed HEAD (plus, with ``--worktree``, the working tree's uncommitted
params.yaml/profiles), runs ``dvc repro`` there with nothing cached (no DVC cache, no data/), and prints
a markdown table of seconds per stage (between DVC's "Running stage" lines) and the total, fetch to
report. The clone is left in place with ``--keep`` so its dvc.lock, metrics/ and plots/ can be
inspected or copied. The clone must sit beside ``../shared`` (data.source is relative).

``--then PROFILE`` (e.g. ``long``) continues in the same clone: the default's outputs are kept in
``<clone>/default-outputs/`` (dvc.lock, metrics/, plots/, dvclive/), the profile is merged into params.yaml
(``python -m flup.config.profiles PROFILE --write``) and a second ``dvc repro`` reruns only what it changes,
timed the same way; the clone then holds the profile's outputs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGE_LINE = re.compile(r"Running stage '([^']+)'")


def run_repro(project: Path, log_path: Path) -> tuple[list[tuple[str, float]], float, int]:
    """``dvc repro`` in ``project``; returns (stage, seconds) in run order, the total seconds and the exit code."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.monotonic()
    marks: list[tuple[str, float]] = []
    with open(log_path, "w") as log, subprocess.Popen(
        ["dvc", "repro"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        bufsize=1,
    ) as process:
        for line in process.stdout:
            log.write(line)
            found = STAGE_LINE.search(line)
            if found:
                marks.append((found.group(1), time.monotonic()))
                print(f"[{time.monotonic() - started:7.0f} s] {found.group(1)}", flush=True)
        code = process.wait()
    ended = time.monotonic()
    stages = [(name, (marks[i + 1][1] if i + 1 < len(marks) else ended) - at) for i, (name, at) in enumerate(marks)]
    return stages, ended - started, code


def print_table(stages: list[tuple[str, float]], total: float, label: str) -> None:
    print("\n| stage | seconds |\n|---|---|")
    for name, seconds in stages:
        print(f"| {name} | {seconds:.0f} |")
    print(f"| **{label}** | **{total:.0f}** ({total / 60:.1f} min) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--dest", type=Path, default=None, help="clone here (default: ../flup-default-run)")
    parser.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    parser.add_argument("--then", metavar="PROFILE", help="then merge profiles/PROFILE.yaml and repro again")
    args = parser.parse_args()
    repo = args.repo.resolve()
    dest = (args.dest or repo.parent / "flup-default-run").resolve()
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["git", "clone", "--quiet", str(repo), str(dest)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=dest, capture_output=True, text=True,
                            check=True).stdout.strip()
    print(f"fresh clone of {commit} in {dest}; nproc {os.cpu_count()}; dvc repro ...", flush=True)
    stages, total, code = run_repro(dest, dest.parent / f"{dest.name}.log")
    print_table(stages, total, "total (dvc repro, fetch to report)")
    print(f"\ncommit {commit}; exit code {code}; log {dest.parent / f'{dest.name}.log'}")
    if args.then and code == 0:
        kept = dest / "default-outputs"
        kept.mkdir()
        for name in ("dvc.lock", "metrics", "plots", "dvclive"):
            (shutil.copytree if (dest / name).is_dir() else shutil.copy2)(dest / name, kept / name)
        subprocess.run([sys.executable, "-m", "flup.config.profiles", args.then, "--write"], cwd=dest, check=True)
        print(f"\nprofiles/{args.then}.yaml merged; dvc repro ...", flush=True)
        log_path = dest.parent / f"{dest.name}-{args.then}.log"
        stages, total, code = run_repro(dest, log_path)
        print_table(stages, total, f"total (dvc repro after profiles/{args.then}.yaml)")
        print(f"\ncommit {commit} + profiles/{args.then}.yaml; exit code {code}; log {log_path}")
    if not args.keep and code == 0:
        shutil.rmtree(dest)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
