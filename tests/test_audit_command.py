"""``python -m flup audit`` (flup/audit/command.py): a bad template, name or option is refused before params.yaml
changes or anything runs; a good one is written into params.yaml (comments kept) and `dvc repro audit@NAME` runs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from flup import cli
from flup.audit import command
from flup.config import load_config
from tests.conftest import REPO


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy2(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    runs = []

    def fake_run(argv, check=False):  # dvc repro, recorded instead of run
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 3)

    monkeypatch.setattr(command.subprocess, "run", fake_run)
    return tmp_path, runs


@pytest.mark.parametrize(("template", "words"), [
    ("deface -o {output}", "has no {input}"),
    ("deface {input}", "has no {output} (or {output_dir})"),
    ("deface {inptu} -o {output}", "unknown placeholder {inptu}"),
    ("{input} {output}", "the program ('{input}') cannot be a placeholder"),
    ("", "command template is empty"),
])
def test_a_bad_template_is_refused_before_anything_changes_or_runs(project, capsys, template, words):
    folder, runs = project
    before = (folder / "params.yaml").read_bytes()
    assert cli.main(["audit", "--name", "mine", "--command", template]) == 2
    error = capsys.readouterr().err
    assert words in error and "nothing was changed" in error
    assert (folder / "params.yaml").read_bytes() == before and runs == []


@pytest.mark.parametrize(("options", "words"), [
    (["--name", "my tool"], "audits.my tool: expected a name of letters"),
    (["--name", "pixelate"], "audits.pixelate: expected a name no obfuscation family uses"),
    (["--name", "mine", "--max-probes", "0"], "audits.mine.max_probes: expected an integer >= 1, got 0"),
    (["--name", "mine", "--workers", "0"], "audits.mine.workers: expected an integer in [1, 256]"),
])
def test_a_bad_name_or_option_is_refused_naming_it(project, capsys, options, words):
    folder, runs = project
    before = (folder / "params.yaml").read_bytes()
    assert command.main([*options, "--command", "deface {input} -o {output}"]) == 2
    assert f"error: the options: {words}" in capsys.readouterr().err
    assert (folder / "params.yaml").read_bytes() == before and runs == []


def test_a_good_entry_is_written_keeping_the_comments_and_its_audit_runs(project):
    folder, runs = project
    before = (folder / "params.yaml").read_text()
    code = cli.main(["audit", "--name", "deface_default", "--command", "deface {input} -o {output}",
                     "--keep-going", "--max-probes", "200", "--version-command", "deface --version"])
    assert code == 3  # dvc repro's exit status
    assert len(runs) == 1 and runs[0][1:] == ["-m", "dvc", "repro", "audit@deface_default"]
    after = (folder / "params.yaml").read_text()
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in after.splitlines() if line.lstrip().startswith("#")]
    entry = load_config("params.yaml").audit("deface_default")
    assert (entry.command, entry.version_command, entry.keep_going, entry.max_probes, entry.workers) == (
        "deface {input} -o {output}", "deface --version", True, 200, 1)
    # another entry, then the first replaced whole and in place (no stale keep_going)
    assert command.main(["--name", "deface_solid", "--command", "deface {input} -o {output} --replacewith solid",
                         "--no-run"]) == 0
    assert command.main(["--name", "deface_default", "--command", "deface {input} -o {output} --boxes",
                         "--no-run"]) == 0
    assert len(runs) == 1
    study = load_config("params.yaml")
    assert list(study.audits) == ["deface_default", "deface_solid"]
    assert study.audit("deface_default").command == "deface {input} -o {output} --boxes"
    assert not study.audit("deface_default").keep_going and study.audit("deface_default").max_probes is None
    lines = (folder / "params.yaml").read_text().splitlines()
    assert "  deface_default: {command: 'deface {input} -o {output} --boxes'}" in lines
