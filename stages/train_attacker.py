"""train_attacker@<name>: a blur-aware ArcFace attacker of the `attackers` table -> data/attackers/<name>/.

The adapter and fine-tuning attackers are trained by flup/attack/training.py.
"""

from __future__ import annotations

import sys
import time

from flup.attack.training import train_attacker
from flup.config import load_config, run_stage
from flup.config.paths import ATTACKERS
from flup.io import atomic_path
from flup.log import get_logger


def main(name: str) -> None:
    log = get_logger(f"train_attacker@{name}")
    cfg = load_config()
    started = time.monotonic()
    with atomic_path(ATTACKERS / name) as staging:
        staging.mkdir()
        meta = train_attacker(cfg, name, staging)
    last = meta["history"][-1] if meta["history"] else {}
    log.info("%s (%s, %s %s): %d identities, %d images; val before %s, after %s; %.0f s", name, meta["method"],
             meta["obfuscation"], meta["levels"], meta["train_identities"], meta["train_images"], meta["val_before"],
             last, time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.train_attacker <name from params.yaml attackers>")
    run_stage(main, sys.argv[1])
