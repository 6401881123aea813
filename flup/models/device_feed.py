"""The batched training feed: images decoded once onto the device, every batch rendered there.

:class:`ImageStore` decodes the training images once into one uint8 RGB tensor ``(N, 3, H, W)`` on
the device (zero-padded to the largest image; LFW's are all 250x250, 1.25 GB for view1's 6,671).
:class:`DeviceFeed` renders a batch of quadruplets from the same per-sample plans as the CPU feed
(:meth:`QuadrupletDataset.plan <flup.models.sampling.QuadrupletDataset.plan>`: same persons,
photos, sigma, crop region, flip, angle and jitter for a given (seed, epoch, index)), with batched
torch ops on whatever device the store is on (the tests run it on CPU tensors):

1. Gaussian blur of the two blurred images, as matrices: with OpenCV's kernel (``ksize =
   round(6 sigma + 1) | 1``) and reflect-101 border, a separable blur of an ``h x w`` image is
   ``G_h X G_w^T``, one batched matmul per axis. This is the *exact* blur (``approximate_blur`` is a
   CPU shortcut and is not used here); ``face_box`` blurs paste only the integer face box back,
   which equals flup's :func:`~flup.obfuscation.methods.gaussian_blur` (its margin covers the kernel).
2. Crop + resize to ``input_size``, again as two per-sample matrices that reproduce ``cv2.resize``
   (``INTER_AREA`` when the crop is larger than the input on either side, else ``INTER_LINEAR``,
   including OpenCV's area-mode weights when one side is enlarged).
3. Flip + rotation as one ``grid_sample`` (bilinear, zero border) through the inverse of the same
   cv2 affine map the CPU feed warps with (:func:`~flup.models.sampling.augment_matrix`).
4. Brightness, contrast, saturation as the CPU feed does them, rounded like its uint8 result.
5. ImageNet normalisation; the output is float (or bf16) NCHW in channels-last memory.

Rounding to whole grey levels after each step mirrors the CPU feed's uint8 intermediates. The
remaining differences are OpenCV's fixed-point arithmetic (tests/test_device_feed.py measures them).
Only the small per-sample plans are drawn on the host (about 0.1 ms a quadruplet); nothing
synchronises with the device, so drawing the next batch overlaps the model's step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from flup.models.sampling import (
    GREY_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SLOTS,
    EpochSampler,
    QuadrupletDataset,
    augment_matrix,
)
from flup.obfuscation.methods import scale_box

# Resize modes of a crop, as cv2.resize picks them.
LINEAR, AREA_EXACT, AREA_GENERIC = 0, 1, 2


def opencv_radius(sigma: np.ndarray) -> np.ndarray:
    """The kernel radius cv2.GaussianBlur uses for uint8 images: ``ksize = round(6 sigma + 1) | 1``."""
    ksize = np.rint(np.asarray(sigma, np.float64) * 6 + 1).astype(np.int64) | 1
    return ksize // 2


def gaussian_matrices(sigma: torch.Tensor, radius: np.ndarray, sizes: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n, n) matrices ``G`` with ``G @ x`` = the 1-D Gaussian blur of each column of ``x``.

    Sample ``b`` blurs its first ``sizes[b]`` entries with a normalised kernel of radius ``radius[b]``
    and reflect-101 borders (OpenCV's default); rows and columns beyond ``sizes[b]`` are zero.
    """
    device = sigma.device
    r_max = int(radius.max()) if len(radius) else 0
    offsets = torch.arange(-r_max, r_max + 1, device=device, dtype=torch.float32)
    r = torch.as_tensor(radius, device=device, dtype=torch.float32)[:, None]
    s = sigma.to(torch.float32)[:, None]
    kernel = torch.exp(-0.5 * (offsets[None] / s) ** 2) * (offsets[None].abs() <= r)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (B, 2 r_max + 1)
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    size = sizes.to(device)[:, None, None]
    out = torch.zeros(len(sigma), n, n, device=device)
    # Output row i takes input j at offset j - i, plus the reflections of offsets beyond either edge.
    for offset, valid in ((j - i, None), (-j - i, j > 0), (2 * (size - 1) - j - i, j < size - 1)):
        offset = offset.expand(len(sigma), n, n)
        inside = offset.abs() <= r_max
        taps = kernel.gather(1, (offset.clamp(-r_max, r_max) + r_max).reshape(len(sigma), -1)).view_as(offset)
        taps = taps * inside
        if valid is not None:
            taps = taps * valid
        out += taps
    keep = (i < size) & (j < size)
    return out * keep


def resize_matrices(start: torch.Tensor, length: torch.Tensor, mode: torch.Tensor, out: int, n: int) -> torch.Tensor:
    """(B, out, n) matrices that crop ``[start, start + length)`` of an axis and resize it to ``out``
    as ``cv2.resize`` does (per sample ``mode``: LINEAR, AREA_EXACT or AREA_GENERIC)."""
    device = start.device
    start = start.to(torch.float64)[:, None, None]
    length = length.to(torch.float64)[:, None, None]
    mode = mode.to(device)[:, None, None]
    d = torch.arange(out, device=device, dtype=torch.float64)[None, :, None]
    local = torch.arange(n, device=device, dtype=torch.float64)[None, None, :] - start
    scale = 1.0 / (out / length)  # as cv2 computes it (1 / inv_scale): floors of d * scale agree
    # Two-tap weights: cv2's bilinear rule, or its area rule where one side is enlarged.
    fx_linear = (d + 0.5) * scale - 0.5
    sx_linear = torch.floor(fx_linear)
    sx_area = torch.floor(d * scale)
    fx_area = (d + 1) - (sx_area + 1) / scale
    fx_area = torch.where(fx_area <= 0, torch.zeros_like(fx_area), fx_area - torch.floor(fx_area))
    generic = mode == AREA_GENERIC
    sx = torch.where(generic, sx_area, sx_linear)
    fx = torch.where(generic, fx_area, fx_linear - sx_linear)
    low = sx < 0
    sx, fx = torch.where(low, torch.zeros_like(sx), sx), torch.where(low, torch.zeros_like(fx), fx)
    high = sx >= length - 1
    sx, fx = torch.where(high, length - 1, sx), torch.where(high, torch.zeros_like(fx), fx)
    two_tap = (1 - fx) * (local == sx) + fx * (local == sx + 1)
    # Exact area: each output cell averages the input cells it overlaps, by overlap length.
    overlap = torch.minimum((d + 1) * scale, local + 1) - torch.maximum(d * scale, local)
    area = overlap.clamp(min=0) / scale
    weights = torch.where(mode == AREA_EXACT, area, two_tap)
    inside = (local >= 0) & (local < length)
    return (weights * inside).to(torch.float32)


def resize_mode(height: np.ndarray, width: np.ndarray, size: int) -> np.ndarray:
    """cv2.resize's choice for a crop of ``height x width`` going to ``size x size`` (see to_pixels)."""
    area = (height > size) | (width > size)
    exact = area & (height >= size) & (width >= size)
    return np.where(exact, AREA_EXACT, np.where(area, AREA_GENERIC, LINEAR))


def _decode(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageStore:
    """Images decoded once into one uint8 RGB tensor ``(N, 3, H, W)`` on ``device``, zero-padded."""

    def __init__(self, paths: Sequence[str], device: torch.device | str = "cpu", workers: int = 8) -> None:
        self.paths = list(paths)
        self.index = {path: i for i, path in enumerate(self.paths)}
        with ThreadPoolExecutor(max(1, workers)) as pool:  # cv2 decodes without the GIL
            images = list(pool.map(_decode, self.paths))
        self.sizes = np.array([image.shape[:2] for image in images], dtype=np.int64).reshape(-1, 2)
        h, w = (int(v) for v in self.sizes.max(axis=0)) if len(images) else (1, 1)
        host = np.zeros((len(images), h, w, 3), np.uint8)
        for k, image in enumerate(images):
            host[k, : image.shape[0], : image.shape[1]] = image
        del images
        self.device = torch.device(device)
        # Copy as NHWC and transpose on the device: the host never holds a second copy.
        self.images = torch.from_numpy(host).to(self.device).permute(0, 3, 1, 2).contiguous()
        self.height, self.width = h, w

    @property
    def nbytes(self) -> int:
        return self.images.numel()

    def shape(self, k: int) -> tuple[int, int, int]:
        return int(self.sizes[k, 0]), int(self.sizes[k, 1]), 3


class DeviceFeed:
    """Batches of a :class:`QuadrupletDataset`, rendered on the store's device from the dataset's plans.

    ``batch(epoch, indices)`` returns ``{slot: (B, 3, S, S) normalised}`` for the four slots of
    :data:`~flup.models.sampling.SLOTS`, in channels-last memory and ``dtype``.
    """

    def __init__(self, dataset: QuadrupletDataset, store: ImageStore | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, workers: int = 8,
                 matmul_dtype: torch.dtype | None = None) -> None:
        self.dataset = dataset
        self.store = store if store is not None else ImageStore(dataset.paths, device, workers)
        missing = [p for p in dataset.paths if p not in self.store.index]
        if missing:
            raise ValueError(f"image store lacks {len(missing)} of the dataset's images, e.g. {missing[0]}")
        self.rows = np.array([self.store.index[p] for p in dataset.paths], dtype=np.int64)
        self.device = self.store.device
        self.dtype = dtype
        # The blur and resize matmuls: float16 on CUDA (tensor cores, float32 accumulation; whole grey levels are
        # exact in it and the weights carry 11 bits, about 0.1 level at most), float32 elsewhere.
        self.matmul_dtype = matmul_dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.size = dataset.input_size
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0
        self.grey = torch.tensor(GREY_WEIGHTS, device=self.device).view(1, 3, 1, 1)
        s = self.size
        ys, xs = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32),
                                indexing="ij")
        self.pixels = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).to(self.device)  # (S, S, 3)

    def plans(self, epoch: int, indices: Sequence[int]) -> list:
        return [self.dataset.plan(epoch, int(i), lambda row: self.store.shape(self.rows[row])) for i in indices]

    def batch(self, epoch: int, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        plans = self.plans(epoch, indices)
        return {name: self.render([plan.slots[k] for plan in plans]) for k, name in enumerate(SLOTS)}

    def batches(self, sampler: EpochSampler, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """The batches of the sampler's current epoch, in the order (and sizes) a DataLoader makes them."""
        keys = list(sampler)
        for start in range(0, len(keys), batch_size):
            chunk = keys[start : start + batch_size]
            yield self.batch(chunk[0][0], [index for _, index in chunk])

    def _upload(self, array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(dtype)
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def render(self, slots: Sequence) -> torch.Tensor:
        """Normalised (B, 3, S, S) inputs of one slot of each plan (see the module's steps)."""
        s = self.size
        rows = np.array([self.rows[slot.row] for slot in slots], dtype=np.int64)
        sizes = self.store.sizes[rows]
        x = self.store.images[self._upload(rows, torch.int64)].float()
        if slots[0].sigma is not None:
            x = self._blur(x, slots, rows, sizes)
        regions = np.array([slot.region for slot in slots], dtype=np.int64)  # x1, y1, x2, y2
        width, height = regions[:, 2] - regions[:, 0], regions[:, 3] - regions[:, 1]
        mode = self._upload(resize_mode(height, width, s), torch.int64)
        rows_matrix = resize_matrices(self._upload(regions[:, 1], torch.int64), self._upload(height, torch.int64),
                                      mode, s, self.store.height)
        cols_matrix = resize_matrices(self._upload(regions[:, 0], torch.int64), self._upload(width, torch.int64),
                                      mode, s, self.store.width)
        x = self._sandwich(rows_matrix, x, cols_matrix)
        x = self._augment(x, slots)
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last).to(self.dtype)

    def _sandwich(self, left: torch.Tensor, x: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """``left @ x @ right^T`` per sample and channel, rounded to whole grey levels, in float32."""
        t = self.matmul_dtype
        out = torch.matmul(torch.matmul(left[:, None].to(t), x.to(t)), right[:, None].transpose(-1, -2).to(t))
        return out.float().round_().clamp_(0, 255)

    def _blur(self, x: torch.Tensor, slots: Sequence, rows: np.ndarray, sizes: np.ndarray) -> torch.Tensor:
        sigma_host = np.array([slot.sigma for slot in slots], dtype=np.float64)
        radius = opencv_radius(sigma_host)
        sigma = self._upload(sigma_host, torch.float32)
        g_rows = gaussian_matrices(sigma, radius, self._upload(sizes[:, 0], torch.int64), self.store.height)
        g_cols = gaussian_matrices(sigma, radius, self._upload(sizes[:, 1], torch.int64), self.store.width)
        blurred = self._sandwich(g_rows, x, g_cols)
        if self.dataset.policy.blur == "whole_image":
            return blurred
        boxes = np.array([scale_box(self.dataset.boxes[slot.row], 1.0, (h, w))
                          for slot, (h, w) in zip(slots, sizes, strict=True)], dtype=np.int64)
        boxes = self._upload(boxes, torch.int64)
        ys = torch.arange(x.shape[-2], device=self.device)[None, :, None]
        xs = torch.arange(x.shape[-1], device=self.device)[None, None, :]
        inside = ((ys >= boxes[:, 1, None, None]) & (ys < boxes[:, 3, None, None])
                  & (xs >= boxes[:, 0, None, None]) & (xs < boxes[:, 2, None, None]))
        return torch.where(inside[:, None], blurred, x)

    def _augment(self, x: torch.Tensor, slots: Sequence) -> torch.Tensor:
        s = self.size
        inverse = np.stack([cv2.invertAffineTransform(augment_matrix(slot.augment, s)) for slot in slots])
        inverse = self._upload(inverse, torch.float32)  # (B, 2, 3): output pixel -> source pixel
        source = torch.einsum("hwk,bjk->bhwj", self.pixels, inverse)
        grid = source * (2.0 / (s - 1)) - 1.0 if s > 1 else source
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        x = x.round_().clamp_(0, 255)
        jitter = np.array([(slot.augment.brightness, slot.augment.contrast, slot.augment.saturation)
                           for slot in slots], dtype=np.float32)
        jitter = self._upload(jitter, torch.float32)[:, :, None, None, None]
        brightness, contrast, saturation = jitter[:, 0], jitter[:, 1], jitter[:, 2]
        x = (x * brightness).clamp_(0, 255)
        grey = (x * self.grey).sum(dim=1, keepdim=True)
        x = (contrast * x + (1 - contrast) * grey.mean(dim=(2, 3), keepdim=True)).clamp_(0, 255)
        grey = (x * self.grey).sum(dim=1, keepdim=True)
        x = (saturation * x + (1 - saturation) * grey).clamp_(0, 255)
        return x.round_()

