"""The report stage's driver: metrics/*.json (read by ``flup.report.metrics_files``), the plot stage's figures and
thumbnails, params.yaml and dvc.lock -> plots/report.md, plots/report.html and plots/report_gallery/
(``flup.report.assemble``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flup.config.paths import IDENTIFICATION_METRICS, LEARNING_CURVE, PLOTS, PRIVACY, VERIFICATION
from flup.pipeline.gallery import gallery_face
from flup.report.assemble import HTML, MARKDOWN, md5_file, read_lock, write_report
from flup.report.metrics_files import read_metrics

if TYPE_CHECKING:
    from flup.config import Study

LOCK = Path("dvc.lock")
REPORT_MARKDOWN = PLOTS / MARKDOWN
REPORT_HTML = PLOTS / HTML


def report_study(cfg: Study) -> tuple[str, str]:
    """Write the report; return its markdown and the gallery image's name."""
    name, box, image = gallery_face(cfg)
    metrics = read_metrics(VERIFICATION, PRIVACY, LEARNING_CURVE, IDENTIFICATION_METRICS)
    read = (VERIFICATION, PRIVACY, *([IDENTIFICATION_METRICS] if metrics.identification is not None else []))
    current = {str(path): md5_file(path) for path in read}  # as dvc.lock names them
    markdown = write_report(cfg.document(), metrics, read_lock(LOCK), current, image, box, name, PLOTS,
                            blur_border=cfg.render.blur_border)
    return markdown, name
