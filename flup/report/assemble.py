"""The report's files: the metrics files (``flup.report.metrics_files``), the plot stage's figures and thumbnails
(plots/thumbs/), params.yaml and dvc.lock -> plots/report.{md,html} and the gallery images of plots/report_gallery/.

The gallery shows each obfuscation at its privacy-threshold level(s). It is rendered afresh with
``flup.obfuscation.methods.apply`` (over the threshold's region and with ``render.blur_border``) on the sharp
gallery image, not cropped from
``plots/gallery.png``: a threshold level need not be one of ``plot.gallery_levels``, and rendering
shows exactly the pixels the recognizers scored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from flup.io import atomic_path
from flup.obfuscation import methods
from flup.report import document
from flup.report.findings import findings
from flup.report.markdown import to_html
from flup.report.metrics_files import MetricsFiles
from flup.report.naming import PROTOCOL_ORDER, RECOGNIZER_KINDS, THUMBS, ordered

MARKDOWN = "report.md"  # the report's files, in the plots folder
HTML = "report.html"
GALLERY = "report_gallery"  # its gallery images (document.gallery_file)
LEARNING_CURVE_FIGURE = "learning_curve.png"  # the plot stage's figure of metrics/learning_curve.json
# (caption, file under plots/) of the plot stage's figures shown in the report; {protocol} expands per protocol.
FIGURES = [
    ("Identification AUC vs level per family and region (dotted: chance 0.5; dashed red: the privacy bound, "
     "identification.privacy_auc_upper)", "identification_auc.png"),
    ("Right person among 10 candidates vs level (chance 10%)", "identification_rank1.png"),
    *[(f"Verification AUC vs level, {title} (band: bootstrap 95% interval; red: the privacy bound)",
       f"auc_vs_level_{kind}.png") for kind, title in RECOGNIZER_KINDS.items()],
    ("Face re-detected in the obfuscated image", "detection_rate_vs_level.png"),
    *[(f"ROC curves, {{protocol}}, {title}", f"roc_{{protocol}}_{kind}.png")
      for kind, title in RECOGNIZER_KINDS.items()],
    ("Black box vs sharp", "blackbox.png"),
    ("Every level of plot.gallery_levels", "gallery.png"),
]


def md5_file(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def read_lock(path: Path) -> Mapping | None:
    """dvc.lock's data; None where there is none."""
    return yaml.safe_load(Path(path).read_text()) if Path(path).exists() else None


# Figures the plot stage draws only where plots/data/identification.csv exists (a study, or a plots folder, from
# before the identification stages): shown where present, as metrics/identification.json's section.
OPTIONAL_FIGURES = frozenset({"identification_auc.png", "identification_rank1.png"})


def figure_list(protocols: Sequence[str], plots: Path) -> list[tuple[str, str]]:
    """(caption, file under ``plots``) of every figure the report shows; a missing one raises FileNotFoundError
    (one of ``OPTIONAL_FIGURES`` is left out instead)."""
    shown = []
    for caption, name in FIGURES:
        for protocol in ordered(protocols, PROTOCOL_ORDER) if "{protocol}" in name else [None]:
            file = name.format(protocol=protocol)
            if file in OPTIONAL_FIGURES and not (plots / file).is_file():
                continue
            if not (plots / file).is_file():
                raise FileNotFoundError(f"{plots / file}: figure missing; run the plot stage first (dvc repro plot)")
            shown.append((caption.format(protocol=protocol), file))
    return shown


def render_gallery(image: np.ndarray, box, levels: Mapping[str, list[tuple[float, float]]],
                   folder: Path, blur_border: str = "crop") -> dict[str, bytes]:
    """Write each (kind, (level, region)) rendering as PNG under ``folder`` (atomically, as one folder);
    return {path relative to plots/: PNG bytes}."""
    images = {}
    with atomic_path(folder) as staging:
        staging.mkdir()
        jobs = [(kind, level, region) for kind, values in levels.items() for level, region in values]
        for kind, level, region in tqdm(jobs, desc="report gallery", unit="image"):
            ok, data = cv2.imencode(".png", methods.apply(image, box, kind, level, region, blur_border))
            if not ok:
                raise ValueError(f"could not encode the {kind} {level} gallery image (region {region:g})")
            relative = document.gallery_file(kind, level, region)
            (staging / Path(relative).name).write_bytes(data.tobytes())
            images[relative] = data.tobytes()
    return images


def write_report(params: Mapping, metrics: MetricsFiles, lock: Mapping | None, current_md5: Mapping[str, str],
                 image: np.ndarray, box, source: str, plots: Path, *, blur_border: str = "crop") -> str:
    """Build and write the report (``plots``/report.md, report.html, report_gallery/) from the metrics files, the
    plot stage's figures and thumbnails in ``plots`` and the gallery face (``image``, its face ``box``, its name
    ``source``); return the markdown. ``params`` is params.yaml as written (``Study.document()``), compared with the
    params ``lock`` (dvc.lock's data) recorded; ``current_md5``: each metrics file's md5 under the path dvc.lock
    names it by; ``blur_border`` is render's (each gallery image's region is that of its threshold). The learning
    curve gets its section when ``metrics`` has one with rows; the identification metrics, where ``metrics`` has
    them, lead the report (their thumbnails: those in ``plots``/thumbs/)."""
    privacy = metrics.privacy
    levels = document.gallery_levels(findings(metrics.verification, float(privacy.bound)))
    gallery = render_gallery(image, box, levels, plots / GALLERY, blur_border)
    figures = figure_list(metrics.verification.protocols, plots)
    thumbs = {f"{THUMBS}/{path.name}": path.read_bytes() for path in sorted((plots / THUMBS).glob("*.png"))}
    curve_figure = LEARNING_CURVE_FIGURE if (plots / LEARNING_CURVE_FIGURE).is_file() else None
    curve_lines = document.learning_curve_section(metrics.learning_curve, curve_figure)
    markdown = document.build_markdown(metrics.verification, privacy, params, lock, current_md5, figures, source,
                                       thumbs, curve_lines, metrics.identification)
    images = thumbs | gallery | {file: (plots / file).read_bytes() for _, file in figures}
    if curve_lines and curve_figure:
        images[curve_figure] = (plots / curve_figure).read_bytes()
    page = to_html(markdown, images)
    with atomic_path(plots / MARKDOWN) as tmp:
        tmp.write_text(markdown)
    with atomic_path(plots / HTML) as tmp:
        tmp.write_text(page)
    return markdown
