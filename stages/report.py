"""report: metrics/*.json, the figures, params.yaml and dvc.lock -> plots/report.md, plots/report.html.

Assembled by flup/report/assemble.py; the gallery image is chosen by flup/report/gallery.py.
"""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.log import get_logger
from flup.report.assemble import HTML, MARKDOWN, write_report
from flup.report.gallery import gallery_face


def main() -> None:
    log = get_logger("report")
    start = time.monotonic()
    cfg = load_config()
    name, box, image = gallery_face(cfg)
    markdown = write_report(cfg.document(), image, box, name, blur_border=cfg.render.blur_border)
    log.info("%s (%d lines) and %s written; gallery from %s; %.1fs",
             MARKDOWN, markdown.count("\n"), HTML, name, time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
