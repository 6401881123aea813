"""Order and names shared by the figures and the report (obfuscation families: ``flup.obfuscation.families``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PROTOCOL_ORDER = ["view1", "view2", "seed"]
DATASET_ORDER = ["lfw"]  # the study's own dataset first, evaluation-only datasets after it (alphabetically)
MODE_NAMES = {"end_to_end": "end-to-end", "oracle_box": "oracle box"}
# The evaluate stage's ``recognizer_kind`` of a series (``flup.pipeline.evaluate.recognizer_kind``): its figures
# show one kind at a time, so a panel holds a few series.
RECOGNIZER_KINDS = {
    "arcface": "plain ArcFace",
    "attacker": "obfuscation-aware ArcFace attackers",
    "model": "dual-stream models",
}


def ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """The distinct ``values`` in ``preferred`` order, the others after them, alphabetically."""
    present = list(dict.fromkeys(values))
    return [v for v in preferred if v in present] + sorted(v for v in present if v not in preferred)


def protocol_rank(protocol: str) -> int:
    return PROTOCOL_ORDER.index(protocol) if protocol in PROTOCOL_ORDER else len(PROTOCOL_ORDER)


def dataset_rank(dataset: str) -> int:
    return DATASET_ORDER.index(dataset) if dataset in DATASET_ORDER else len(DATASET_ORDER)


def region_text(region: float) -> str:
    """A region of ``render.regions`` in words: "1.3× face box"."""
    return f"{float(region):g}× face box"


def number_key(value: float) -> str:
    """A level or region as in file names and metric keys: ``8.0 -> "8"``, ``1.3 -> "1.3"`` (as
    ``flup.verify.scoring.level_key``, which the plot stage does not import)."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


THUMBS = "thumbs"  # folder under plots/: one small image per (family, level, region), written by the plot stage


def thumb_file(kind: str, level: float, region: float = 1.0) -> str:
    """A thumbnail's path relative to ``plots/``: ``thumbs/blur_8_r1.3.png``."""
    return f"{THUMBS}/{kind}_{number_key(level)}_r{number_key(region)}.png"
