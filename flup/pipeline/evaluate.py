"""The evaluate stage's driver: the study's score tables -> metrics/verification.json, metrics/privacy.json and
plots/data/{curves,roc}.csv, with params.yaml's ``evaluate`` section.

The folding itself is ``flup.evaluation``'s: the verification metrics and the absolute thresholds
(``verification``), the relative thresholds (``relative``), training replicas (``replicas``), levels per face width
and saturation (``face_size``), privacy.json (``privacy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm import tqdm

from flup.config.paths import CURVES, LFW, PRIVACY, ROC, SCORES, VERIFICATION, dataset_paths
from flup.evaluation import relative, replicas
from flup.evaluation.face_size import median_face_width, saturated_levels, with_level_per_face
from flup.evaluation.privacy import privacy_report
from flup.evaluation.series import SERIES_KEYS
from flup.evaluation.verification import evaluate, read_scores, validate_scores
from flup.io import read_table, write_json, write_table

if TYPE_CHECKING:
    from flup.config import Study


@dataclass
class StudyEvaluation:
    verification: dict  # metrics/verification.json
    privacy: dict  # metrics/privacy.json
    curves: pd.DataFrame  # plots/data/curves.csv
    roc: pd.DataFrame  # plots/data/roc.csv
    summary: str  # one line for the log


def study_faces(cfg: Study) -> dict[str, pd.DataFrame]:
    """Per dataset of the study (LFW and ``datasets:``): the detected faces (``status == ok``) of its obfuscated
    images, from its detection table and the ``render.obfuscated_side`` of its pairs files."""
    faces = {}
    for name in [LFW, *cfg.datasets]:
        paths = dataset_paths(cfg, name)
        images = set()
        for pairs in paths.protocols.values():
            images |= set(read_table(pairs)[f"image_{cfg.render.obfuscated_side}"])
        table = read_table(paths.faces)
        faces[name] = table[table["image"].isin(images) & (table["status"] == "ok")].reset_index(drop=True)
    return faces


def _progress(groups, total):
    return tqdm(groups, total=total, desc="evaluate", unit="group")


def recognizer_kind(cfg: Study, recognizer: str) -> str:
    """What scored a series: ``attacker`` (params.yaml ``attackers``), ``arcface`` (plain ArcFace), else ``model``
    (``variants``, or a score table no longer in params.yaml). Their titles: ``flup.report.naming.RECOGNIZER_KINDS``."""
    if recognizer in cfg.attackers:
        return "attacker"
    return "arcface" if recognizer == "arcface" else "model"


def with_recognizer_kind(cfg: Study, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the column ``recognizer_kind`` after ``series`` (:func:`recognizer_kind` of the series'
    recognizer): the figures show one kind at a time."""
    recognizers = table["series"].astype(str).str.split("/", n=1).str[0]
    kinds = recognizers.map(lambda name: recognizer_kind(cfg, name)) if len(table) else recognizers
    result = table.copy()
    result.insert(result.columns.get_loc("series") + 1, "recognizer_kind", kinds.astype(object))
    return result


def evaluate_study(cfg: Study, folder: Path = SCORES) -> StudyEvaluation:
    """Every score table of the study (``verification.read_scores``) evaluated with params.yaml ``evaluate``, levels
    also per face width of each dataset's obfuscated images (``flup.evaluation.face_size``), and what scored each
    series (``recognizer_kind``)."""
    settings = cfg.evaluate
    scores, files = read_scores(folder, list(cfg.datasets))
    faces = study_faces(cfg)
    widths = {name: median_face_width(table, table["image"]) for name, table in faces.items()}
    saturated = saturated_levels(faces, scores[["dataset", "obfuscation", "region", "level"]].drop_duplicates()
                                 .itertuples(index=False, name=None))
    verification, curves, roc, thresholds = evaluate(
        scores, progress=_progress, n_boot=settings.n_boot, seed=settings.seed,
        privacy_bound=settings.privacy_auc_upper, roc_levels=settings.roc_levels.as_dict(), face_widths=widths,
        saturated=saturated)
    differences = relative.level_differences(validate_scores(scores), settings.n_boot, settings.seed)
    differences = replicas.fold_differences(differences, [*SERIES_KEYS, "obfuscation", "level"])
    relative_thresholds = relative.relative_thresholds(differences, settings.relative_margin, widths, saturated)
    relative_thresholds = with_level_per_face(relative_thresholds, widths)
    relative_thresholds = with_level_per_face(relative_thresholds, widths, "max_level_tested", "max_level_per_face")
    privacy = privacy_report(thresholds, settings.privacy_auc_upper, relative_thresholds, settings.relative_margin,
                             widths)
    roc = with_level_per_face(roc, widths)
    roc.insert(roc.columns.get_loc("level") + 1, "level_per_face", roc.pop("level_per_face"))
    curves, roc = with_recognizer_kind(cfg, curves), with_recognizer_kind(cfg, roc)
    counts = scores["status"].value_counts()
    roc_keys = ["dataset", "protocol", "series", "obfuscation", "region", "level"]
    roc_curves = roc.groupby(roc_keys).ngroups if len(roc) else 0
    summary = (f"{len(files)} score tables, {len(scores)} rows -> {len(curves)} groups, {roc_curves} ROC curves; "
               f"failures={int(counts.get('not_detected', 0))} excluded={int(counts.get('excluded', 0))}; "
               f"privacy threshold reached {int(thresholds['reached'].sum())}/{len(thresholds)}, "
               f"no more revealing than a black box {privacy['relative_n_reached']}/{len(relative_thresholds)}; "
               f"grid ends before the answer {privacy['n_grid_ends']} + {privacy['relative_n_grid_ends']}")
    return StudyEvaluation(verification, privacy, curves, roc, summary)


def run(cfg: Study) -> StudyEvaluation:
    """The evaluate stage: :func:`evaluate_study` on ``data/scores``, its four files written."""
    result = evaluate_study(cfg, SCORES)
    write_json(VERIFICATION, result.verification)
    write_json(PRIVACY, result.privacy)
    write_table(CURVES, result.curves)
    write_table(ROC, result.roc)
    return result
