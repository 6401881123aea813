"""The registry of obfuscation families: the one place that names, orders, labels and validates levels."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from flup.obfuscation import families
from flup.obfuscation import methods as ob
from flup.report import figures, findings

REPO = Path(__file__).resolve().parents[1]
IMAGE = np.random.default_rng(0).integers(0, 256, size=(120, 100, 3), dtype=np.uint8)
BOX = (20.0, 20.0, 80.0, 100.0)


def test_every_obfuscation_has_a_family_in_the_same_order():
    assert tuple(ob.OBFUSCATIONS) == families.ORDER
    assert families.ORDER == ("blur", "pixelate", "blackbox", "deface", "face_gaussian", "face_pixelate")


# Written out by hand: the labels the figures and the report showed before they shared the registry.
LABELS = [  # kind, level, panel label, phrase in a sentence
    ("blur", 0, "sharp (σ = 0)", "σ = 0 px blur"),
    ("blur", 12, "σ = 12 px", "σ = 12 px blur"),
    ("blur", 2.5, "σ = 2.5 px", "σ = 2.5 px blur"),
    ("pixelate", 1, "sharp (block 1)", "1 px pixelation"),
    ("pixelate", 16, "block 16 px", "16 px pixelation"),
    ("blackbox", 1, "black box", "black box"),
    ("deface", 1.3, "mask scale 1.3", "deface, mask scale 1.3"),
    ("face_gaussian", 0.5, "kernel 0.5 × face", "face-sized Gaussian, kernel 0.5 × face"),
    ("face_pixelate", 0.1, "10 cells across", "face-relative pixelation, 10 cells across (0.1 × face width)"),
    ("face_pixelate", 0.05, "20 cells across", "face-relative pixelation, 20 cells across (0.05 × face width)"),
    ("mosaic", 3, "mosaic 3", "mosaic at level 3"),  # a kind the registry does not know still reads plainly
]


@pytest.mark.parametrize(("kind", "level", "short", "phrase"), LABELS)
def test_level_text(kind, level, short, phrase):
    assert families.level_text(kind, level) == short
    assert families.level_text(kind, level, named=True) == phrase
    assert findings.level_phrase(kind, level) == phrase


def test_names_titles_and_axis_labels():
    expected = {  # kind: (report name, figure title, axis label, level meaning)
        "blur": ("Gaussian blur", "Gaussian blur", "σ (px)", "Gaussian σ in pixels"),
        "pixelate": ("pixelation", "pixelation", "block (px)", "block side in pixels"),
        "blackbox": ("black box", "black box", "", "none (one level)"),
        "deface": ("deface (box blur over an enlarged ellipse)", "deface (ellipse box blur)", "mask scale",
                   "deface's --mask-scale"),
        "face_gaussian": ("face-sized Gaussian blur", "face-sized Gaussian", "kernel / face size",
                          "kernel size / face size"),
        "face_pixelate": ("face-relative pixelation", "face-relative pixelation", "cell / face width",
                          "cell side / face width"),
        "mosaic": ("mosaic", "mosaic", "level", "level"),
    }
    for kind, (name, title, axis, meaning) in expected.items():
        family = families.family(kind)
        assert (family.name, family.title, family.axis_label, family.meaning) == (name, title, axis, meaning)
    assert figures._panel_title("blur", 8) == "Gaussian blur · σ = 8 px"
    assert figures._panel_title("blackbox", 1) == "black box"


def test_order_puts_registered_kinds_first():
    assert families.ordered(["mosaic", "face_pixelate", "blur", "blur", "aaa"]) == [
        "blur", "face_pixelate", "aaa", "mosaic"]


def test_dvc_plot_templates_order_panels_and_name_families_as_the_registry():
    from flup.report import vega_templates

    assert vega_templates.stale() == []  # .dvc/plots/flup_*.json as generated (python -m flup.report.vega_templates)
    series = json.loads((REPO / ".dvc/plots/flup_series_attacker.json").read_text())
    ranks = {t.get("as"): t.get("calculate") for t in series["transform"]}
    assert ranks["family_rank"].startswith(f"indexof({json.dumps(list(families.ORDER))}, datum.obfuscation)")
    for family in families.FAMILIES.values():
        assert json.dumps(family.title + (f", {family.axis_label}" if family.axis_label else "")) in ranks[
            "family_title"]


GOOD = [("blur", 0, 0.0), ("blur", 128, 128.0), ("pixelate", 8.0, 8), ("pixelate", np.int64(256), 256),
        ("blackbox", 0, 0.0), ("blackbox", 99.5, 99.5), ("deface", 1.3, 1.3), ("face_gaussian", 10, 10.0),
        ("face_pixelate", 1, 1.0)]
BAD = [  # kind, level, start of the message
    ("blur", -1, "blur sigma must be a finite number >= 0 and <= 256, got -1"),
    ("blur", 1e5, "blur sigma must be a finite number >= 0 and <= 256"),  # used to hang
    ("blur", 1e9, "blur sigma must be"),  # used to raise a raw cv2.error
    ("blur", math.nan, "blur sigma must be"),
    ("blur", "3", "blur sigma must be"),
    ("pixelate", 0, "pixelate block size must be an integer >= 1 and <= 384, got 0"),
    ("pixelate", 2.5, "pixelate block size must be an integer >= 1"),
    ("pixelate", True, "pixelate block size must be an integer >= 1"),
    ("pixelate", 385, "pixelate block size must be"),
    ("blackbox", -1, "blackbox level must be a finite number >= 0, got -1"),  # used to be accepted
    ("blackbox", math.nan, "blackbox level must be"),  # used to render, then crash writing JSON
    ("deface", 0.5, "deface mask scale level must be a finite number > 0.5 and <= 10"),
    ("face_gaussian", 0, "face_gaussian level must be a finite number > 0 and <= 10"),
    ("face_pixelate", 1.5, "face_pixelate level must be a finite number > 0 and <= 1"),
    ("face_pixelate", math.inf, "face_pixelate level must be"),
]


@pytest.mark.parametrize(("kind", "level", "value"), GOOD)
def test_valid_levels(kind, level, value):
    checked = families.check_level(kind, level)
    assert checked == value and type(checked) is type(value)
    assert ob.apply(IMAGE, BOX, kind, level).shape == IMAGE.shape


@pytest.mark.parametrize(("kind", "level", "message"), BAD)
def test_invalid_levels_fail_fast_naming_the_level(kind, level, message):
    with pytest.raises(ValueError) as error:
        families.check_level(kind, level)
    assert str(error.value).startswith(message)
    start = time.monotonic()
    with pytest.raises(ValueError, match="^" + message.split(" must ")[0]):
        ob.apply(IMAGE, BOX, kind, level)
    assert time.monotonic() - start < 1.0


def test_unknown_kind():
    with pytest.raises(ValueError, match=r"unknown obfuscation 'mosaic'; expected one of blur, pixelate, blackbox"):
        families.check_level("mosaic", 1)
