"""train_attacker@<name>: an obfuscation-aware ArcFace attacker of the `attackers` table, a replica per seed of
``attack.seeds`` -> data/attackers/<name>/seed<k>/.

It trains on one obfuscation family (any of flup/obfuscation/families.py) over a level range, or on a mixture of
families (the family drawn per sample); score_attacker@<name> then scores it on every rendered obfuscation.

The adapter and fine-tuning attackers are trained by flup/pipeline/train_attacker.py (with flup/attack/training.py);
``attack.nproc`` > 1 (or ``torchrun --nproc_per_node N -m stages.train_attacker <name>``): data-parallel on N GPUs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from flup.config import load_config, run_stage
from flup.config.paths import ATTACKERS, replica
from flup.io import atomic_path
from flup.log import get_logger
from flup.pipeline.train_attacker import train_attacker
from flup.training import distributed


def main(name: str) -> None:
    log = get_logger(f"train_attacker@{name}")
    cfg = load_config()
    distributed.relaunch(cfg.attacker(name).attack.nproc, "stages.train_attacker", name, key="attack.nproc")
    seeds = cfg.attacker(name).attack.seeds
    if not distributed.world().is_main:  # under torchrun the other ranks train alongside rank 0 into scratch folders
        for seed in seeds:
            with tempfile.TemporaryDirectory() as scratch:
                train_attacker(cfg, name, seed, Path(scratch))
        return
    with atomic_path(ATTACKERS / name) as staging:  # all replicas or none
        for seed in seeds:
            started = time.monotonic()
            folder = replica(staging, seed)
            folder.mkdir(parents=True)
            meta = train_attacker(cfg, name, seed, folder)
            last = meta["history"][-1] if meta["history"] else {}
            log.info("%s seed %d (%s, %s %s): %d identities, %d images; val before %s, after %s; %.0f s", name, seed,
                     meta["method"], meta["obfuscation"], meta["ranges"], meta["train_identities"],
                     meta["train_images"], meta["val_before"], last, time.monotonic() - started)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.train_attacker <name from params.yaml attackers>")
    run_stage(main, sys.argv[1])
