"""The identify stage's driver: ArcFace embeds the galleries and every probe under every condition of
``identification`` once (kept for the attackers: :mod:`flup.pipeline.identify_attacker`), and ranks them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import LFW_FACES, LFW_IMAGES
from flup.evaluation.probe_outcomes import outcome_table
from flup.io import read_table
from flup.pipeline import model_files
from flup.pipeline.identities import protocol_tables
from flup.verify import recognition
from flup.verify.engine import FaceFinder
from flup.verify.identification import conditions, embed_identification

if TYPE_CHECKING:
    from flup.config import Study


def identify_arcface(cfg: Study, embeddings_out: Path) -> pd.DataFrame:
    """ArcFace's embeddings of the galleries and of the probes under every condition (saved to
    ``embeddings_out`` for the attackers) and its outcome table."""
    settings = cfg.identification
    _, gallery, probes = protocol_tables()
    faces = read_table(LFW_FACES).set_index("image")
    finder = None
    if "end_to_end" in settings.modes:
        finder = FaceFinder(model_files.detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh, None)
    model = recognition.ArcFace(model_files.recognizer_file(cfg))
    wanted = conditions(settings.obfuscations.pairs(), settings.regions)
    scored = embed_identification(gallery, probes, faces, LFW_IMAGES, model.embed, wanted, settings.modes,
                                  cfg.render.blur_border, settings.batch_size, finder)
    scored.save(embeddings_out)
    return outcome_table(scored, gallery, probes, pair_seed=settings.random_seed)
