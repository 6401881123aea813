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
timed the same way; the clone then holds the profile's outputs. Outputs of stages the profile removes (a model
table emptied, say) are deleted first, so that no later stage reads them. ``--reuse`` skips the clone and the
default run: the profile continues from a clone a finished ``--keep`` run left at ``--dest``.
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

import yaml

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


def removed_stages(lock: dict, listed: list[str]) -> tuple[dict, list[str]]:
    """(``lock`` without the stages ``dvc.yaml`` no longer lists, the outputs those stages recorded). DVC keeps a
    removed stage's entry in dvc.lock, and the report would read its params as a change since the run."""
    stages = lock.get("stages", {})
    gone = [name for name in stages if name not in listed]
    outs = [out["path"] for name in gone for out in stages[name].get("outs", [])]
    return {**lock, "stages": {k: v for k, v in stages.items() if k not in gone}}, outs


def drop_removed_outputs(project: Path, lock: dict, env: dict) -> list[str]:
    """Delete the outputs ``lock`` (the dvc.lock before a profile) records for stages ``dvc.yaml`` no longer has,
    and their dvc.lock entries: a removed model's score table would otherwise stay in data/scores/ and be evaluated
    with the rest."""
    listed = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=project, env=env, capture_output=True,
                            text=True, check=True).stdout.split()
    kept, removed = removed_stages(lock, listed)
    for out in removed:
        path = project / out
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if kept != lock:
        (project / "dvc.lock").write_text(yaml.safe_dump(kept, sort_keys=False))
    return removed


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
    parser.add_argument("--reuse", action="store_true", help="with --then: continue in the finished clone at --dest")
    args = parser.parse_args()
    repo = args.repo.resolve()
    dest = (args.dest or repo.parent / "flup-default-run").resolve()
    if args.reuse and not (args.then and (dest / "dvc.lock").exists()):
        raise SystemExit(f"--reuse needs --then and a finished clone at {dest}")
    if not args.reuse:
        if dest.exists():
            shutil.rmtree(dest)
        subprocess.run(["git", "clone", "--quiet", str(repo), str(dest)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=dest, capture_output=True, text=True,
                            check=True).stdout.strip()
    code = 0
    if not args.reuse:
        print(f"fresh clone of {commit} in {dest}; nproc {os.cpu_count()}; dvc repro ...", flush=True)
        stages, total, code = run_repro(dest, dest.parent / f"{dest.name}.log")
        print_table(stages, total, "total (dvc repro, fetch to report)")
        print(f"\ncommit {commit}; exit code {code}; log {dest.parent / f'{dest.name}.log'}")
    if args.then and code == 0:
        kept = dest / "default-outputs"
        if kept.exists():
            shutil.rmtree(kept)
        kept.mkdir()
        for name in ("dvc.lock", "metrics", "plots", "dvclive"):
            (shutil.copytree if (dest / name).is_dir() else shutil.copy2)(dest / name, kept / name)
        lock = yaml.safe_load((dest / "dvc.lock").read_text())
        subprocess.run([sys.executable, "-m", "flup.config.profiles", args.then, "--write"], cwd=dest, check=True)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        removed = drop_removed_outputs(dest, lock, env)
        if removed:
            print(f"outputs of stages profiles/{args.then}.yaml removes, deleted: {', '.join(removed)}", flush=True)
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
