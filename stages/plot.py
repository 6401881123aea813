"""plot: plots/data/curves.csv, roc.csv, learning_curve.csv (+ one LFW image) -> PNG figures in plots/
(flup/report/figures.py), and plots/thumbs/: that image at every (obfuscation, level, region) rendered or scored
(flup/report/thumbnails.py). The driver is flup/pipeline/plot.py."""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.config.paths import PLOTS
from flup.log import get_logger
from flup.pipeline.plot import plot_study


def main() -> None:
    log = get_logger("plot")
    start = time.monotonic()
    done = plot_study(load_config())
    log.info("%d figures and %d thumbnails -> %s/ (%d groups, %d ROC points, gallery %s); %.1fs",
             len(done.figures), len(done.thumbs), PLOTS, done.groups, done.roc_points, done.gallery,
             time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
