"""The redact stage's driver: one audited tool (params.yaml ``audits:``) run on the identification probes' photos,
through :func:`flup.audit.run.run_tool` (a private copy of each photo, limits, a per-photo cache), into
``data/audits/<name>/redacted/`` and its ``manifest.csv`` (probe_id, image, status, output)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flup.audit.probes import audited_probes, manifest
from flup.audit.run import ToolRunError, run_tool
from flup.config.paths import LFW_IMAGES
from flup.io import write_table
from flup.pipeline.identities import protocol_tables

if TYPE_CHECKING:
    from flup.config import Study

REDACTED = "redacted"
MANIFEST = "manifest.csv"


class RedactError(RuntimeError):
    """The tool failed on some photos (named in the message) and the audit does not keep going."""


def redact_probes(cfg: Study, name: str, out: Path, images: Path = LFW_IMAGES, progress: bool = True) -> pd.DataFrame:
    """Run audit ``name``'s tool on its probes' photos into ``out/redacted``; write and return the manifest.
    Raises :class:`RedactError` naming the photos the tool failed on, unless the entry keeps going (then they are
    rows with their failure status: the audit scores them as faces the tool missed)."""
    entry = cfg.audit(name)
    _, _, probes = protocol_tables()
    chosen = audited_probes(probes, entry.max_probes, cfg.identification.random_seed)
    try:
        runs = run_tool(entry.tool(name), [images / image for image in chosen["image"]], out / REDACTED,
                        root=images, workers=entry.workers, timeout_s=entry.timeout_s,
                        max_image_pixels=cfg.data.max_image_pixels, keep_going=entry.keep_going, progress=progress)
    except ToolRunError as error:
        raise RedactError(f"audit {name}: the tool failed on some photos, so nothing is scored:\n{error}\n"
                          f"(fix the tool, or set audits.{name}.keep_going: true to score those photos as faces the "
                          "tool missed)") from None
    table = manifest(chosen, runs)
    write_table(out / MANIFEST, table)
    return table
