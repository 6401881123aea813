"""Locating and verifying model files: embedded defaults, user packs, wrong digests."""

from __future__ import annotations

import sys

import pytest

from flup.config.params import ParamError
from flup.faces import weights


def test_embedded_models_resolve_verified_without_importing_the_wheel():
    detector = weights.resolve("detector", "scrfd_500m", "~/.insightface/models")
    recognizer = weights.resolve("recognizer", "w600k_mbf", "~/.insightface/models")
    assert detector.name == "scrfd_500m_bnkps.onnx" and recognizer.name == "w600k_mbf.onnx"
    assert weights.EMBEDDED_PACKAGE not in sys.modules


def test_missing_pack_names_the_folder_and_parameters(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"buffalo_l.*models\.root.*detector\.sha256"):
        weights.resolve("detector", "buffalo_l", tmp_path)


def test_pack_without_digest_and_unknown_model_are_parameter_errors(tmp_path):
    (tmp_path / "buffalo_l").mkdir()
    (tmp_path / "buffalo_l" / "w600k_r50.onnx").write_bytes(b"not really a model")
    with pytest.raises(ParamError, match=r"arcface\.sha256"):
        weights.resolve("recognizer", "buffalo_l", tmp_path, section="arcface")
    with pytest.raises(ParamError, match=r"detector\.model is 'retina'"):
        weights.resolve("detector", "retina", tmp_path)


def test_wrong_digest_is_refused(tmp_path):
    (tmp_path / "buffalo_l").mkdir()
    (tmp_path / "buffalo_l" / "w600k_r50.onnx").write_bytes(b"not really a model")
    with pytest.raises(ValueError, match="does not match"):
        weights.resolve("recognizer", "buffalo_l", tmp_path, sha256_override="0" * 64)
