"""protocols: pair lists and training identities -> data/protocols/<name>/, metrics/protocols.json.

The protocols are flup/data/protocols.py's.
"""

from __future__ import annotations

from pathlib import Path

from flup.config import load_config, run_stage
from flup.config.paths import LFW_FACES, LFW_RAW, PROTOCOLS
from flup.data.protocols import lfw_protocols
from flup.io import read_table, write_json, write_table
from flup.log import get_logger

SUMMARY = Path("metrics/protocols.json")


def main() -> None:
    log = get_logger("protocols")
    cfg = load_config()
    outputs = lfw_protocols(LFW_RAW, read_table(LFW_FACES), cfg.protocols.seed, cfg.protocols.min_pairs_per_label,
                            cfg.data.source)
    summary = {}
    for name, (train, pairs, info) in outputs.items():
        if train is not None:
            write_table(PROTOCOLS / name / "train.csv", train)
        write_table(PROTOCOLS / name / "pairs.csv", pairs)
        summary[name] = info
        log.info("%s: %s", name, ", ".join(f"{k}={v}" for k, v in info.items()))
    write_json(SUMMARY, summary)


if __name__ == "__main__":
    run_stage(main)
