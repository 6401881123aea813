"""plot: plots/data/curves.csv, roc.csv (+ one LFW image) -> PNG figures in plots/."""

from __future__ import annotations

import time
from pathlib import Path

from flup.config import load_config, run_stage
from flup.io import read_table
from flup.log import get_logger
from flup.report import figures
from stages.common import FACES, face_box, gallery_image

CURVES = Path("plots/data/curves.csv")
ROC = Path("plots/data/roc.csv")
IMAGES = Path("data/raw/lfw/images")
OUT = Path("plots")
# ROC figures always written (dvc.yaml lists them); protocols beyond these get one too.
ROC_PROTOCOLS = ("view1", "view2", "seed")


def main() -> None:
    log = get_logger("plot")
    start = time.monotonic()
    cfg = load_config()
    bound = cfg.evaluate.privacy_auc_upper
    levels = cfg.plot.gallery_levels.as_dict()
    name = gallery_image(cfg)
    curves = read_table(CURVES)
    roc = read_table(ROC)

    paths = figures.figure_paths(OUT, sorted(set(ROC_PROTOCOLS) | set(roc["protocol"].astype(str))))
    figures.auc_vs_level(curves, paths["auc_vs_level"], bound)
    figures.mean_cosine_vs_level(curves, paths["mean_cosine_vs_level"])
    figures.detection_rate_vs_level(curves, paths["detection_rate_vs_level"])
    figures.blackbox_figure(curves, paths["blackbox"])
    for key, path in paths.items():
        if key.startswith("roc_"):
            figures.roc_figure(roc, path, key.removeprefix("roc_"))
    box = face_box(read_table(FACES), name)
    figures.gallery(figures.read_image(IMAGES / name), box, levels, paths["gallery"], title=f"Obfuscations of {name}")
    log.info("%d figures -> %s/ (%d groups, %d ROC points, gallery %s); %.1fs",
             len(paths), OUT, len(curves), len(roc), name, time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
