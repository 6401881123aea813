"""Identification scoring: every probe photo obfuscated under every condition, embedded, and ranked against its
fold's sharp gallery (the protocol is :mod:`flup.data.identification`, the metrics
:mod:`flup.evaluation.identification`).

A **condition** is one (obfuscation, level, region) and threat model. Nothing is written to disk between the
obfuscation and the embedding: what a recogniser reads is the 112x112 crop aligned on five landmarks, so a probe
is read once, obfuscated and cut for every condition in memory, and only the embeddings are kept
(:class:`ProbeEmbeddings`). In the oracle-box threat model the crop is aligned on the sharp photo's landmarks; end
to end, on the face the detector re-finds in the obfuscated photo, and a probe whose face it misses is a random
guess (:func:`flup.evaluation.identification.outcomes_from_embeddings`).

The ranking of these embeddings against the gallery is :mod:`flup.evaluation.probe_outcomes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from flup.faces.detection import box_of, landmarks_of
from flup.io import atomic_path, read_npz
from flup.obfuscation import families, methods
from flup.verify import recognition
from flup.verify.engine import Deduplicated, Embedder, FaceFinder, chunks, in_batches, prefetched, read_image

PROBE_BLOCK = 32  # probe photos obfuscated and cut ahead of the embedder, all conditions each


@dataclass(frozen=True)
class Condition:
    """One obfuscation of the probes: a family of :mod:`flup.obfuscation.families` at one level over the face box
    scaled by ``region``."""

    obfuscation: str
    level: float
    region: float


def conditions(levels: Sequence[tuple[str, float]], regions: Sequence[float]) -> list[Condition]:
    """Every (kind, level) of ``levels`` over every region, in that order."""
    return [Condition(kind, float(level), float(region)) for kind, level in levels for region in regions]


def obfuscated(image: np.ndarray, face: pd.Series, condition: Condition, blur_border: str) -> np.ndarray:
    """The whole photo with its face obfuscated as the render stage does (the photo itself at an identity level)."""
    if families.is_identity(condition.obfuscation, condition.level):
        return image
    return methods.apply(image, box_of(face), condition.obfuscation, condition.level, condition.region,
                         blur_border)


@dataclass
class ProbeEmbeddings:
    """ArcFace embeddings of the sharp gallery and of every probe under every condition and threat model.

    ``probes[m]`` is (conditions, probes, 512) for the m-th of ``modes``, ``missed[m]`` (conditions, probes) is True
    where the detector found no face end to end (that row of ``probes`` is zero); both in ``probe_images`` order.
    """

    gallery_images: list[str]
    gallery: np.ndarray
    probe_images: list[str]
    modes: list[str]
    conditions: list[Condition]
    probes: np.ndarray  # (modes, conditions, probes, 512) float32
    missed: np.ndarray  # (modes, conditions, probes) bool

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame([vars(c) for c in self.conditions])
        with atomic_path(path) as staging, open(staging, "wb") as handle:
            np.savez(handle, gallery_images=np.array(self.gallery_images, dtype=str), gallery=self.gallery,
                     probe_images=np.array(self.probe_images, dtype=str), modes=np.array(self.modes, dtype=str),
                     obfuscation=table["obfuscation"].to_numpy(dtype=str),
                     level=table["level"].to_numpy(dtype=np.float64),
                     region=table["region"].to_numpy(dtype=np.float64), probes=self.probes, missed=self.missed)

    @classmethod
    def load(cls, path: Path) -> ProbeEmbeddings:
        archive = read_npz(path)
        found = [Condition(str(k), float(v), float(r))
                 for k, v, r in zip(archive["obfuscation"], archive["level"], archive["region"], strict=True)]
        return cls(list(map(str, archive["gallery_images"])), archive["gallery"],
                   list(map(str, archive["probe_images"])), list(map(str, archive["modes"])), found,
                   archive["probes"], archive["missed"])


Restore = Callable[[np.ndarray, pd.Series, Condition], np.ndarray]  # (obfuscated photo, its face, how) -> photo
# (probe image name, sharp photo, its face, condition) -> the photo the attacker sees; default: :func:`obfuscated`
Obfuscate = Callable[[str, np.ndarray, pd.Series, Condition], np.ndarray]


def embed_identification(gallery: pd.DataFrame, probes: pd.DataFrame, faces: pd.DataFrame, images: Path,
                         embed: Embedder, wanted: Sequence[Condition], modes: Sequence[str], blur_border: str,
                         batch_size: int, finder: FaceFinder | None = None, restore: Restore | None = None,
                         gallery_vectors: np.ndarray | None = None,
                         obfuscate: Obfuscate | None = None) -> ProbeEmbeddings:
    """The sharp gallery photos and every probe photo under every condition of ``wanted``, embedded by ``embed``
    (each distinct crop once: :class:`flup.verify.engine.Deduplicated`).

    ``faces``: the detection table indexed by image (box, landmarks, face rule); ``finder`` re-detects the face in
    an obfuscated probe, needed for the ``end_to_end`` threat model. ``restore``: a reverse-then-recognise
    attacker's first step, applied to each obfuscated photo before it is cut (oracle box only: it is told the
    box and the setting). ``gallery_vectors``: the gallery's embeddings by this same ``embed``, computed before
    (e.g. by plain ArcFace's identify stage), in ``gallery`` order. ``obfuscate``: what replaces the study's own
    obfuscation of a probe photo under a condition (an audited tool's output for that probe: :mod:`flup.audit.score`),
    called with the probe's image name, its sharp photo, its face row and the condition; None obfuscates as the
    render stage does (:func:`obfuscated`).
    """
    unknown = [m for m in modes if m not in recognition.MODES]
    if unknown:
        raise ValueError(f"unknown threat model(s) {unknown}; expected {', '.join(recognition.MODES)}")
    if "end_to_end" in modes and finder is None:
        raise ValueError("the end_to_end threat model needs a face finder (the detector)")
    if restore is not None and list(modes) != ["oracle_box"]:
        raise ValueError(f"a restoring attacker is scored in the oracle_box threat model only, not {list(modes)}")
    embed = Deduplicated(embed)
    gallery_images = list(gallery["image"])
    probe_images = list(probes["image"])

    def sharp_crops(block: Sequence[str]) -> list[np.ndarray]:
        return [recognition.align(read_image(images, name), landmarks_of(faces.loc[name])) for name in block]

    if gallery_vectors is None:
        gallery_vectors = np.concatenate(
            [in_batches(embed, crops, batch_size) for _, crops in
             tqdm(prefetched(chunks(gallery_images, 8 * batch_size), sharp_crops),
                  total=-(-len(gallery_images) // (8 * batch_size)), desc="embed gallery", unit="block",
                  mininterval=2.0)]
            or [np.zeros((0, 512), dtype=np.float32)])
    elif gallery_vectors.shape != (len(gallery_images), 512):
        raise ValueError(f"gallery_vectors: expected ({len(gallery_images)}, 512), got {gallery_vectors.shape}")

    n_modes, n_conditions = len(modes), len(wanted)
    vectors = np.zeros((n_modes, n_conditions, len(probe_images), 512), dtype=np.float32)
    missed = np.zeros((n_modes, n_conditions, len(probe_images)), dtype=bool)

    def probe_crops(block: Sequence[int]) -> list[tuple[int, int, int, np.ndarray]]:
        """(mode index, condition index, probe index, crop) of every found face of the block's probes."""
        cut = []
        for p in block:
            name = probe_images[p]
            face = faces.loc[name]
            photo = read_image(images, name)
            points = landmarks_of(face)
            for c, condition in enumerate(wanted):
                if obfuscate is None:
                    image = obfuscated(photo, face, condition, blur_border)
                else:
                    image = obfuscate(name, photo, face, condition)
                if restore is not None and image is not photo:
                    image = restore(image, face, condition)
                for m, mode in enumerate(modes):
                    where = points if mode == "oracle_box" else finder(image, face)
                    if where is None:
                        missed[m, c, p] = True
                    else:
                        cut.append((m, c, p, recognition.align(image, where)))
        return cut

    blocks = chunks(range(len(probe_images)), PROBE_BLOCK)
    for _, cut in tqdm(prefetched(blocks, probe_crops), total=len(blocks), desc="embed probes", unit="block",
                       mininterval=2.0):
        rows = in_batches(embed, [crop for *_, crop in cut], batch_size)
        for (m, c, p, _), row in zip(cut, rows, strict=True):
            vectors[m, c, p] = row
        embed.release()
    return ProbeEmbeddings(gallery_images, gallery_vectors, probe_images, list(modes), list(wanted), vectors, missed)
