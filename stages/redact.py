"""redact <name>: the redaction tool of params.yaml ``audits.<name>`` run on the identification probes' photos ->
data/audits/<name>/redacted/ (kept outputs, cached per photo) and data/audits/<name>/manifest.csv
(flup/pipeline/redact.py). A tool that fails on some photos stops the stage naming them, unless ``keep_going``."""

from __future__ import annotations

import sys

from flup.audit.probes import failed
from flup.audit.tool import TemplateError, ToolNotFoundError
from flup.config import load_config, run_stage
from flup.config.paths import AUDITS_DATA
from flup.log import get_logger
from flup.pipeline.redact import RedactError, redact_probes


def main(name: str) -> None:
    log = get_logger(f"redact@{name}")
    try:
        table = redact_probes(load_config(), name, AUDITS_DATA / name)
    except (RedactError, TemplateError, ToolNotFoundError) as error:
        print(f"error: {error}".replace("\n", "\nerror: "), file=sys.stderr)
        raise SystemExit(1) from None
    log.info("%d probe photos redacted, %d failed (scored as faces the tool missed)", len(table), len(failed(table)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.redact <name from params.yaml audits>")
    run_stage(main, sys.argv[1])
