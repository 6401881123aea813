"""The attackers' training faces: training identities only, obfuscated as the renders are, aligned by oracle box.

Each sample is one training image obfuscated at a (family, level) drawn from the attacker's range: one
family's level range, or a mixture's families (the family drawn uniformly, then its level); with probability
``sharp_fraction`` it is left sharp. Both the sharp and the obfuscated crop are aligned with
the landmarks found on the *sharp* image (the oracle-box alignment), so a sample is cheap and depends only
on ``(seed, epoch, index)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd

from flup.faces.detection import BOX_COLUMNS, LANDMARK_COLUMNS
from flup.obfuscation import families, methods
from flup.training.holdout import validation_pairs
from flup.verify import recognition
from flup.verify.metrics import roc_auc

SHARP = "sharp"  # the kind of a draw left sharp (``sharp_fraction``); its level is 0


class Draw(NamedTuple):
    """One training sample's obfuscation: a family of flup.obfuscation.families (or ``SHARP``) and its level."""

    kind: str
    level: float


def _check_range(kind: str, low: float, high: float) -> None:
    families.check_level(kind, low)
    families.check_level(kind, high)
    if not low <= high:
        raise ValueError(f"attacker {kind} level range [{low}, {high}] must satisfy low <= high")


def _check_share(sharp_fraction: float) -> None:
    if not 0 <= sharp_fraction <= 1:
        raise ValueError(f"sharp_fraction is {sharp_fraction}; expected a number in [0, 1]")


def _level(kind: str, low: float, high: float, rng: np.random.Generator) -> float:
    """A level of ``kind`` drawn uniformly in [low, high]: an integer for an integer family (pixelate)."""
    if families.FAMILIES[kind].integer:
        return float(rng.integers(int(low), int(high) + 1))
    return float(rng.uniform(low, high))


@dataclass(frozen=True)
class LevelSampler:
    """Obfuscation ``kind`` (any family of flup.obfuscation.families) at a level drawn uniformly from
    ``[low, high]`` (integers for an integer family: pixelate); with probability ``sharp_fraction`` the sample
    stays sharp."""

    kind: str
    low: float
    high: float
    sharp_fraction: float = 0.0

    def __post_init__(self):
        _check_range(self.kind, self.low, self.high)
        _check_share(self.sharp_fraction)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        return {self.kind: (self.low, self.high)}

    @property
    def trained_on(self) -> str:
        return self.kind

    def obfuscated_only(self) -> LevelSampler:
        """The same draws, never sharp (the validation set's)."""
        return replace(self, sharp_fraction=0.0)

    def draw(self, rng: np.random.Generator) -> Draw:
        """(kind, level), or (``SHARP``, 0) for a sample left sharp; one uniform draw decides that, always taken
        first (so a blur sampler's levels are those it drew before kinds were recorded)."""
        if rng.random() < self.sharp_fraction:
            return Draw(SHARP, 0.0)
        return Draw(self.kind, _level(self.kind, self.low, self.high, rng))


@dataclass(frozen=True)
class MixtureSampler:
    """A mixture of families: each sample draws its family uniformly among ``ranges`` (kind -> (low, high)),
    then its level as :class:`LevelSampler` does; with probability ``sharp_fraction`` it stays sharp. Same
    interface as :class:`LevelSampler`."""

    ranges: dict[str, tuple[float, float]]
    sharp_fraction: float = 0.0

    def __post_init__(self):
        if len(self.ranges) < 2:
            raise ValueError(f"a mixture needs two families or more, got {list(self.ranges)}")
        for kind, (low, high) in self.ranges.items():
            _check_range(kind, low, high)
        _check_share(self.sharp_fraction)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.ranges)

    @property
    def trained_on(self) -> str:
        return "mixture"

    def obfuscated_only(self) -> MixtureSampler:
        return replace(self, sharp_fraction=0.0)

    def draw(self, rng: np.random.Generator) -> Draw:
        if rng.random() < self.sharp_fraction:
            return Draw(SHARP, 0.0)
        kinds = self.kinds
        kind = kinds[int(rng.integers(len(kinds)))]
        low, high = self.ranges[kind]
        return Draw(kind, _level(kind, low, high, rng))


Sampler = LevelSampler | MixtureSampler


def sampler_for(ranges: dict[str, tuple[float, float]], sharp_fraction: float = 0.0) -> Sampler:
    """The sampler of an attacker trained on ``ranges`` (kind -> (low, high)): one family, or a mixture."""
    if len(ranges) == 1:
        ((kind, (low, high)),) = ranges.items()
        return LevelSampler(kind, float(low), float(high), sharp_fraction)
    return MixtureSampler({kind: (float(low), float(high)) for kind, (low, high) in ranges.items()}, sharp_fraction)


def training_faces(train: pd.DataFrame, faces: pd.DataFrame, images: Path) -> pd.DataFrame:
    """The protocol's training images (identity, image) that have a detected face, with box, landmarks, path."""
    usable = faces[faces["status"] == "ok"][["image", *BOX_COLUMNS, *LANDMARK_COLUMNS]]
    frame = train[["identity", "image"]].merge(usable, on="image", how="inner")
    frame["path"] = [str(images / image) for image in frame["image"]]
    return frame.sort_values("image", kind="stable").reset_index(drop=True)


def pair_identities(pairs: pd.DataFrame) -> set[str]:
    return set(pairs["identity_a"]) | set(pairs["identity_b"])


def check_disjoint(train_identities, pairs: pd.DataFrame, where: str) -> None:
    """Raise if any training identity appears in the test pairs (``where`` names the pairs file)."""
    shared = sorted(set(train_identities) & pair_identities(pairs))
    if shared:
        raise ValueError(f"{where}: {len(shared)} test identities are in the attacker's training data "
                         f"(e.g. {', '.join(shared[:3])}); attackers must train on training identities only")


def landmarks(row) -> np.ndarray:
    return np.array([row[c] for c in LANDMARK_COLUMNS], dtype=np.float32).reshape(5, 2)


def box(row) -> np.ndarray:
    return np.array([row[c] for c in BOX_COLUMNS], dtype=np.float64)


def obfuscate(image: np.ndarray, row, kind: str, level: float, region: float,
              blur_border: str = "crop") -> np.ndarray | None:
    """The whole image obfuscated by ``kind`` at ``level`` inside the row's face box (scaled by ``region``), as the
    render stage does; None where it stays sharp (kind ``SHARP``, or an identity level: blur 0, pixelation 1)."""
    if kind == SHARP or families.is_identity(kind, level):
        return None
    return methods.apply(image, box(row), kind, level, region, blur_border)


def aligned_pair(image: np.ndarray, row, kind: str, level: float, region: float,
                 blur_border: str = "crop") -> tuple[np.ndarray, np.ndarray]:
    """(sharp crop, obfuscated crop), both 112x112, aligned with the sharp image's landmarks."""
    points = landmarks(row)
    sharp = recognition.align(image, points)
    obfuscated = obfuscate(image, row, kind, level, region, blur_border)
    if obfuscated is None:
        return sharp, sharp.copy()
    return sharp, recognition.align(obfuscated, points)


class AttackFaces:
    """Seeded obfuscated training samples of ``frame``: ``sample(index, epoch)`` -> (sharp, obfuscated, draw),
    ``draw`` the sample's (kind, level)."""

    def __init__(self, frame: pd.DataFrame, sampler: Sampler, seed: int, region: float = 1.0,
                 blur_border: str = "crop"):
        self.frame = frame.reset_index(drop=True)
        self.sampler = sampler
        self.seed = int(seed)
        self.region = float(region)
        self.blur_border = blur_border

    @property
    def identities(self) -> set[str]:
        return set(self.frame["identity"])

    def __len__(self) -> int:
        return len(self.frame)

    def image(self, index: int) -> np.ndarray:
        pixels = cv2.imread(self.frame["path"].iloc[index], cv2.IMREAD_COLOR)
        if pixels is None:
            raise FileNotFoundError(f"{self.frame['path'].iloc[index]}: cannot read the training image")
        return pixels

    def sharp(self, index: int) -> np.ndarray:
        return recognition.align(self.image(index), landmarks(self.frame.iloc[index]))

    def sample(self, index: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray, Draw]:
        rng = np.random.default_rng([self.seed, epoch, index])
        draw = self.sampler.draw(rng)
        sharp, obfuscated = aligned_pair(self.image(index), self.frame.iloc[index], draw.kind, draw.level,
                                         self.region, self.blur_border)
        return sharp, obfuscated, draw


@dataclass(frozen=True)
class ValidationSet:
    """Fixed pairs of held-out training identities: sharp crop vs obfuscated crop (another image or the same)."""

    sharp: list[np.ndarray]
    obfuscated: list[np.ndarray]
    labels: np.ndarray
    same_image: np.ndarray  # True where both crops come from one image (the cosine-to-own-sharp check)


def validation_set(frame: pd.DataFrame, sampler: Sampler, n_pairs: int, seed: int,
                   region: float = 1.0, blur_border: str = "crop") -> ValidationSet:
    """``n_pairs`` same + different identity pairs, plus ``n_pairs`` same-image pairs, each obfuscated side
    drawn once at a (kind, level) of the sampler's ranges (never sharp), so every evaluation sees identical pixels."""
    pairs = validation_pairs(frame, n_pairs, seed)
    rng = np.random.default_rng([seed, 1])
    own = rng.choice(len(frame), size=min(n_pairs, len(frame)), replace=False)
    sharp_rows = [*pairs["sharp_row"], *own]
    obf_rows = [*pairs["blurred_row"], *own]
    obfuscated_only = sampler.obfuscated_only()
    sharp, obfuscated = [], []
    for s, o in zip(sharp_rows, obf_rows, strict=True):
        sharp.append(recognition.align(cv2.imread(frame["path"].iloc[s]), landmarks(frame.iloc[s])))
        kind, level = obfuscated_only.draw(rng)
        obfuscated.append(aligned_pair(cv2.imread(frame["path"].iloc[o]), frame.iloc[o], kind, level,
                                       region, blur_border)[1])
    labels = np.concatenate([pairs["label"].to_numpy(), np.ones(len(own), dtype=int)])
    same_image = np.concatenate([np.zeros(len(pairs), dtype=bool), np.ones(len(own), dtype=bool)])
    return ValidationSet(sharp, obfuscated, labels, same_image)


def validation_scores(val: ValidationSet, sharp: np.ndarray, obfuscated: np.ndarray) -> dict:
    """Validation AUC (identity pairs) and mean cosine of an obfuscated crop with its own sharp crop."""
    cos = np.einsum("ij,ij->i", sharp, obfuscated)
    return {"val_auc": roc_auc(cos[~val.same_image], val.labels[~val.same_image]),
            "val_cos_same_image": float(cos[val.same_image].mean())}
