"""The identify_restored stage's driver: a reverse-then-recognise attacker. Each blurred or pixelated probe is first
restored at its known setting (Wiener deconvolution with OpenCV's kernel, or the pixelation's smooth upsampling:
:class:`flup.attack.restoration.Restorer`), then embedded by plain ArcFace and ranked against the same galleries
(their embeddings reused from the identify stage). Oracle box only: the attacker is told the box and the setting,
as a redaction tool's published default would tell it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flup.attack.restoration import Restorer
from flup.config.paths import LFW_FACES, LFW_IMAGES
from flup.evaluation.probe_outcomes import OUTCOME_COLUMNS, outcome_table
from flup.faces.detection import box_of
from flup.io import read_table
from flup.obfuscation import families
from flup.pipeline import model_files
from flup.pipeline.identities import protocol_tables
from flup.verify import recognition
from flup.verify.identification import Condition, ProbeEmbeddings, conditions, embed_identification

if TYPE_CHECKING:
    from flup.config import Study

NAME = "arcface_restored"  # its score table: data/identification/scores/arcface_restored.parquet


def restorable(cfg: Study) -> list[Condition]:
    """The conditions of ``identification`` the restorer can reverse: every obfuscated level of its families."""
    levels = [(kind, level) for kind, level in cfg.identification.obfuscations.pairs()
              if kind in Restorer.KINDS and not families.is_identity(kind, level)]
    return conditions(levels, cfg.identification.regions)


def identify_restored(cfg: Study, arcface_embeddings: Path) -> pd.DataFrame:
    """The restoring attacker's outcome table (empty when ``identification`` has no blur or pixelation level)."""
    wanted = restorable(cfg)
    if not wanted:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    _, gallery, probes = protocol_tables()
    faces = read_table(LFW_FACES).set_index("image")
    plain = ProbeEmbeddings.load(arcface_embeddings)
    row = {image: i for i, image in enumerate(plain.gallery_images)}
    gallery_vectors = plain.gallery[[row[image] for image in gallery["image"]]]
    restorer = Restorer()

    def restore(image: np.ndarray, face: pd.Series, condition: Condition) -> np.ndarray:
        return restorer(image, box_of(face), condition.obfuscation, condition.level, condition.region)

    model = recognition.ArcFace(model_files.recognizer_file(cfg))
    scored = embed_identification(gallery, probes, faces, LFW_IMAGES, model.embed, wanted, ["oracle_box"],
                                  cfg.render.blur_border, cfg.identification.batch_size, restore=restore,
                                  gallery_vectors=gallery_vectors)
    return outcome_table(scored, gallery, probes, pair_seed=cfg.identification.random_seed)
