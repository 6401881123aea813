"""fetch: LFW images + protocol files into data/raw/lfw, validated (flup/data/fetch.py)."""

from __future__ import annotations

import time
from pathlib import Path

from flup.config import load_config, run_stage
from flup.config.paths import LFW_RAW
from flup.data.fetch import fetch_lfw, report_problems
from flup.log import get_logger

CACHE = Path("data/cache")


def main() -> None:
    log = get_logger("fetch")
    data = load_config().data
    started = time.monotonic()
    report = fetch_lfw(data, LFW_RAW, CACHE)
    report_problems(report, log)
    log.info("%d images of %d people from %s; %d unreadable excluded; %.0f s", report["images"], report["people"],
             report["image_root"], len(report["unreadable"]), time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main)
