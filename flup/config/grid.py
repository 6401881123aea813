"""Experiment grids: a named ``grids:`` entry of params.yaml queued as one ``dvc exp run`` per point.

``python -m flup.config.grid NAME`` expands ``grids.NAME`` (:class:`flup.config.schema.Grid`: a product or a
zip of dotted keys' value lists), validates every point as the study it makes, then queues one
``dvc exp run --queue -n NAME-<i> -S key=value …`` per point; ``--jobs N`` then starts ``N`` queue workers
(``dvc queue start -j N``) and ``--wait`` waits until the queue is done. ``--dry-run`` prints the commands and
queues nothing. Nothing is queued unless every point validates: a bad key or value stops with one line naming
``params.yaml:<line>`` (the grid's line) and the key. Compare the results with ``dvc exp show`` and
``dvc plots diff $(dvc exp ls --name-only)``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from typing import Any

from flup.config.loader import Document, merge, plain, read_yaml, validate
from flup.config.params import PARAMS_FILE, ConfigError

__all__ = ["commands", "main", "points"]


def _nest(key: str, value: Any) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def points(name: str, params: str | os.PathLike = PARAMS_FILE) -> list[dict[str, Any]]:
    """The points of ``grids.<name>`` in order, each ``{dotted key: value}``, every one validated as the study
    it makes; a bad key or value raises :class:`ConfigError` naming the grid's line in ``params``."""
    source = str(params)
    document = read_yaml(source)
    grid = validate(document, source).grid(name)
    keys = list(grid.params)
    values = [grid.params[key] for key in keys]
    combos = itertools.product(*values) if grid.mode == "product" else zip(*values, strict=True)
    result = [dict(zip(keys, (plain(v) for v in combo), strict=True)) for combo in combos]
    for number, point in enumerate(result, start=1):
        data = document.data
        where = dict(document.where)
        for key, value in point.items():
            data = merge(data, _nest(key, value))
            path = tuple(key.split("."))
            index = grid.params[key].index(value) if value in grid.params[key] else 0
            line = document.where.get(("grids", name, "params", key, index)) or \
                document.where.get(("grids", name, "params", key))
            # the point's value is written on the grid's line: a bad value's message names that line
            where = {p: w for p, w in where.items() if p[:len(path)] != path}
            if line:
                where[path] = line
        try:
            validate(Document(data, where), source)
        except ConfigError as error:
            raise ConfigError([f"{problem} (grids.{name}, point {number})" for problem in error.problems]) from None
    return result


def commands(name: str, grid_points: list[dict[str, Any]], dvc: list[str] | None = None) -> list[list[str]]:
    """One ``dvc exp run --queue`` command per point, named ``NAME-<i>`` (1-based); values as JSON."""
    dvc = dvc or [sys.executable, "-m", "dvc"]
    return [[*dvc, "exp", "run", "--queue", "-n", f"{name}-{index}",
             *(f"-S={key}={json.dumps(value, separators=(',', ':'))}" for key, value in point.items())]
            for index, point in enumerate(grid_points, start=1)]


def wait(timeout: float | None = None, poll: float = 2.0) -> dict[str, str]:
    """Wait until DVC's experiment queue has nothing queued or running; return each task's status by name.

    Stops with an error if tasks stay queued while no queue worker is alive (30 s), or after ``timeout`` s."""
    from dvc.repo import Repo

    start = idle_since = time.monotonic()
    while True:
        with Repo() as repo:
            tasks = repo.experiments.celery_queue.status()
            busy = [t for t in tasks if t["status"] in ("Queued", "Running")]
            workers = repo.experiments.celery_queue.worker_status() if busy else {}
        if not busy:
            return {t.get("name") or t["rev"][:7]: t["status"] for t in tasks}
        now = time.monotonic()
        if workers:
            idle_since = now
        elif now - idle_since > 30:
            raise RuntimeError(f"{len(busy)} experiment(s) queued but no queue worker running (dvc queue start)")
        if timeout is not None and now - start > timeout:
            raise TimeoutError(f"{len(busy)} experiment(s) still queued or running after {timeout:g} s")
        time.sleep(poll)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", help="an entry of grids: in params.yaml")
    parser.add_argument("--dry-run", action="store_true", help="print the dvc commands, queue nothing")
    parser.add_argument("--jobs", "-j", type=int, default=0, help="start this many queue workers (dvc queue start)")
    parser.add_argument("--wait", action="store_true", help="with --jobs: wait until the queue is done")
    args = parser.parse_args(argv)
    if args.jobs < 0:
        parser.error("--jobs: expected an integer >= 0")
    try:
        grid_points = points(args.grid)
    except ConfigError as error:
        print(f"error: {error}".replace("\n", "\nerror: "), file=sys.stderr)
        raise SystemExit(2) from None
    dvc = [sys.executable, "-m", "dvc"]
    queued = commands(args.grid, grid_points, dvc)
    for command in queued:
        shown = shlex.join(["dvc", *command[len(dvc):]])
        if args.dry_run:
            print(shown)
            continue
        print(shown, file=sys.stderr)
        subprocess.run(command, check=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if args.dry_run:
        return
    print(f"grids.{args.grid}: {len(queued)} experiment(s) queued", file=sys.stderr)
    if args.jobs:
        # the workers outlive this command: they must not hold its output streams open
        subprocess.run([*dvc, "queue", "start", "-j", str(args.jobs)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"started {args.jobs} queue worker(s): dvc queue status", file=sys.stderr)
        if args.wait:
            names = {command[command.index("-n") + 1] for command in queued}
            statuses = {name: status for name, status in wait().items() if name in names}
            subprocess.run([*dvc, "queue", "stop"], check=True, stdin=subprocess.DEVNULL,  # the idle workers
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, status in sorted(statuses.items()):
                print(f"{name}: {status}", file=sys.stderr)
            if any(status != "Success" for status in statuses.values()):
                raise SystemExit(1)


if __name__ == "__main__":
    main()
