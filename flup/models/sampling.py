"""Training samples: obfuscation policies, quadruplets of images and test-time preprocessing.

A :class:`Policy` says how an image is cropped and, on the blurred side, blurred:

- ``crop``: ``full`` (whole image), ``tight`` (the face box only) or ``random`` (the box grown
  on every side by ``k / crop_steps`` of its smallest distance to the image border, ``k`` uniform
  in ``1..crop_steps``; at test time ``k = crop_steps``, the full margin).
- ``blur``: ``whole_image`` or ``face_box`` (blur inside the box only), sigma ~ U[sigma_min, sigma_max].

Blur comes before the crop, so a blurred face box sees real context at its edges. Sharp images
are cropped the same way but never blurred. The study's four variants are :data:`VARIANTS`;
a new variant is just another params dict. At test time the obfuscated image is already rendered,
so :func:`prepare` only crops (deterministically), resizes and normalises.

Images are HxWx3 uint8 BGR arrays as cv2 reads them; model inputs are RGB CHW float tensors,
ImageNet-normalised, resized to a square ``input_size`` (aspect ratio not kept). Training items
carry uint8 RGB CHW pixels; the training loop normalises them on the device.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from flup.config.params import ParamError
from flup.obfuscation.methods import Box, IntBox, blur_whole_image, crop_box, gaussian_blur, scale_box

if TYPE_CHECKING:
    import pandas as pd

CROPS = ("full", "random", "tight")
BLURS = ("whole_image", "face_box")
POSITIVES = ("other_photo", "same_photo")
# The seed study's variants. "random_crop" blurs only the face box (so BlurNet still sees blurred
# faces, as at test time); "random_crop_blur" blurs the whole image, environment included.
VARIANTS: dict[str, dict] = {
    "random_blur": {"crop": "full", "blur": "whole_image"},
    "random_crop": {"crop": "random", "blur": "face_box"},
    "random_crop_blur": {"crop": "random", "blur": "whole_image"},
    "tight_crop_blur": {"crop": "tight", "blur": "face_box"},
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GREY_WEIGHTS = np.array((0.2989, 0.587, 0.114), np.float32)  # RGB -> luma, as torchvision's rgb_to_grayscale
FLIP_P = 0.5
ROTATION_DEG = 10.0
JITTER = 0.1  # brightness, contrast and saturation factors ~ U[1 - JITTER, 1 + JITTER]
BOX_COLUMNS = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class Policy:
    crop: str
    blur: str
    sigma_min: float = 5.0
    sigma_max: float = 20.0
    crop_steps: int = 10
    approximate_blur: bool = False  # blur at reduced resolution for large sigma (fast; training only)

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ParamError(f"policy crop is {self.crop!r}; expected one of {', '.join(CROPS)}")
        if self.blur not in BLURS:
            raise ParamError(f"policy blur is {self.blur!r}; expected one of {', '.join(BLURS)}")
        if not 0 <= self.sigma_min <= self.sigma_max or not math.isfinite(self.sigma_max):
            raise ParamError(
                f"policy needs 0 <= sigma_min <= sigma_max, got {self.sigma_min}, {self.sigma_max}"
            )
        if not isinstance(self.crop_steps, int) or self.crop_steps < 1:
            raise ParamError(f"policy crop_steps must be an integer >= 1, got {self.crop_steps!r}")
        if not isinstance(self.approximate_blur, bool):
            raise ParamError(f"policy approximate_blur must be true or false, got {self.approximate_blur!r}")

    @classmethod
    def from_params(cls, params: Mapping) -> Policy:
        """Build from ``{crop, blur, sigma_min?, sigma_max?, crop_steps?}``; unknown keys are errors."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParamError(
                f"unknown policy parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        missing = sorted({"crop", "blur"} - set(params))
        if missing:
            raise ParamError(f"policy is missing {', '.join(missing)}")
        return cls(**params)


def crop_region(
    box: Box, shape: tuple[int, ...], policy: Policy, rng: np.random.Generator | None = None
) -> IntBox:
    """The integer region the policy keeps; ``rng=None`` is test time (full margin for random crops)."""
    h, w = int(shape[0]), int(shape[1])
    if policy.crop == "full":
        return 0, 0, w, h
    if policy.crop == "tight":
        return scale_box(box, 1.0, shape)
    k = policy.crop_steps if rng is None else int(rng.integers(1, policy.crop_steps + 1))
    x1, y1, x2, y2 = (float(v) for v in box)
    margin = k / policy.crop_steps * max(0.0, min(x1, y1, w - x2, h - y2))
    return scale_box((x1 - margin, y1 - margin, x2 + margin, y2 + margin), 1.0, shape)


def draw_slot(
    box: Box, shape: tuple[int, ...], policy: Policy, rng: np.random.Generator, blurred: bool
) -> tuple[float | None, IntBox]:
    """The random part of :func:`apply_policy`: the blur sigma (None if sharp), then the crop region."""
    sigma = float(rng.uniform(policy.sigma_min, policy.sigma_max)) if blurred else None
    return sigma, crop_region(box, shape, policy, rng)


def blur_by_policy(image: np.ndarray, box: Box, policy: Policy, sigma: float) -> np.ndarray:
    if policy.blur == "whole_image":
        return blur_whole_image(image, sigma, approximate=policy.approximate_blur)
    return gaussian_blur(image, box, sigma, approximate=policy.approximate_blur)


def apply_policy(
    image: np.ndarray, box: Box, policy: Policy, rng: np.random.Generator, blurred: bool
) -> np.ndarray:
    """Blur (if ``blurred``, at a random sigma) then crop a training image."""
    sigma, region = draw_slot(box, image.shape, policy, rng, blurred)
    if sigma is not None:
        image = blur_by_policy(image, box, policy, sigma)
    return crop_box(image, region)


@dataclass(frozen=True)
class Augment:
    """One image's training augmentation: flip, then rotation by ``angle`` degrees, then colour jitter."""

    flip: bool
    angle: float
    brightness: float
    contrast: float
    saturation: float


def draw_augment(rng: np.random.Generator) -> Augment:
    flip = bool(rng.random() < FLIP_P)
    angle = float(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    brightness, contrast, saturation = rng.uniform(1 - JITTER, 1 + JITTER, size=3).tolist()
    return Augment(flip, angle, brightness, contrast, saturation)


def augment_matrix(augment: Augment, input_size: int) -> np.ndarray:
    """The 2x3 forward (source -> output pixel) affine map of the flip and rotation, as cv2 takes it."""
    centre = ((input_size - 1) / 2.0, (input_size - 1) / 2.0)
    # Positive angles turn the image counter-clockwise, as torchvision's rotate does.
    matrix = cv2.getRotationMatrix2D(centre, augment.angle, 1.0)
    if augment.flip:  # flip first, then rotate: x -> (size - 1) - x before the rotation
        matrix = matrix @ np.array([[-1.0, 0.0, input_size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return matrix


def to_pixels(
    image: np.ndarray, input_size: int, rng: np.random.Generator | None = None, augment: Augment | None = None
) -> torch.Tensor:
    """BGR uint8 crop -> RGB CHW uint8 tensor of ``input_size``; random flip/rotation/jitter if ``rng``
    (drawn by :func:`draw_augment`) or the given ``augment``.

    The augmentation is torchvision's (flip, rotation about the centre with black corners,
    brightness, contrast, saturation on uint8 pixels), written as one cv2 warp and float32
    arithmetic on the small resized image, a fraction of the cost of torchvision's tensor ops.
    Training batches stay uint8 until :func:`normalise` runs on the device: a quarter of the
    bytes to pass from loader workers and to copy to the GPU.
    """
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if h > input_size or w > input_size else cv2.INTER_LINEAR
    image = cv2.resize(image, (input_size, input_size), interpolation=interpolation)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if augment is None and rng is not None:
        augment = draw_augment(rng)
    if augment is not None:
        matrix = augment_matrix(augment, input_size)
        rgb = cv2.warpAffine(rgb, matrix, (input_size, input_size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        pixels = np.clip(rgb.astype(np.float32) * augment.brightness, 0.0, 255.0)
        grey = pixels @ GREY_WEIGHTS
        pixels = np.clip(augment.contrast * pixels + (1.0 - augment.contrast) * float(grey.mean()), 0.0, 255.0)
        grey = pixels @ GREY_WEIGHTS
        pixels = np.clip(augment.saturation * pixels + (1.0 - augment.saturation) * grey[..., None], 0.0, 255.0)
        rgb = np.rint(pixels).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (..., 3, H, W) -> ImageNet-normalised float32, on whatever device ``pixels`` is."""
    if pixels.dtype != torch.uint8:
        raise TypeError(f"normalise expects uint8 pixels, got {pixels.dtype}")
    mean = torch.tensor(IMAGENET_MEAN, device=pixels.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=pixels.device).view(3, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


def to_input(image: np.ndarray, input_size: int, rng: np.random.Generator | None = None) -> torch.Tensor:
    """BGR uint8 crop -> normalised RGB CHW float tensor (:func:`to_pixels` then :func:`normalise`)."""
    return normalise(to_pixels(image, input_size, rng))


def crop_pixels(image: np.ndarray, box: Box, policy: Policy, input_size: int) -> torch.Tensor:
    """Test time: a (possibly already obfuscated) BGR image cropped by the policy, no randomness, as the model's
    uint8 RGB input pixels (:func:`to_pixels`; :func:`normalise` makes them the input)."""
    return to_pixels(crop_box(image, crop_region(box, image.shape, policy)), input_size)


def prepare(image: np.ndarray, box: Box, policy: Policy, input_size: int) -> torch.Tensor:
    """Test time: :func:`crop_pixels` normalised, the model's input."""
    return normalise(crop_pixels(image, box, policy, input_size))


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    return image


def _rng(seed: int, stream: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, epoch, index)))


SLOTS = ("sharp_a", "blurred_pos_p", "blurred_b", "sharp_pos_q")  # a quadruplet's images; the middle two blurred


@dataclass(frozen=True)
class Slot:
    """One image of a quadruplet: its row, blur sigma (None = sharp), crop region and augmentation."""

    row: int
    sigma: float | None
    region: IntBox
    augment: Augment


@dataclass(frozen=True)
class Plan:
    p: int
    q: int
    slots: tuple[Slot, Slot, Slot, Slot]


class QuadrupletDataset(Dataset):
    """Quadruplets (sharp A, blurred positive of A, blurred B, sharp positive of B) of persons P != Q.

    ``frame`` has columns ``path`` (absolute), ``identity``, ``x1, y1, x2, y2`` (face box). Item ``i``
    takes P = identity ``i mod n``; everything else is drawn from an rng seeded by (seed, epoch, i).
    Index with ``i`` (uses :meth:`set_epoch`'s epoch) or ``(epoch, i)`` (what :class:`EpochSampler`
    yields, so DataLoader workers need no epoch updates).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        policy: Policy,
        input_size: int,
        seed: int = 0,
        positive: str = "other_photo",
        samples_per_epoch: int | None = None,
    ) -> None:
        if positive not in POSITIVES:
            raise ParamError(f"positive is {positive!r}; expected one of {', '.join(POSITIVES)}")
        missing = [c for c in ("path", "identity", *BOX_COLUMNS) if c not in frame.columns]
        if missing:
            raise ValueError(f"training frame lacks column(s) {', '.join(missing)}")
        self.policy = policy
        self.input_size = int(input_size)
        self.seed = int(seed)
        self.positive = positive
        self.epoch = 0
        min_photos = 1 if positive == "same_photo" else 2
        frame = frame.sort_values(["identity", "path"], kind="stable").reset_index(drop=True)
        self.paths: list[str] = frame["path"].astype(str).tolist()
        self.boxes = frame[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
        groups = frame.groupby("identity", sort=True).indices
        self.identities = [name for name, rows in groups.items() if len(rows) >= min_photos]
        self.photos = [list(map(int, groups[name])) for name in self.identities]
        if len(self.identities) < 2:
            raise ValueError(
                f"need at least 2 identities with >= {min_photos} image(s), found {len(self.identities)}"
            )
        self.length = int(samples_per_epoch or sum(map(len, self.photos)))

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _pair(self, person: int, rng: np.random.Generator) -> tuple[int, int]:
        photos = self.photos[person]
        if self.positive == "same_photo":
            row = photos[int(rng.integers(len(photos)))]
            return row, row
        first, second = rng.choice(len(photos), size=2, replace=False).tolist()
        return photos[first], photos[second]

    def choose(self, epoch: int, index: int) -> tuple[int, int, np.random.Generator]:
        """Persons (P, Q) for an item, and the rng positioned to draw the rest."""
        rng = _rng(self.seed, 0, epoch, index)
        n = len(self.identities)
        p = index % n
        q = int(rng.integers(n - 1))
        return p, q + (q >= p), rng

    def plan(self, epoch: int, index: int, shape_of: Callable[[int], tuple[int, ...]]) -> Plan:
        """Every random choice of item ``(epoch, index)``: persons, rows, and per image the blur sigma,
        the crop region and the augmentation. ``shape_of(row)`` gives an image's (h, w, ...) shape.

        Both feeds render from this plan: the per-sample CPU feed (:meth:`__getitem__`) and the batched
        device feed (:mod:`flup.models.device_feed`), so they draw the same things for the same key.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        p, q, rng = self.choose(epoch, index)
        a, pos_p = self._pair(p, rng)
        b, pos_q = self._pair(q, rng)
        slots = []
        for row, blurred in ((a, False), (pos_p, True), (b, True), (pos_q, False)):
            sigma, region = draw_slot(self.boxes[row], shape_of(row), self.policy, rng, blurred)
            slots.append(Slot(row, sigma, region, draw_augment(rng)))
        return Plan(p, q, tuple(slots))

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        images: dict[int, np.ndarray] = {}

        def shape_of(row: int) -> tuple[int, ...]:
            if row not in images:
                images[row] = read_image(self.paths[row])
            return images[row].shape

        plan = self.plan(epoch, index, shape_of)
        item: dict = {"identity_p": self.identities[plan.p], "identity_q": self.identities[plan.q]}
        for name, slot in zip(SLOTS, plan.slots, strict=True):
            image = images[slot.row]
            if slot.sigma is not None:
                image = blur_by_policy(image, self.boxes[slot.row], self.policy, slot.sigma)
            item[name] = to_pixels(crop_box(image, slot.region), self.input_size, augment=slot.augment)
            item["path_" + name.split("_", 1)[1]] = self.paths[slot.row]
        return item


# The name the study's notes use for the same thing.
QuadrupletSampler = QuadrupletDataset


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` in an order shuffled by (seed, epoch); call :meth:`set_epoch`."""

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True) -> None:
        self.length = int(length)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.arange(self.length)
        if self.shuffle:
            order = _rng(self.seed, 1, self.epoch, 0).permutation(self.length)
        return iter([(self.epoch, int(i)) for i in order])
