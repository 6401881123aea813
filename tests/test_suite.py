"""The test suite itself: it collects without the shared LFW copy (tests that read LFW skip, saying why)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a pytest subprocess

REPO = Path(__file__).resolve().parents[1]


def test_unit_tests_collect_without_lfw(tmp_path):
    """A module that reads LFW at import (``require_lfw()`` at top level) breaks collection for everyone."""
    env = {**os.environ, "FLUP_LFW": str(tmp_path / "no-lfw-here"), "FLUP_REQUIRE_LFW": ""}
    result = subprocess.run([sys.executable, "-m", "pytest", "-m", "not e2e", "--collect-only", "-q",
                             "-p", "no:cacheprovider"], cwd=REPO, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " collected" in result.stdout and "error" not in result.stdout.splitlines()[-1]
