"""The scoring engine: every recogniser scores the rendered pairs through this one code path.

A recogniser (:class:`Recognizer`) is two embedders of crops (sharp side, obfuscated side) and the way it cuts a
crop from an image (:class:`Cropper`): ArcFace and the attackers align a 112x112 BGR crop on five landmarks
(:data:`ALIGNED`), a dual-stream model crops by its policy around the face box (:mod:`flup.models.embedding`). For
each obfuscation x level x region of the render (a "level" below: the render's unit of work, one store), the
obfuscated side is cut two ways (the threat models of :mod:`flup.verify.recognition`): where the sharp image's
face is (oracle box), or on the face the detector re-found in the obfuscated image (end to end, for recognisers
that align on landmarks; the render stage ran that detector once, so every recogniser sees the same detections).
Sharp-side embeddings are computed once per image.

Speed, with identical numbers (benchmarks/render_score.md):

- crops of the next level are decoded and cut in a background thread while the current level is
  embedded (OpenCV, ONNX Runtime and torch release the GIL);
- :class:`Deduplicated` embeds each distinct crop once per stage, for embedders whose output depends on
  the crop alone (ONNX ArcFace: same bits in any batch, any thread count). At an identity level
  (sigma 0) the oracle-box crop is the sharp crop of the same image, and re-detection usually finds
  the same landmarks, so that level costs almost nothing;
- other embedders (torch models) get exactly the batches they always got: the sharp images in order,
  then per level and mode the obfuscated images in order, ``batch_size`` at a time.

With ``executor.kind: ray`` score_arcface's distinct crops are embedded by Ray actors (``embed`` of
:func:`score_arcface`, :class:`flup.executor.ActorPool` over :class:`ArcFaceWorker`); everything else here
stays in the stage's process (docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from flup.faces.detection import Detector, landmarks_of
from flup.io import atomic_path, read_json, read_npz, read_table, sha256_file
from flup.obfuscation import render
from flup.verify import recognition
from flup.verify.scoring import score_pairs

Embedder = Callable[[Sequence[Any]], np.ndarray]  # a recogniser's crops -> (n, dim) unit rows
SHARP_BLOCK = 8  # batches of sharp crops aligned ahead of the embedder
DIGEST_SIZE = 20  # bytes of a crop's blake2b digest
log = logging.getLogger(__name__)


def in_batches(embed: Callable[[Sequence[Any]], Any], items: Sequence[Any], batch_size: int,
               dim: int = 512, desc: str | None = None) -> np.ndarray:
    """``embed`` over ``items`` ``batch_size`` at a time, rows concatenated in item order ((0, dim) if none).

    The one batching loop of the project: scoring, attacker training and the dual-stream models use it.
    ``desc`` shows a progress bar of batches.
    """
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    batches = chunks(items, batch_size)
    if desc is not None:
        batches = tqdm(batches, desc=desc, unit="batch", mininterval=2.0)
    parts = [np.asarray(embed(batch)) for batch in batches]
    return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """``items`` cut into consecutive pieces of ``size`` (the last one shorter)."""
    return [items[start:start + size] for start in range(0, len(items), size)]


class Deduplicated:
    """An embedder that embeds each distinct crop once (by content digest) and remembers the result.

    Only for embedders whose output row depends on that row's crop alone (not on the batch it came in).
    ``known``: digests embedded before (e.g. by another stage: :func:`load_embeddings`); ``record``:
    keep every newly computed embedding for :meth:`save`.
    """

    def __init__(self, embed: Embedder, known: dict[bytes, np.ndarray] | None = None, record: bool = False):
        self.embed = embed
        self.known: dict[bytes, np.ndarray] = dict(known or {})
        self.kept: set[bytes] = set(self.known)
        self.recorded: dict[bytes, np.ndarray] | None = {} if record else None
        self.calls = 0  # crops asked for
        self.computed = 0  # crops actually embedded

    def keep(self) -> None:
        """Remember what is known now (the sharp side) for good; :meth:`release` forgets the rest."""
        self.kept = set(self.known)

    def release(self) -> None:
        """Forget everything embedded since :meth:`keep` (a finished level), bounding memory."""
        self.known = {k: v for k, v in self.known.items() if k in self.kept}

    def save(self, path: Path, model: str) -> None:
        """Write the recorded embeddings (crop digest -> vector) of ``model`` (see :func:`model_id`)."""
        recorded = self.recorded or {}
        keys = np.frombuffer(b"".join(recorded), dtype=np.uint8).reshape(len(recorded), DIGEST_SIZE)
        vectors = np.stack(list(recorded.values())) if recorded else np.zeros((0, 512), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as staging, open(staging, "wb") as handle:
            np.savez(handle, keys=keys, vectors=vectors, model=np.array(model))

    @staticmethod
    def key(crop: np.ndarray) -> bytes:
        crop = np.ascontiguousarray(crop)
        shape = repr((crop.shape, crop.dtype.str)).encode()
        return hashlib.blake2b(crop.tobytes() + shape, digest_size=DIGEST_SIZE).digest()

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        keys = [self.key(c) for c in crops]
        todo: dict[bytes, np.ndarray] = {}
        for k, crop in zip(keys, crops, strict=True):
            if k not in self.known and k not in todo:
                todo[k] = crop
        if todo:
            for k, vector in zip(todo, self.embed(list(todo.values())), strict=True):
                self.known[k] = vector
                if self.recorded is not None:
                    self.recorded[k] = vector
        self.calls += len(crops)
        self.computed += len(todo)
        if not keys:
            return self.embed([])
        return np.stack([self.known[k] for k in keys])


def model_id(model_path: Path) -> str:
    """A recogniser file's identity for saved embeddings: its name and sha256."""
    return f"{Path(model_path).name}:{sha256_file(Path(model_path))}"


def load_embeddings(path: Path, model: str) -> dict[bytes, np.ndarray]:
    """Embeddings :meth:`Deduplicated.save` wrote for the same ``model`` (``{}`` for another model)."""
    archive = read_npz(path)
    if str(archive["model"]) != model:
        return {}
    return {key.tobytes(): vector for key, vector in zip(archive["keys"], archive["vectors"], strict=True)}


class Pool(Protocol):
    """Where a recogniser's batches are embedded off this process (:class:`flup.executor.ActorPool`): ``width``
    items a call, cut into the pieces its workers embed."""

    width: int

    def __call__(self, items, *args) -> np.ndarray: ...


@dataclass(frozen=True)
class Cropper:
    """How a recogniser cuts its input (a crop) from a whole image.

    ``place(face)``: where, from the image's row of the detection table (once per image); ``cut(image, where)``:
    the crop. ``redetected``: ``where`` may also be the five landmarks the detector re-found in an obfuscated image,
    so the recogniser is scored end to end too; otherwise in the oracle-box threat model only.
    """

    place: Callable[[pd.Series], Any]
    cut: Callable[[np.ndarray, Any], Any]
    redetected: bool = False


ALIGNED = Cropper(landmarks_of, recognition.align, redetected=True)  # ArcFace's 112x112 crop on the five landmarks


@dataclass(frozen=True)
class Recognizer:
    name: str
    embed_sharp: Embedder
    embed_obfuscated: Embedder
    batch_size: int
    crop: Cropper = ALIGNED


def arcface(model_path: Path, batch_size: int, name: str = "arcface", threads: int | None = None,
            record: bool = False, embed: Embedder | None = None) -> Recognizer:
    """Plain ArcFace (ONNX) on both sides, each distinct crop embedded once (``record``: kept for saving).

    ``embed``: where the distinct crops are embedded (e.g. on Ray actors, :class:`flup.executor.ActorPool`
    over :class:`ArcFaceWorker`: the same model, the same bits); None: an ONNX session in this process."""
    if embed is None:
        embed = recognition.ArcFace(model_path, threads=threads).embed
    deduplicated = Deduplicated(embed, record=record)
    return Recognizer(name, deduplicated, deduplicated, batch_size)


@dataclass(frozen=True)
class ArcFaceWorker:
    """ArcFace's embed as a worker factory for :class:`flup.executor.ActorPool` (picklable): built once per
    actor with that actor's threads, on CUDA when it has a GPU."""

    model: Path

    def __call__(self, threads: int | None = None, gpu: bool = False) -> Embedder:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else None
        return recognition.ArcFace(self.model, providers, threads).embed


def score_arcface(test, images: Path, render_dir: Path, dataset: str, model_path: Path, batch_size: int,
                  modes: Sequence[str], embeddings_out: Path | None = None,
                  embed: Embedder | None = None) -> pd.DataFrame:
    """Plain ArcFace's score table; ``embeddings_out``: also save every embedding it computed, for the
    adapter attackers, whose obfuscated side starts from the same ArcFace embeddings. ``embed``, ``batch_size``:
    as for :func:`arcface` (on Ray, ``batch_size`` is the pool's width: enough crops a call for every actor)."""
    recognizer = arcface(model_path, batch_size, record=embeddings_out is not None, embed=embed)
    scores = score_rendered(test, images, render_dir, dataset, recognizer, modes)
    embed = recognizer.embed_sharp
    log.info("ArcFace embedded %d distinct crops of the %d scored (identical crops embedded once)",
             embed.computed, embed.calls)
    if embeddings_out is not None:
        embed.save(embeddings_out, model_id(model_path))
    return scores


class FaceFinder:
    """The end-to-end attacker's re-detection, built once per render worker process (picklable by its args)."""

    def __init__(self, model_path: Path, det_size: int, det_thresh: float, threads: int | None = 1,
                 providers: list[str] | None = None):
        self.detector = Detector(model_path, det_size, det_thresh, providers, threads)

    def __call__(self, image: np.ndarray, face: dict) -> np.ndarray | None:
        # ``face``: the image's row of the detection table (its face rule, the sharp face's box).
        return recognition.redetect(self.detector, image, face)


# --- the level loop ---------------------------------------------------------------------------------


RenderedLevel = tuple[str, float, float]  # (obfuscation, level, region): one render store


def _rendered_level(entry: dict) -> RenderedLevel:
    # A render written before render.regions has no region: it used the detected box (1.0).
    return entry["obfuscation"], float(entry["level"]), float(entry.get("region", 1.0))


def rendered_levels(render_dir: Path) -> tuple[list[RenderedLevel], list[str]]:
    """The render's (obfuscation, level, region) list and the images it rendered (status ok), in its order."""
    summary = read_json(render_dir / "summary.json")
    manifest = read_table(render_dir / "manifest.csv")
    levels = [_rendered_level(entry) for entry in summary["levels"]]
    return levels, list(manifest.loc[manifest["status"] == "ok", "image"])


def level_plan(test, render_dir: Path, names: Sequence[str]) -> dict[RenderedLevel, tuple[list[str], list[str]]]:
    """For each rendered (obfuscation, level, region): the protocols scored there and their obfuscated images
    among ``names``.

    A render that lists a level's protocols (``render.baseline_only`` renders some protocols at the
    unobfuscated level alone) limits that level to them; otherwise every protocol of ``test`` is scored.
    """
    obfuscated_side = "a" if test.sharp_side == "b" else "b"
    plan = {}
    for entry in read_json(render_dir / "summary.json")["levels"]:
        listed = entry.get("protocols")
        protocols = [p for p in test.pairs if listed is None or p in listed]
        wanted = {i for p in protocols for i in test.pairs[p][f"image_{obfuscated_side}"]}
        plan[_rendered_level(entry)] = (protocols, [n for n in names if n in wanted])
    return plan


def prefetched(items: Sequence[Any], prepare: Callable[[Any], Any]) -> Iterator[tuple[Any, Any]]:
    """(item, prepare(item)) for each item; the next item is prepared in a background thread while the
    caller works on the current one (OpenCV, NumPy and ONNX Runtime release the GIL)."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = worker.submit(prepare, items[0])
        for i, item in enumerate(items):
            ready = pending.result()
            if i + 1 < len(items):
                pending = worker.submit(prepare, items[i + 1])
            yield item, ready


def read_image(images: Path, name: str) -> np.ndarray:
    pixels = cv2.imread(str(images / name), cv2.IMREAD_COLOR)
    if pixels is None:
        raise FileNotFoundError(f"{images / name}: cannot read the image")
    return pixels


@dataclass
class LevelCrops:
    oracle_box: dict[str, np.ndarray]
    end_to_end: dict[str, np.ndarray]
    not_found: list[str]


def level_crops(store: render.RenderStore, names: Sequence[str], images: Path, where: dict[str, Any],
                modes: Sequence[str], cut: Callable[[np.ndarray, Any], Any] = recognition.align) -> LevelCrops:
    """The obfuscated images of one level, cut in each threat model: ``cut(image, where[name])`` (the sharp image's
    face: by default its landmarks, aligned), or end to end ``cut(image, landmarks re-found in the image)``."""
    crops = LevelCrops({}, {}, [])
    for name in names:
        image = store.obfuscated(name, read_image(images, name))
        if "oracle_box" in modes:
            crops.oracle_box[name] = cut(image, where[name])
        if "end_to_end" in modes:
            found = store.landmarks(name)
            if found is None:
                crops.not_found.append(name)
            else:
                crops.end_to_end[name] = cut(image, found)
    return crops


def embed_named(embed: Embedder, crops: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    return dict(zip(crops, in_batches(embed, list(crops.values()), batch_size), strict=True))


def score_rendered(test, images: Path, render_dir: Path, dataset: str, recognizer: Recognizer,
                   modes: Sequence[str]) -> pd.DataFrame:
    """The per-pair score table (:mod:`flup.verify.scoring`) of one recogniser over every rendered level.

    ``test``: the dataset's test set (``pairs``: protocol -> pairs table, ``sharp_side``, ``faces``:
    detections indexed by image, ``sharp_images``); each level scores the protocols the render lists for it.
    """
    unknown = [mode for mode in modes if mode not in recognition.MODES]
    if unknown:
        raise ValueError(f"unknown threat model(s) {unknown}; expected {', '.join(recognition.MODES)}")
    cropper = recognizer.crop
    if "end_to_end" in modes and not cropper.redetected:
        raise ValueError(f"{recognizer.name} crops around the sharp image's face, not on re-detected landmarks: "
                         "it is scored in the oracle_box threat model only, not end_to_end")
    pairs = test.pairs
    sharp_side = test.sharp_side
    obfuscated_side = "a" if sharp_side == "b" else "b"
    wanted_sharp = {i for table in pairs.values() for i in table[f"image_{sharp_side}"]}
    wanted_obf = {i for table in pairs.values() for i in table[f"image_{obfuscated_side}"]}
    batch = recognizer.batch_size

    sharp_names = [n for n in test.sharp_images if n in wanted_sharp]
    levels, rendered = rendered_levels(render_dir)
    names = [n for n in rendered if n in wanted_obf]
    where = {name: cropper.place(test.faces.loc[name]) for name in {*sharp_names, *names}}

    # The sharp side in blocks of whole batches (the embedder sees the batches it always saw), the next
    # block cut while this one is embedded.
    blocks = chunks(sharp_names, SHARP_BLOCK * batch)
    sharp: dict[str, np.ndarray] = {}
    def crop_sharp(block: list[str]) -> dict[str, Any]:
        return {name: cropper.cut(read_image(images, name), where[name]) for name in block}

    for _, crops in tqdm(prefetched(blocks, crop_sharp), total=len(blocks), desc="embed sharp side", unit="block",
                         mininterval=2.0):
        sharp.update(embed_named(recognizer.embed_sharp, crops, batch))
    caches = [e for e in {id(e): e for e in (recognizer.embed_sharp, recognizer.embed_obfuscated)}.values()
              if isinstance(e, Deduplicated)]
    for cache in caches:
        cache.keep()

    plan = level_plan(test, render_dir, names)

    def prepare(level: RenderedLevel) -> LevelCrops:
        store = render.RenderStore(render.store_path(render_dir, *level))
        return level_crops(store, plan[level][1], images, where, modes, cropper.cut)

    tables = []
    progress = tqdm(total=sum(len(plan[level][1]) for level in levels), desc=f"score {recognizer.name}", unit="img",
                    mininterval=2.0)
    for (kind, level, region), crops in prefetched(levels, prepare):
        scored_here, level_names = plan[(kind, level, region)]
        by_mode = {}
        if "oracle_box" in modes:
            by_mode["oracle_box"] = embed_named(recognizer.embed_obfuscated, crops.oracle_box, batch)
        if "end_to_end" in modes:
            by_mode["end_to_end"] = {**embed_named(recognizer.embed_obfuscated, crops.end_to_end, batch),
                                     **dict.fromkeys(crops.not_found)}
        for mode in modes:
            for protocol, table in pairs.items():
                if protocol not in scored_here:
                    continue
                tables.append(score_pairs(
                    table, sharp_side, sharp, by_mode[mode], seen_identities=protocol in test.seen, dataset=dataset,
                    protocol=protocol, recognizer=recognizer.name, mode=mode, obfuscation=kind, region=region,
                    level=float(level),
                ))
        for cache in caches:
            cache.release()
        progress.update(len(level_names))
    progress.close()
    return pd.concat(tables, ignore_index=True)
