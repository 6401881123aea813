"""render [dataset]: obfuscate one side of every test pair, per obfuscation x level (flup/pipeline/render.py).

LFW -> data/render/; an evaluation-only dataset -> data/datasets/<name>/render/.
"""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import LFW
from flup.log import get_logger
from flup.pipeline.render import render_dataset


def main(name: str = LFW) -> None:
    log = get_logger("render" if name == LFW else f"render@{name}")
    cfg = load_config()
    started = time.monotonic()
    summary = render_dataset(cfg, name)
    log.info("%d renders of %d images over %d levels x regions (%d images without a face, never emitted); %.1f MB; "
             "%.0f s", summary["renders"], summary["rendered"], len(summary["levels"]), summary["not_rendered"],
             summary["payload_bytes"] / 1e6, time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
