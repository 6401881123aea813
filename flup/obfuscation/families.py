"""The obfuscation families: one record per kind, read by everything that names, orders, labels or
validates an obfuscation level.

- ``flup.obfuscation.methods`` validates levels with :func:`check_level` (and kinds with :func:`check_kind`);
- ``flup.report.figures`` takes panel titles, axis labels and level labels from here;
- ``flup.report.document`` and ``flup.report.findings`` take names, level meanings and level phrases from here.

A level's meaning depends on the family; larger is always stronger. A kind not in the registry (an old
metrics file, say) still gets a plain label from :func:`family`, so reading results never fails on it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

# Upper bounds on levels, sized for face photos of a few hundred pixels (LFW 250 px, CelebA 178 x 218):
# beyond them the box holds one flat colour (or the region is the whole image) and larger values only
# cost time (blur cost grows with sigma: sigma = 1e5 never finishes, 1e9 makes OpenCV raise). 256 lets a
# blur reach its uniform level (UNIFORM_AT below) over LFW's 94 px box scaled by 2.0 (sigma ~ 188 px), 384 a
# pixelation (1.5 x 188 = 282 px); both take milliseconds on a 250 px image.
MAX_SIGMA = 256.0
MAX_BLOCK = 384


@dataclass(frozen=True)
class Family:
    """How one kind of obfuscation is named, labelled and validated.

    ``short`` and ``phrase`` are level templates: ``{v}`` is the level (``%g``), ``{cells}`` the number of
    cells across the face for a cell side of ``level`` x face width.
    """

    kind: str  # key in params.yaml, file names, metrics
    name: str  # in prose and report headings: "Gaussian blur"
    title: str  # in figure panel titles (shorter): "face-sized Gaussian"
    axis_label: str  # the level axis, with its unit; "" = the level carries no meaning (one level)
    meaning: str  # what the level is, in words: "Gaussian σ in pixels"
    short: str  # a level as a panel label: "σ = {v} px"
    phrase: str  # a level with the family named, in a sentence: "σ = {v} px blur"
    noun: str  # the level in error messages: "blur sigma"
    low: float  # the smallest valid level ...
    low_open: bool  # ... itself excluded (level > low) or not (level >= low)
    high: float = math.inf  # the largest valid level
    integer: bool = False
    identity: float | None = None  # the level that leaves the image as it is
    identity_short: str = ""  # the panel label at that level
    # The level, relative to the width of the obfuscated (region-scaled) box, at and above which the box is
    # uniform (one flat colour for practical purposes): stronger levels cannot hide more. None = never uniform.
    # See UNIFORM_AT and :func:`uniform`.
    uniform_at: float | None = None
    pixels: bool = False  # the level is in pixels (divided by the box width for ``uniform_at``)
    # The level scales the obfuscated region itself (deface's mask scale): once that region, clipped to the image,
    # is the whole frame, a stronger level renders the same image. See SATURATED_SHARE.
    region_level: bool = False

    def check(self, level) -> float | int:
        """``level`` as a number of this family (int where levels are integers); ValueError if invalid."""
        number = isinstance(level, numbers.Real) and not isinstance(level, bool)
        if number and self.integer and not isinstance(level, numbers.Integral) and float(level).is_integer():
            level = int(level)
        if number:
            value = float(level)
            number = math.isfinite(value) and value <= self.high and (value > self.low if self.low_open
                                                                       else value >= self.low)
        if not number or self.integer and not isinstance(level, numbers.Integral):
            got = f"{float(level)}" if isinstance(level, float) else repr(level)
            raise ValueError(f"{self.noun} must be {self.expected()}, got {got}")
        return int(level) if self.integer else value

    def expected(self) -> str:
        """The valid levels in words: "a finite number >= 0 and <= 128"."""
        bound = f" and <= {self.high:g}" if math.isfinite(self.high) else ""
        kind = "an integer" if self.integer else "a finite number"
        return f"{kind} {'>' if self.low_open else '>='} {self.low:g}{bound}"

    def text(self, level: float, named: bool = False) -> str:
        """A level as text: short for a panel ("σ = 4 px", "sharp (σ = 0)"), or ``named`` for a sentence
        ("σ = 4 px blur", "deface, mask scale 1.3")."""
        value = float(level)
        if not named and self.identity is not None and value == self.identity and self.identity_short:
            return self.identity_short
        cells = str(round(1 / value)) if value > 0 and math.isfinite(1 / value) else "?"
        return (self.phrase if named else self.short).replace("{v}", f"{value:g}").replace("{cells}", cells)


# The uniformity rule: per family, the level relative to the obfuscated box's width (the face box scaled by
# render.regions) at and above which the box is one flat colour for practical purposes, or None.
# - blur, sigma >= 1.0 x box width. Under the crop rule (the box blurred on its own, mirrored border) the box
#   extends to a periodic signal, so the slowest spatial component across a box of width W has period 2W,
#   frequency f = 1 / (2W). A Gaussian's frequency response is exp(-2 pi^2 sigma^2 f^2); at sigma = W that is
#   exp(-pi^2 / 2) ~ 0.0072: under 1% of that component survives across the box. Down the box (height H, about
#   1.2 W for faces) it is exp(-pi^2 W^2 / (2 H^2)) ~ 0.03. Measured on a 94 x 115 crop at sigma = 94
#   (tests/test_families.py): random noise keeps 3 of 255 grey levels (max - min per channel, 1.2%), a
#   left-to-right ramp 2 (0.8%), a top-to-bottom ramp (the worst case: the slowest component down the box) 8 (3.1%).
# - pixelate, block >= 1.5 x box width: the grid starts at the box corner, so a block >= the box's width and
#   height is a single cell; 1.5 covers boxes up to 1.5:1 tall (face boxes are about 1.2:1).
# - face_pixelate, level >= 1.0: one cell across, and round(h / w) = 1 row for boxes under 1.5:1.
# - face_gaussian, level >= 7.0: the kernel is k = level x box width and OpenCV's sigma is
#   0.3 ((k - 1) / 2 - 1) + 0.8, which reaches the box width at level ~6.7 (the blur rule above).
# - blackbox: always uniform. deface: never (its box filter of half the region keeps coarse structure; its
#   level is a mask scale, i.e. a region, not a strength): it saturates instead (SATURATED_SHARE below).
UNIFORM_AT: dict[str, float | None] = {
    "blur": 1.0, "pixelate": 1.5, "blackbox": 0.0, "deface": None, "face_gaussian": 7.0, "face_pixelate": 1.0,
}

# The saturation rule, for a family whose level is a region (``Family.region_level``: deface): a level saturates a
# dataset when at least this share of its obfuscated images is redacted over the whole frame (the region clipped to
# the image). Stronger levels then change at most 1% of the images, so at most 1% of the pairs: under the AUC
# interval's half-width (about 0.03 at 1,000 pairs), so no stronger level can bring a threshold. On LFW (250 px
# frames, ~94 px boxes) deface at mask scale 3.0 fills every frame at regions 1.0 and 1.3, 2.0 only 84% at 1.0.
# The share depends on the dataset's frames and faces: flup.evaluation.face_size.saturated_levels measures it.
SATURATED_SHARE = 0.99

FAMILIES: dict[str, Family] = {f.kind: f for f in (
    Family("blur", "Gaussian blur", "Gaussian blur", "σ (px)", "Gaussian σ in pixels",
           "σ = {v} px", "σ = {v} px blur", "blur sigma", 0.0, False, MAX_SIGMA,
           identity=0.0, identity_short="sharp (σ = 0)", uniform_at=UNIFORM_AT["blur"], pixels=True),
    Family("pixelate", "pixelation", "pixelation", "block (px)", "block side in pixels",
           "block {v} px", "{v} px pixelation", "pixelate block size", 1, False, MAX_BLOCK, integer=True,
           identity=1.0, identity_short="sharp (block 1)", uniform_at=UNIFORM_AT["pixelate"], pixels=True),
    Family("blackbox", "black box", "black box", "", "none (one level)",
           "black box", "black box", "blackbox level", 0.0, False, uniform_at=UNIFORM_AT["blackbox"]),
    Family("deface", "deface (box blur over an enlarged ellipse)", "deface (ellipse box blur)", "mask scale",
           "deface's --mask-scale", "mask scale {v}", "deface, mask scale {v}", "deface mask scale level",
           0.5, True, 10.0, uniform_at=UNIFORM_AT["deface"], region_level=True),
    Family("face_gaussian", "face-sized Gaussian blur", "face-sized Gaussian", "kernel / face size",
           "kernel size / face size", "kernel {v} × face", "face-sized Gaussian, kernel {v} × face",
           "face_gaussian level", 0.0, True, 10.0, uniform_at=UNIFORM_AT["face_gaussian"]),
    Family("face_pixelate", "face-relative pixelation", "face-relative pixelation", "cell / face width",
           "cell side / face width", "{cells} cells across",
           "face-relative pixelation, {cells} cells across ({v} × face width)", "face_pixelate level",
           0.0, True, 1.0, uniform_at=UNIFORM_AT["face_pixelate"]),
)}
ORDER: tuple[str, ...] = tuple(FAMILIES)


def is_identity(kind: str, level: float) -> bool:
    """Whether ``level`` leaves the image as it is (blur σ = 0, pixelation block 1)."""
    return FAMILIES[kind].identity is not None and float(level) == FAMILIES[kind].identity


def box_level(kind: str, level: float, face_width: float | None = None, region: float = 1.0) -> float | None:
    """``level`` relative to the width of the obfuscated box (``face_width`` x ``region``), the unit of
    :attr:`Family.uniform_at`: a pixel level (blur σ, pixelate block) / (``face_width`` x ``region``); any
    other level as it is (face_* levels already are relative to the scaled box; blackbox and deface have no
    such unit, and their rule does not depend on it). None for a pixel level without ``face_width``, or a kind
    not registered."""
    if kind not in FAMILIES:
        return None
    if FAMILIES[kind].pixels:
        return float(level) / (float(face_width) * float(region)) if face_width else None
    return float(level)


def uniform(kind: str, level: float, face_width: float | None = None, region: float = 1.0) -> bool:
    """Whether ``kind`` at ``level`` leaves the obfuscated box uniform (see ``UNIFORM_AT``).

    ``level`` is the family's own level (blur σ in px, pixelate block in px, face_* fractions of the box);
    pixel levels need the face box width ``face_width`` (px, the detected box at region 1.0) and the ``region``
    factor: blur is uniform when σ >= 1.0 x ``face_width`` x ``region``. False where that cannot be decided
    (a pixel level without ``face_width``, an unregistered kind) or the family never becomes uniform (deface).
    """
    at = FAMILIES[kind].uniform_at if kind in FAMILIES else None
    value = box_level(kind, level, face_width, region)
    return at is not None and value is not None and value >= at


def check_kind(kind: str) -> Family:
    """The registered family of ``kind``; ValueError naming the known kinds otherwise."""
    if not isinstance(kind, str) or kind not in FAMILIES:
        raise ValueError(f"unknown obfuscation {kind!r}; expected one of {', '.join(ORDER)}")
    return FAMILIES[kind]


def check_level(kind: str, level) -> float | int:
    """``level`` validated for ``kind`` (see :meth:`Family.check`)."""
    return check_kind(kind).check(level)


def family(kind: str) -> Family:
    """The family of ``kind``; for a kind not registered, one that names it plainly ("mosaic 4")."""
    if kind in FAMILIES:
        return FAMILIES[kind]
    return Family(kind, kind, kind, "level", "level", f"{kind} {{v}}", f"{kind} at level {{v}}", f"{kind} level",
                  -math.inf, False)


def level_text(kind: str, level: float, named: bool = False) -> str:
    """A level as text, short ("σ = 4 px") or ``named`` ("σ = 4 px blur"); see :meth:`Family.text`."""
    return family(kind).text(level, named)


def ordered(kinds: Iterable[str]) -> list[str]:
    """The distinct ``kinds`` in registry order, unregistered ones after them, alphabetically."""
    present = list(dict.fromkeys(kinds))
    return [k for k in ORDER if k in present] + sorted(k for k in present if k not in FAMILIES)
