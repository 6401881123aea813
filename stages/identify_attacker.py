"""identify_attacker <name> [dataset]: an adapter attacker ranks the identification probes from ArcFace's probe
embeddings (flup/pipeline/identify_attacker.py).

LFW (identify_attacker@<name>): cross-fitted per identity fold (each fold's adapter trained on the other folds'
people) -> data/identification/scores/<name>.parquet, its fold adapters -> data/identification/attackers/<name>/.
An evaluation-only dataset (identify_attacker_dataset@<name>-<dataset>; its people are not LFW's): each replica's
own adapter -> data/identification/datasets/<dataset>/scores/<name>.parquet. A fine-tuned attacker: no rows.
"""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import IDENTIFICATION_ATTACKERS, LFW
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.identify_attacker import identify_attacker, identify_attacker_on_dataset
from flup.pipeline.identities import identification_files


def main(name: str, dataset: str = LFW) -> None:
    log = get_logger(f"identify_attacker@{name}" if dataset == LFW else f"identify_attacker_dataset@{name}-{dataset}")
    cfg = load_config()
    started = time.monotonic()
    if dataset == LFW:
        table = identify_attacker(cfg, name, IDENTIFICATION_ATTACKERS / name)
    else:
        table = identify_attacker_on_dataset(cfg, name, dataset)
    write_table(identification_files(dataset).scores / f"{name}.parquet", table)
    log.info("%d probe outcomes; %.0f s", len(table), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m stages.identify_attacker <name from params.yaml attackers> [dataset]")
    run_stage(main, *sys.argv[1:3])
