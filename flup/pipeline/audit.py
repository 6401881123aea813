"""The audit stage's driver, and the notebook's ``flup.audit(redact)``: a redaction tool's photos of the
identification probes scored against the study's attackers (:mod:`flup.audit.score`), written as
``audits/<name>/audit.json``, ``audit.html`` and ``missed_faces/``.

What it reads from the study: the protocol (data/identification/protocol), the detection table, ArcFace's gallery
embeddings (data/identification/arcface.npz), every adapter attacker's cross-fitted fold adapters
(data/identification/attackers/<name>/seed<k>/fold<f>.safetensors), the identify stages' score tables (the black
box and the unredacted photos, for comparison) and metrics/identification.json (the nearest private family).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd

from flup.attack import adapter
from flup.audit.probes import audited_probes, failed
from flup.audit.report import audit_html
from flup.audit.score import AuditRule, Redacted, StudyData, audit_redactions
from flup.audit.validate import KEPT, Photo, check_pixels
from flup.config.paths import (
    AUDITS,
    AUDITS_DATA,
    IDENTIFICATION_ATTACKERS,
    IDENTIFICATION_EMBEDDINGS,
    IDENTIFICATION_METRICS,
    IDENTIFICATION_SCORES,
    LFW_FACES,
    LFW_IMAGES,
    replica,
)
from flup.evaluation.probe_outcomes import Transform
from flup.io import atomic_path, read_json, read_table, write_json, write_table
from flup.pipeline import model_files
from flup.pipeline.identify_attacker import adapted
from flup.pipeline.identities import protocol_tables
from flup.pipeline.redact import MANIFEST, REDACTED
from flup.training.loop import pin_cpu_threads, resolve_device
from flup.training.weight_files import load_weights
from flup.verify import recognition
from flup.verify.engine import FaceFinder
from flup.verify.identification import ProbeEmbeddings

if TYPE_CHECKING:
    from flup.config import Study

ARCFACE = "arcface"
RESTORED = "arcface_restored"  # flup.pipeline.identify_restored.NAME: it has no black box of its own


class AuditError(RuntimeError):
    """An audit that cannot be scored (a redacted photo missing or unreadable, a tool function that fails)."""


def fold_adapters(folder: Path, hidden: int, depth: int) -> dict[int, adapter.EmbeddingAdapter]:
    """The fold adapters identify_attacker saved in ``folder`` (``fold<k>.safetensors``), by fold."""
    found = {}
    for path in sorted(folder.glob("fold*.safetensors")):
        net = adapter.EmbeddingAdapter(512, hidden, depth)
        found[int(path.stem.removeprefix("fold"))] = load_weights(net, path)
    if not found:
        raise FileNotFoundError(f"{folder}: no fold adapter (did identify_attacker run?)")
    return found


def cross_fitted(cfg: Study, folder: Path = IDENTIFICATION_ATTACKERS) -> dict[str, dict[int, Transform]]:
    """Every adapter attacker's transform per training seed: each fold's probes through that fold's adapter, as
    identify_attacker scored the study's probes (fine-tuned attackers are not cross-fitted: left out)."""
    attackers: dict[str, dict[int, Transform]] = {}
    for name in cfg.attackers:
        attacker = cfg.attacker(name)
        if attacker.method != "adapter":
            continue
        attackers[name] = {}
        for seed in attacker.attack.seeds:
            settings = attacker.attack.for_seed(seed)
            pin_cpu_threads(resolve_device(settings.device), settings.cpu_threads)
            adapters = fold_adapters(replica(folder / name, seed), settings.adapter.hidden, settings.adapter.depth)
            attackers[name][int(seed)] = partial(adapted, adapters)
    return attackers


def score_tables(cfg: Study, folder: Path = IDENTIFICATION_SCORES) -> dict[str, pd.DataFrame]:
    """The identify stages' outcome tables the audit compares with: plain ArcFace's and every attacker's."""
    tables = {}
    for name in [ARCFACE, *cfg.attackers]:
        path = folder / f"{name}.parquet"
        if path.exists():
            tables[name] = read_table(path)
    return tables


def study_data(cfg: Study, with_detector: bool = True) -> StudyData:
    """Everything the study computed that an audit scores against (read from the identification stages' files)."""
    _, gallery, _ = protocol_tables()
    plain = ProbeEmbeddings.load(IDENTIFICATION_EMBEDDINGS)
    row = {image: i for i, image in enumerate(plain.gallery_images)}
    finder = None
    if with_detector:
        finder = FaceFinder(model_files.detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh, None)
    study_cells = read_json(IDENTIFICATION_METRICS).get("cells", []) if IDENTIFICATION_METRICS.exists() else []
    return StudyData(gallery=gallery, faces=read_table(LFW_FACES).set_index("image"), images=LFW_IMAGES,
                     gallery_vectors=plain.gallery[[row[image] for image in gallery["image"]]],
                     embed=recognition.ArcFace(model_files.recognizer_file(cfg)).embed, finder=finder,
                     attackers=cross_fitted(cfg), references=score_tables(cfg), study_cells=study_cells,
                     batch_size=cfg.identification.batch_size)


def files_redacted(folder: Path, table: pd.DataFrame) -> Redacted:
    """The tool's photos the redact stage kept in ``folder``, by probe image (``table``: its manifest); None for
    a photo it failed on."""
    outputs = {row.image: row.output for row in table.itertuples() if row.status in {str(s) for s in KEPT}}

    def read(image: str, photo: np.ndarray) -> np.ndarray | None:
        if image not in outputs:
            return None
        path = folder / outputs[image]
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise AuditError(f"{path}: the tool's photo of {image} is missing or unreadable (rerun redact)")
        return pixels

    return read


def function_redacted(redact: Callable[[np.ndarray], np.ndarray], keep_going: bool = False) -> Redacted:
    """A ``redact(image) -> image`` function as the audit's source of photos, each output checked as a tool's is
    (:func:`flup.audit.validate.check_pixels`: BGR uint8, the photo's size). A failure stops the audit naming the
    photo, unless ``keep_going`` (then it is a face the tool missed)."""

    def run(image: str, photo: np.ndarray) -> np.ndarray | None:
        try:
            output = redact(photo.copy())
            checked = check_pixels(np.asarray(output), Photo(Path(image), "", photo), "", byte_copy=False)
            problem = None if checked.status in KEPT else f"{checked.status}: {checked.detail}"
        except Exception as error:  # the user's function: any failure is its failure on this photo
            output, problem = None, f"raised {type(error).__name__}: {error}"
        if problem is None:
            return np.ascontiguousarray(output)
        if keep_going:
            return None
        raise AuditError(f"redact failed on photo {image}: {problem} (keep_going=True scores it as a face the tool "
                         "missed)")

    return run


def write_audit(summary: dict, thumbnails: dict[str, np.ndarray], out: Path) -> None:
    """audit.json, audit.html (self-contained) and the missed faces' thumbnails into ``out``."""
    images = {}
    folder = out / "missed_faces"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.png"):
        stale.unlink()
    for path, image in thumbnails.items():
        data = cv2.imencode(".png", image)[1].tobytes()
        images[path] = data
        with atomic_path(out / path) as staging:
            staging.write_bytes(data)
    listed = pd.DataFrame(summary["coverage"]["missed_faces"], columns=["probe_id", "image", "failed", "difference",
                                                                        "thumbnail"])
    write_table(folder / "list.csv", listed)  # every missed face (the folder is never empty: git keeps it)
    write_json(out / "audit.json", summary)
    with atomic_path(out / "audit.html") as staging:
        staging.write_text(audit_html(summary, images))


def run_audit(cfg: Study, name: str, data: Path | None = None, out: Path | None = None) -> dict:
    """Stage audit@<name>: score the photos redact@<name> kept, write ``audits/<name>/``; return the summary."""
    data = AUDITS_DATA / name if data is None else data
    out = AUDITS / name if out is None else out
    entry = cfg.audit(name)
    table = read_table(data / MANIFEST)
    _, _, probes = protocol_tables()
    chosen = probes.set_index("probe_id").loc[table["probe_id"]].reset_index()
    tool = {"command": entry.command, "version_command": entry.version_command, "keep_going": entry.keep_going,
            "max_probes": entry.max_probes, "failed_photos": failed(table)["image"].tolist()}
    record = data / REDACTED / "tool_runs.json"
    if record.exists():
        tool["identity"] = read_json(record).get("identity")
    summary, thumbnails = audit_redactions(name, files_redacted(data / REDACTED, table), chosen, study_data(cfg),
                                           AuditRule.of(cfg.identification), tool)
    write_audit(summary, thumbnails, out)
    return summary


def audit_function(cfg: Study, redact: Callable[[np.ndarray], np.ndarray], name: str = "python",
                   max_probes: int | None = None, keep_going: bool = False, out: Path | None = None,
                   with_detector: bool = True) -> dict:
    """``flup.audit(redact)``: the same audit, the function run on the probes' photos in this process (nothing
    cached, no DVC); ``out`` (optional) receives audit.json, audit.html and the thumbnails."""
    _, _, probes = protocol_tables()
    chosen = audited_probes(probes, max_probes, cfg.identification.random_seed)
    tool = {"function": getattr(redact, "__qualname__", repr(redact)), "keep_going": keep_going,
            "max_probes": max_probes}
    summary, thumbnails = audit_redactions(name, function_redacted(redact, keep_going), chosen,
                                           study_data(cfg, with_detector), AuditRule.of(cfg.identification), tool)
    if out is not None:
        write_audit(summary, thumbnails, Path(out))
    return summary
