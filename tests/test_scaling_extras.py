"""The optional scaling extras (requirements-scaling.txt): a test that needs one skips, with the reason, where it is
missing, unless FLUP_REQUIRE_SCALING=1 (CI) turns the skip into a failure."""

from __future__ import annotations

import pytest

from tests.conftest import require_scaling

pytestmark = pytest.mark.slow  # imports Ray and the S3 stack

MISSING = "flup_no_such_scaling_package"


def test_a_missing_extra_skips_with_the_reason(monkeypatch):
    monkeypatch.delenv("FLUP_REQUIRE_SCALING", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"needs {MISSING} \\(pip install -r requirements-scaling.txt\\)"):
        require_scaling("json", MISSING)


@pytest.mark.parametrize("value", ["1", "yes"])
def test_flup_require_scaling_turns_the_skip_into_a_failure(monkeypatch, value):
    monkeypatch.setenv("FLUP_REQUIRE_SCALING", value)
    with pytest.raises(pytest.fail.Exception, match=f"needs {MISSING}"):
        require_scaling(MISSING)
    monkeypatch.setenv("FLUP_REQUIRE_SCALING", "0")
    with pytest.raises(pytest.skip.Exception):
        require_scaling(MISSING)


def test_present_extras_pass(monkeypatch):
    monkeypatch.delenv("FLUP_REQUIRE_SCALING", raising=False)
    try:
        assert require_scaling("json", "importlib") is None
    except pytest.skip.Exception as skipped:  # a skip here would hide the bug as a skipped test: fail instead
        pytest.fail(f"present modules were reported missing: {skipped}")
