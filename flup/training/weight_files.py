"""Weight files of every trained recogniser: safetensors state_dicts written atomically, and reading a
.safetensors file, a .pt/.pth state_dict or a training checkpoint without ever unpickling arbitrary objects
(errors name the file)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from flup.io import atomic_path


class WeightsFileError(ValueError):
    """A weights or checkpoint file cannot be read (safely); the message names the file.

    ``reason`` says what is wrong with it, ``advice`` what to do; the message is ``path: reason; advice``.
    """

    def __init__(self, path: str | os.PathLike, reason: str, advice: str = "") -> None:
        self.path, self.reason, self.advice = Path(path), reason, advice
        super().__init__(f"{path}: {reason}" + (f"; {advice}" if advice else ""))


def _kind_of_file(path: Path) -> str | None:
    """What a file really is, judged by its first bytes: 'a PyTorch file', 'a pickle' or None."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK\x03\x04"):
        return "a PyTorch pickle (torch.save) file"
    if head[:1] == b"\x80":
        return "a pickle"
    return None


def _detail(error: BaseException) -> str:
    """The first sentence of a library's error, dropped if it would advise unpickling (weights_only=False)."""
    first = (str(error).strip().splitlines() or [""])[0].split(". ")[0][:200]
    return "" if "weights_only" in first or not first else f": {first}"


def read_torch_file(path: str | os.PathLike):
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that name the file.

    Never unpickles arbitrary objects, and never passes on torch's advice to retry with
    ``weights_only=False`` (that would run whatever code the file holds): a pickle holding other
    objects, and a truncated or corrupt file, raise :class:`WeightsFileError` of our own.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsFileError(
            path,
            "holds Python objects other than tensors and plain containers (e.g. a saved nn.Module), or is "
            "damaged; refusing to unpickle it, since unpickling can run arbitrary code",
            "save model.state_dict() (or safetensors with flup.training.weight_files.save_weights) instead",
        ) from None
    except PermissionError:
        raise
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError) as error:
        raise WeightsFileError(
            path,
            f"truncated or corrupt, cannot be read as a PyTorch file ({type(error).__name__}{_detail(error)})",
            "delete it, or copy it again",
        ) from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        really = _kind_of_file(path)
        hint = f"it is {really}; " if really else "truncated or damaged? "
        raise WeightsFileError(
            path,
            f"not a safetensors file ({hint}safetensors said: {str(error).strip()[:200]})",
            "write weights with flup.training.weight_files.save_weights, or give a .pt/.pth state_dict its own suffix",
        ) from None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a .safetensors file or a .pt/.pth state_dict without unpickling arbitrary objects."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    if path.suffix not in (".pt", ".pth"):
        raise ValueError(f"{path}: unsupported weights format (use .safetensors, .pt or .pth)")
    state = read_torch_file(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError(path, "expected a dict of tensors (a state_dict)")
    return state


def save_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Write ``model``'s state_dict as safetensors, atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: save_weights writes safetensors; use a .safetensors name")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, tmp)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load .safetensors, a .pt/.pth state_dict or a training checkpoint into ``model`` (strict)."""
    model.load_state_dict(read_state_dict(Path(path)))
    return model
