"""The attackers' training faces: training identities only, obfuscated as the renders are, aligned by oracle box.

Each sample is one training image drawn at an obfuscation level sampled from the attacker's range (or,
with probability ``sharp_fraction``, left sharp). Both the sharp and the obfuscated crop are aligned with
the landmarks found on the *sharp* image (the oracle-box alignment), so a sample is cheap and depends only
on ``(seed, epoch, index)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from flup.evaluate import recognition
from flup.faces.detection import BOX_COLUMNS, LANDMARK_COLUMNS
from flup.obfuscate import obfuscation


@dataclass(frozen=True)
class LevelSampler:
    """Obfuscation ``kind`` at a level drawn uniformly from ``[low, high]`` (integers for pixelate)."""

    kind: str
    low: float
    high: float
    sharp_fraction: float = 0.0

    def __post_init__(self):
        if self.kind not in ("blur", "pixelate"):
            raise ValueError(f"attacker obfuscation is {self.kind!r}; expected blur or pixelate")
        if not 0 <= self.low <= self.high:
            raise ValueError(f"attacker level range [{self.low}, {self.high}] must satisfy 0 <= low <= high")
        if not 0 <= self.sharp_fraction <= 1:
            raise ValueError(f"sharp_fraction is {self.sharp_fraction}; expected a number in [0, 1]")

    def draw(self, rng: np.random.Generator) -> float:
        """A level; 0 (blur) or 1 (pixelate) means the sample stays sharp."""
        if rng.random() < self.sharp_fraction:
            return 0.0 if self.kind == "blur" else 1.0
        if self.kind == "pixelate":
            return float(rng.integers(int(self.low), int(self.high) + 1))
        return float(rng.uniform(self.low, self.high))


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


def aligned_pair(image: np.ndarray, row, kind: str, level: float, region: float,
                 blur_border: str = "crop") -> tuple[np.ndarray, np.ndarray]:
    """(sharp crop, obfuscated crop), both 112x112, aligned with the sharp image's landmarks."""
    points = landmarks(row)
    sharp = recognition.align(image, points)
    if (kind == "blur" and level == 0) or (kind == "pixelate" and level == 1):
        return sharp, sharp.copy()
    obfuscated = obfuscation.apply(image, box(row), kind, level, region, blur_border)
    return sharp, recognition.align(obfuscated, points)


class AttackFaces:
    """Seeded obfuscated training samples of ``frame``: ``sample(index, epoch)`` -> (sharp, obfuscated, level)."""

    def __init__(self, frame: pd.DataFrame, sampler: LevelSampler, seed: int, region: float = 1.0,
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

    def sample(self, index: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
        rng = np.random.default_rng([self.seed, epoch, index])
        level = self.sampler.draw(rng)
        sharp, obfuscated = aligned_pair(self.image(index), self.frame.iloc[index], self.sampler.kind, level,
                                         self.region, self.blur_border)
        return sharp, obfuscated, level


@dataclass(frozen=True)
class ValidationSet:
    """Fixed pairs of held-out training identities: sharp crop vs obfuscated crop (another image or the same)."""

    sharp: list[np.ndarray]
    obfuscated: list[np.ndarray]
    labels: np.ndarray
    same_image: np.ndarray  # True where both crops come from one image (the cosine-to-own-sharp check)


def validation_set(frame: pd.DataFrame, sampler: LevelSampler, n_pairs: int, seed: int,
                   region: float = 1.0, blur_border: str = "crop") -> ValidationSet:
    """``n_pairs`` same + different identity pairs, plus ``n_pairs`` same-image pairs, each obfuscated side
    drawn once at a level of the sampler's range (never sharp), so every evaluation sees identical pixels."""
    from flup.models.embedding import validation_pairs

    pairs = validation_pairs(frame, n_pairs, seed)
    rng = np.random.default_rng([seed, 1])
    own = rng.choice(len(frame), size=min(n_pairs, len(frame)), replace=False)
    sharp_rows = [*pairs["sharp_row"], *own]
    obf_rows = [*pairs["blurred_row"], *own]
    obfuscated_only = LevelSampler(sampler.kind, sampler.low, sampler.high, 0.0)
    sharp, obfuscated = [], []
    for s, o in zip(sharp_rows, obf_rows, strict=True):
        sharp.append(recognition.align(cv2.imread(frame["path"].iloc[s]), landmarks(frame.iloc[s])))
        level = obfuscated_only.draw(rng)
        obfuscated.append(aligned_pair(cv2.imread(frame["path"].iloc[o]), frame.iloc[o], sampler.kind, level,
                                       region, blur_border)[1])
    labels = np.concatenate([pairs["label"].to_numpy(), np.ones(len(own), dtype=int)])
    same_image = np.concatenate([np.zeros(len(pairs), dtype=bool), np.ones(len(own), dtype=bool)])
    return ValidationSet(sharp, obfuscated, labels, same_image)


def validation_scores(val: ValidationSet, sharp: np.ndarray, obfuscated: np.ndarray) -> dict:
    """Validation AUC (identity pairs) and mean cosine of an obfuscated crop with its own sharp crop."""
    from flup.evaluate.metrics import roc_auc

    cos = np.einsum("ij,ij->i", sharp, obfuscated)
    return {"val_auc": roc_auc(cos[~val.same_image], val.labels[~val.same_image]),
            "val_cos_same_image": float(cos[val.same_image].mean())}
