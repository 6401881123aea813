"""report: metrics/*.json, the figures, params.yaml and dvc.lock -> plots/report.md, plots/report.html.

The driver is flup/pipeline/report.py; the report is assembled by flup/report/assemble.py.
"""

from __future__ import annotations

import time

from flup.config import load_config, run_stage
from flup.log import get_logger
from flup.pipeline.report import REPORT_HTML, REPORT_MARKDOWN, report_study


def main() -> None:
    log = get_logger("report")
    start = time.monotonic()
    markdown, name = report_study(load_config())
    log.info("%s (%d lines) and %s written; gallery from %s; %.1fs",
             REPORT_MARKDOWN, markdown.count("\n"), REPORT_HTML, name, time.monotonic() - start)


if __name__ == "__main__":
    run_stage(main)
