"""The identify stages' driver: ArcFace embeds a dataset's galleries and every probe under every condition of
``identification`` once (kept for the attackers: :mod:`flup.pipeline.identify_attacker`), and ranks them. LFW
(stage ``identify``) and every evaluation-only dataset (``identify_dataset@<name>``) alike, each from its own
protocol (:func:`flup.pipeline.identities.identification_files`), detection table and images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import LFW, dataset_paths
from flup.evaluation.probe_outcomes import outcome_table
from flup.io import read_table
from flup.pipeline import model_files
from flup.pipeline.identities import identification_files, protocol_tables
from flup.verify import recognition
from flup.verify.engine import FaceFinder
from flup.verify.identification import conditions, embed_identification

if TYPE_CHECKING:
    from flup.config import Study


def identify_arcface(cfg: Study, dataset: str = LFW) -> pd.DataFrame:
    """ArcFace's embeddings of ``dataset``'s galleries and of its probes under every condition (saved to its
    :func:`identification_files` embeddings, for the attackers) and its outcome table."""
    settings = cfg.identification
    files, paths = identification_files(dataset), dataset_paths(cfg, dataset)
    _, gallery, probes = protocol_tables(files.protocol)
    faces = read_table(paths.faces).set_index("image")
    finder = None
    if "end_to_end" in settings.modes:
        finder = FaceFinder(model_files.detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh, None)
    model = recognition.ArcFace(model_files.recognizer_file(cfg))
    wanted = conditions(settings.obfuscations.pairs(), settings.regions)
    scored = embed_identification(gallery, probes, faces, paths.images, model.embed, wanted, settings.modes,
                                  cfg.render.blur_border, settings.batch_size, finder)
    scored.save(files.embeddings)
    return outcome_table(scored, gallery, probes, pair_seed=settings.random_seed)
