"""fetch: LFW images + protocol files into data/raw/lfw, validated."""

from __future__ import annotations

import time
from pathlib import Path

from flup.config.params import ParamError, get, load_params
from flup.data import fetch, sources
from flup.io import atomic_path, write_json
from flup.log import get_logger

OUT = Path("data/raw/lfw")
CACHE = Path("data/cache")


def main() -> None:
    log = get_logger("fetch")
    params = load_params()
    started = time.monotonic()
    try:
        limits = sources.SizeLimits(get(params, "data.max_download_mb", 20000), get(params, "data.max_member_mb", 64),
                                    get(params, "data.max_extract_mb", 20000))
    except ValueError as error:
        raise ParamError(f"params.yaml: {error}") from None
    roots = [sources.resolve_source(get(params, "data.source"), get(params, "data.sha256", None), CACHE,
                                    limits=limits)]
    for index, extra in enumerate(get(params, "data.extra_sources", []) or []):
        if not isinstance(extra, dict) or "location" not in extra:
            raise ParamError(f"params.yaml: data.extra_sources[{index}] must be a mapping with 'location'")
        name = f"data.extra_sources[{index}].location"
        roots.append(sources.resolve_source(extra["location"], extra.get("sha256"), CACHE, param_name=name,
                                            limits=limits))
    max_people = get(params, "data.max_people", None)
    if max_people is not None and (not isinstance(max_people, int) or max_people < 2):
        raise ParamError(f"params.yaml: data.max_people must be null or an integer >= 2, got {max_people!r}")

    with atomic_path(OUT) as staging:
        report = fetch.assemble(roots, staging, max_people)
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
    main()
