"""The report: metrics/*.json, the plot stage's figures and thumbnails (plots/thumbs/), params.yaml and dvc.lock
-> plots/report.{md,html}.

The gallery shows each obfuscation at its privacy-threshold level(s). It is rendered afresh with
``flup.obfuscate.obfuscation.apply`` (over the threshold's region and with ``render.blur_border``) on the sharp
gallery image, not cropped from
``plots/gallery.png``: a threshold level need not be one of ``plot.gallery_levels``, and rendering
shows exactly the pixels the recognizers scored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from flup.config.paths import LEARNING_CURVE, LEARNING_CURVE_FIGURE, PLOTS, PRIVACY, VERIFICATION
from flup.io import atomic_path, read_json
from flup.obfuscate import obfuscation
from flup.report import document as report
from flup.report.naming import THUMBS

LOCK = Path("dvc.lock")
MARKDOWN = PLOTS / "report.md"
HTML = PLOTS / "report.html"
GALLERY = PLOTS / "report_gallery"
# (caption, file under plots/) of the plot stage's figures shown in the report; {protocol} expands per protocol.
FIGURES = [
    ("Verification AUC vs level (band: bootstrap 95% interval; red: the privacy bound)", "auc_vs_level.png"),
    ("Face re-detected in the obfuscated image", "detection_rate_vs_level.png"),
    ("ROC curves, {protocol}", "roc_{protocol}.png"),
    ("Black box vs sharp", "blackbox.png"),
    ("Every level of plot.gallery_levels", "gallery.png"),
]


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def figure_list(verification: Mapping, plots: Path = PLOTS) -> list[tuple[str, str]]:
    protocols = report.ordered([p for d in verification.values() for p in d], report.PROTOCOL_ORDER)
    shown = []
    for caption, name in FIGURES:
        for protocol in protocols if "{protocol}" in name else [None]:
            file = name.format(protocol=protocol)
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
            ok, data = cv2.imencode(".png", obfuscation.apply(image, box, kind, level, region, blur_border))
            if not ok:
                raise ValueError(f"could not encode the {kind} {level} gallery image (region {region:g})")
            relative = report.gallery_file(kind, level, region)
            (staging / Path(relative).name).write_bytes(data.tobytes())
            images[relative] = data.tobytes()
    return images


def write_report(params: Mapping, image: np.ndarray, box, source: str, plots: Path = PLOTS,
                 verification_path: Path = VERIFICATION, privacy_path: Path = PRIVACY,
                 lock_path: Path = LOCK, *, blur_border: str = "crop",
                 learning_curve_path: Path = LEARNING_CURVE) -> str:
    """Build and write the report from the files; return the markdown. ``params`` is params.yaml as written
    (``Study.document()``), compared with the params dvc.lock recorded; ``blur_border`` is render's (each gallery
    image's region is that of its threshold). The learning curve (``learning_curve_path``, the plot stage's figure
    of it) gets its section when that file exists and has rows."""
    verification, privacy = read_json(verification_path), read_json(privacy_path)
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.exists() else None
    bound = float(privacy["privacy_auc_upper"])
    levels = report.gallery_levels(report.findings(verification, bound))
    gallery = render_gallery(image, box, levels, plots / GALLERY.name, blur_border)
    figures = figure_list(verification, plots)
    thumbs = {f"{THUMBS}/{path.name}": path.read_bytes() for path in sorted((plots / THUMBS).glob("*.png"))}
    current = {str(VERIFICATION): md5_file(verification_path), str(PRIVACY): md5_file(privacy_path)}
    curve = read_json(learning_curve_path) if Path(learning_curve_path).is_file() else None
    curve_figure = LEARNING_CURVE_FIGURE.name if (plots / LEARNING_CURVE_FIGURE.name).is_file() else None
    curve_lines = report.learning_curve_section(curve, curve_figure)
    markdown = report.build_markdown(verification, privacy, params, lock, current, figures, source, thumbs,
                                     curve_lines)
    images = thumbs | gallery | {file: (plots / file).read_bytes() for _, file in figures}
    if curve_lines and curve_figure:
        images[curve_figure] = (plots / curve_figure).read_bytes()
    page = report.to_html(markdown, images)
    with atomic_path(plots / MARKDOWN.name) as tmp:
        tmp.write_text(markdown)
    with atomic_path(plots / HTML.name) as tmp:
        tmp.write_text(page)
    return markdown
