"""plot: plots/data/curves.csv, roc.csv (+ one LFW image) -> PNG figures in plots/."""

from __future__ import annotations

import time
from pathlib import Path

from flup.config.params import ParamError, get, load_params
from flup.io import read_table
from flup.log import get_logger
from flup.obfuscate.obfuscation import OBFUSCATIONS
from flup.report import figures
from stages.common import FACES, face_box, gallery_image

CURVES = Path("plots/data/curves.csv")
ROC = Path("plots/data/roc.csv")
IMAGES = Path("data/raw/lfw/images")
OUT = Path("plots")
# ROC figures always written (dvc.yaml lists them); protocols beyond these get one too.
ROC_PROTOCOLS = ("view1", "view2", "seed")


def gallery_levels(params: dict) -> dict[str, list[float]]:
    levels = get(params, "plot.gallery_levels")
    if not isinstance(levels, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        for v in levels.values()
    ):
        raise ParamError(f"params.yaml: 'plot.gallery_levels' must map obfuscations to lists of levels, got {levels!r}")
    unknown = sorted(set(levels) - set(OBFUSCATIONS))
    if unknown:
        raise ParamError(f"params.yaml: 'plot.gallery_levels' names unknown obfuscations {unknown}")
    return levels


def main() -> None:
    log = get_logger("plot")
    start = time.monotonic()
    params = load_params()
    bound = float(get(params, "evaluate.privacy_auc_upper"))
    levels = gallery_levels(params)
    name = gallery_image(params)
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
    main()
