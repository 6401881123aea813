"""The plot stage's driver: the evaluate stage's tables (plots/data/curves.csv, roc.csv), the learning curve's
(plots/data/learning_curve.csv), the evaluate_identification stage's (plots/data/identification.csv, where it
exists) and the gallery face -> the PNG figures of plots/ (``flup.report.figures``,
``flup.report.identification_figures``) and plots/thumbs/: the gallery face at every (obfuscation, level, region)
rendered or scored (``flup.report.thumbnails``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flup.config.paths import (
    CURVES,
    IDENTIFICATION_TABLE,
    LEARNING_CURVE_FIGURE,
    LEARNING_CURVE_TABLE,
    LFW,
    PLOTS,
    ROC,
)
from flup.io import read_table
from flup.pipeline.gallery import gallery_face
from flup.report.figures import draw_all, learning_curve_figure
from flup.report.identification_figures import draw_identification
from flup.report.thumbnails import thumb_levels, write_thumbs

if TYPE_CHECKING:
    from flup.config import Study


@dataclass
class Plotted:
    figures: dict[str, Path]  # the figures drawn, by name
    thumbs: list[str]  # the thumbnails written, relative to plots/
    gallery: str  # the gallery image's name
    groups: int  # rows of the curves table
    roc_points: int


def plot_study(cfg: Study) -> Plotted:
    """Every figure and thumbnail of the plot stage, written under plots/."""
    name, box, image = gallery_face(cfg)
    curves, roc = read_table(CURVES), read_table(ROC)
    paths = draw_all(curves, roc, PLOTS, cfg.evaluate.privacy_auc_upper, cfg.plot.gallery_levels.as_dict(), name, box,
                     image, cfg.render.blur_border)
    learning_curve_figure(read_table(LEARNING_CURVE_TABLE), LEARNING_CURVE_FIGURE, cfg.evaluate.privacy_auc_upper)
    if IDENTIFICATION_TABLE.is_file():  # the pipeline's plot stage depends on it; a study without it has no figures
        paths |= draw_identification(read_table(IDENTIFICATION_TABLE), PLOTS, cfg.identification.privacy_auc_upper,
                                      LFW)
    thumbs = write_thumbs(image, box, thumb_levels(cfg.render.tasks(), curves), PLOTS, cfg.render.blur_border)
    return Plotted(paths, thumbs, name, len(curves), len(roc))
