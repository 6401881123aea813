"""ingest@<dataset>: index an evaluation-only dataset and draw its test pairs -> data/datasets/<dataset>/source/."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from flup.config import load_config, run_stage
from flup.data import datasets, protocols
from flup.io import atomic_path, write_json, write_table
from flup.log import get_logger

MAX_PROBLEMS_LOGGED = 20


def main(name: str) -> None:
    log = get_logger(f"ingest@{name}")
    entry = load_config().dataset(name)
    started = time.monotonic()
    index = datasets.read_dataset(entry.model_dump())
    for problem in index.problems[:MAX_PROBLEMS_LOGGED]:
        log.warning("%s", problem)
    if len(index.problems) > MAX_PROBLEMS_LOGGED:
        log.warning("... and %d more problems (all in report.json)", len(index.problems) - MAX_PROBLEMS_LOGGED)
    pairs = protocols.evaluation_pairs(index.frame, entry.same_pairs, entry.different_pairs, entry.random_seed)
    if pairs.empty:
        raise ValueError(f"{index.root}: no pairs could be drawn from {len(index.frame)} images "
                         f"of {index.frame['identity'].nunique()} identities")
    summary = {**index.summary(), **protocols.describe(None, pairs, 0)}
    with atomic_path(Path("data/datasets") / name / "source") as staging:
        write_table(staging / "index.csv", index.frame)
        write_table(staging / "pairs.csv", pairs)
        write_json(staging / "report.json", {**summary, "problem_list": index.problems})
    log.info("%s: %s, %d identities; %d same + %d different pairs (%d people); %d problems; %.1f s", name,
             index.coverage(), summary["identities"], summary["same_pairs"], summary["different_pairs"],
             summary["test_people"], summary["problems"], time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.ingest <name from params.yaml datasets>")
    run_stage(main, sys.argv[1])
