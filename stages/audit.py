"""audit <name>: the photos redact@<name> kept, scored like a family against every attacker of the study (ArcFace
in both threat models, every cross-fitted adapter) on the identification probes -> audits/<name>/audit.json (the
verdict in plain words, the risk, coverage, the comparison with a black box), audits/<name>/audit.html and the
missed faces' thumbnails (flup/pipeline/audit.py)."""

from __future__ import annotations

import sys

from flup.config import load_config, run_stage
from flup.log import get_logger
from flup.pipeline.audit import AuditError, run_audit


def main(name: str) -> None:
    log = get_logger(f"audit@{name}")
    try:
        summary = run_audit(load_config(), name)
    except AuditError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    log.info("%s: %s", name, summary["verdict"]["text"])
    if summary["risk"]:
        log.info("%s", summary["risk"]["text"])
    log.info("coverage: %s", summary["coverage"]["text"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.audit <name from params.yaml audits>")
    run_stage(main, sys.argv[1])
