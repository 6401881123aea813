"""Compare the output hashes of two dvc.lock files, stage by stage.

    python -m benchmarks.compare_locks dvc.lock ../other-clone/dvc.lock

Prints how many stages have identical outputs, then each stage whose outputs differ (and which) and each stage
found in only one of the files. How the result refreshes in benchmarks/default_study.md were checked.
"""

from __future__ import annotations

import sys

import yaml


def output_hashes(lock: dict, stage: str) -> dict[str, str | None]:
    return {out["path"]: out.get("md5") for out in lock[stage].get("outs", [])}


def main(first: str, second: str) -> None:
    with open(first) as a_file, open(second) as b_file:
        a, b = yaml.safe_load(a_file)["stages"], yaml.safe_load(b_file)["stages"]
    same, differ, only = [], [], []
    for stage in sorted(set(a) | set(b)):
        if stage not in a or stage not in b:
            only.append(stage)
            continue
        outs_a, outs_b = output_hashes(a, stage), output_hashes(b, stage)
        changed = sorted(p for p in set(outs_a) | set(outs_b) if outs_a.get(p) != outs_b.get(p))
        (differ if changed else same).append((stage, changed))
    print(f"{len(same)} stages with identical outputs")
    for stage, changed in differ:
        print("DIFFER", stage, changed)
    for stage in only:
        print("ONLY IN ONE", stage)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m benchmarks.compare_locks LOCK LOCK")
    main(*sys.argv[1:])
