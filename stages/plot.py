"""plot: plots/data/curves.csv, roc.csv, learning_curve.csv (+ one LFW image) -> PNG figures in plots/
(flup/report/figures.py), and plots/thumbs/: that image at every (obfuscation, level, region) rendered or scored
(flup/report/gallery.py)."""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.config.paths import CURVES, LEARNING_CURVE_FIGURE, LEARNING_CURVE_TABLE, PLOTS, ROC
from flup.io import read_table
from flup.log import get_logger
from flup.report.figures import draw_all, learning_curve_figure
from flup.report.gallery import gallery_face, thumb_levels, write_thumbs


def main() -> None:
    log = get_logger("plot")
    start = time.monotonic()
    cfg = load_config()
    name, box, image = gallery_face(cfg)
    curves, roc = read_table(CURVES), read_table(ROC)
    paths = draw_all(curves, roc, PLOTS, cfg.evaluate.privacy_auc_upper, cfg.plot.gallery_levels.as_dict(), name, box,
                     image, cfg.render.blur_border)
    learning_curve_figure(read_table(LEARNING_CURVE_TABLE), LEARNING_CURVE_FIGURE, cfg.evaluate.privacy_auc_upper)
    thumbs = write_thumbs(image, box, thumb_levels(cfg.render.tasks(), curves), PLOTS, cfg.render.blur_border)
    log.info("%d figures and %d thumbnails -> %s/ (%d groups, %d ROC points, gallery %s); %.1fs",
             len(paths), len(thumbs), PLOTS, len(curves), len(roc), name, time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
