"""fetch: LFW images + protocol files into data/raw/lfw, validated."""

from __future__ import annotations

import time
from pathlib import Path

from flup.config import load_config, run_stage
from flup.data import fetch, sources
from flup.io import atomic_path, write_json
from flup.log import get_logger

OUT = Path("data/raw/lfw")
CACHE = Path("data/cache")


def main() -> None:
    log = get_logger("fetch")
    data = load_config().data
    started = time.monotonic()
    limits = sources.SizeLimits(data.max_download_mb, data.max_member_mb, data.max_extract_mb)
    roots = [sources.resolve_source(data.source, data.sha256, CACHE, limits=limits)]
    for index, extra in enumerate(data.extra_sources):
        name = f"data.extra_sources[{index}].location"
        roots.append(sources.resolve_source(extra.location, extra.sha256, CACHE, param_name=name, limits=limits))

    with atomic_path(OUT) as staging:
        report = fetch.assemble(roots, staging, data.max_people)
        write_json(staging / "report.json", report)
    for item in report["unreadable"]:
        log.warning("excluded unreadable image %s: %s", item["image"], item["reason"])
    for info in report["protocols"].values():
        for problem in info["missing_images"][:20]:
            log.warning("%s names a missing image", problem)
        for problem in info["unknown_people"][:20]:
            log.warning("%s", problem)
        if len(info["unknown_people"]) > 20:
            log.warning("... and %d more lines naming unknown people (all in report.json)",
                        len(info["unknown_people"]) - 20)
    for name in report["missing_protocol_files"]:
        log.warning("protocol file %s not found in the source", name)
    log.info(
        "%d images of %d people from %s; %d unreadable excluded; %.0f s",
        report["images"], report["people"], report["image_root"], len(report["unreadable"]),
        time.monotonic() - started,
    )


if __name__ == "__main__":
    run_stage(main)
