"""learning_curve: one adapter attacker's view1 AUC vs its number of training images (params.yaml learning_curve)
-> metrics/learning_curve.json, plots/data/learning_curve.csv (drawn by the plot stage).

The curve is flup/pipeline/learning_curve.py's (its pieces: flup/attack/learning_curve.py);
``learning_curve.images: []`` (the default) writes empty results.
"""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.config.paths import LEARNING_CURVE, LEARNING_CURVE_TABLE
from flup.io import write_json, write_table
from flup.log import get_logger
from flup.pipeline.learning_curve import learning_curve


def main() -> None:
    log = get_logger("learning_curve")
    started = time.monotonic()
    cfg = load_config()
    metrics, table = learning_curve(cfg)
    write_json(LEARNING_CURVE, metrics)
    write_table(LEARNING_CURVE_TABLE, table)
    if not metrics["enabled"]:
        log.info("learning_curve.images is empty: no curve (empty results written)")
        return
    for row in metrics["rows"]:
        log.info("%s %5d images  %s %g: AUC %.3f [%.3f, %.3f] (%d pairs)", row["recognizer"], row["images"],
                 row["obfuscation"], row["level"], row["auc"], row["auc_low"], row["auc_high"], row["n_pairs"])
    log.info("%d rows -> %s, %s; %.0f s", len(table), LEARNING_CURVE, LEARNING_CURVE_TABLE, time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main)
