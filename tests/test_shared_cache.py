"""The shared cache (docs/scaling.md): a DVC remote on S3-compatible storage, here moto's S3 server on 127.0.0.1.

The tiny study is pushed with its run cache; a colleague's fresh clone (what git holds: code, params, dvc.lock and
the uncached metrics/, plots/, dvclive/ this project commits; no DVC cache, no data/) pulls it, and `dvc repro` runs
no stage: every cached output, the trained models and their checkpoints included, comes back from the bucket.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import copy_study, dvc, require_scaling
from tests.test_pipeline_e2e import stages_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUCKET = "flup-cache"
GIT = ["git", "-c", "user.name=flup-tests", "-c", "user.email=tests@flup.invalid"]


@pytest.fixture
def s3_endpoint(monkeypatch):
    """An S3 endpoint on 127.0.0.1 (moto's server in a thread) with one empty bucket; credentials in the env."""
    require_scaling("dvc_s3", "moto.server", "boto3")
    import boto3
    from moto.server import ThreadedMotoServer

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "flup-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "flup-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def bucket_keys(url: str) -> list[str]:
    import boto3

    pages = boto3.client("s3", endpoint_url=url, region_name="us-east-1").get_paginator("list_objects_v2")
    return [item["Key"] for page in pages.paginate(Bucket=BUCKET) for item in page.get("Contents", [])]


def run_entries(project: Path) -> set[str]:
    runs = project / ".dvc/cache/runs"
    return {str(path.relative_to(runs)) for path in runs.rglob("*") if path.is_file()}


def data_files(project: Path) -> dict[str, str]:
    """``{path: md5}`` of every file under data/ but the .gitignore files DVC writes."""
    return {str(path.relative_to(project)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted((project / "data").rglob("*")) if path.is_file() and path.name != ".gitignore"}


def test_pushed_run_cache_lets_a_fresh_clone_repro_without_running_a_stage(tiny_study, tmp_path, s3_endpoint):
    start = time.monotonic()
    study = copy_study(tiny_study, tmp_path / "study")
    # the remote as docs/scaling.md adds it; the endpoint is a project setting, the credentials stay in the env
    dvc(study, "remote", "add", "-d", "shared", f"s3://{BUCKET}/flup")
    dvc(study, "remote", "modify", "shared", "endpointurl", s3_endpoint)
    dvc(study, "push", "--run-cache")
    keys = bucket_keys(s3_endpoint)
    assert any(key.startswith("flup/runs/") for key in keys), "no run-cache entry was pushed"
    assert any(key.startswith("flup/files/md5/") for key in keys)
    pushed = {path.relative_to(study): path.read_bytes() for path in sorted((study / "metrics").glob("*.json"))}
    assert {str(p) for p in pushed} == {"metrics/protocols.json", "metrics/verification.json", "metrics/privacy.json",
                                        "metrics/learning_curve.json", "metrics/identification.json",
                                        "metrics/identification_protocol.json"}

    # The colleague's clone: what git holds (code, params, dvc.lock, and the uncached metrics/, plots/ and
    # dvclive/ that this project commits), no DVC cache, no data: the outputs DVC caches are git-ignored.
    subprocess.run(["git", "add", "-A"], cwd=study, check=True, capture_output=True)
    subprocess.run([*GIT, "commit", "-qm", "the tiny study, reproduced"], cwd=study, check=True)
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(study), str(fresh)], check=True)
    assert not (fresh / ".dvc/cache").exists()
    assert {path.name for path in (fresh / "data").rglob("*") if path.is_file()} == {".gitignore"}
    assert (fresh / "dvc.lock").read_bytes() == (study / "dvc.lock").read_bytes()

    dvc(fresh, "pull", "--run-cache")
    assert run_entries(fresh) == run_entries(study) and len(run_entries(study)) > 20
    log = dvc(fresh, "repro").stdout
    assert stages_run(log) == set(), log
    skipped = re.findall(r"Stage '([^']+)' didn't change, skipping", log)
    assert {"fetch", "train@random_blur", "train_attacker@finetune_fixed", "evaluate", "report"} <= set(skipped)
    assert len(skipped) == len(set(re.findall(r"Running stage '([^']+)'", (study / "first_repro.log").read_text())))
    for path, content in pushed.items():
        assert (fresh / path).read_bytes() == content, path
    # every DVC-tracked output (models and checkpoints included) came back from the bucket, byte for byte
    outputs = data_files(study)
    assert len(outputs) > 300 and "data/checkpoints/random_blur/seed0/checkpoint.pt" in outputs
    assert data_files(fresh) == outputs
    assert "Data and pipelines are up to date" in dvc(fresh, "status").stdout
    print(f"push, clone, pull and repro: {time.monotonic() - start:.1f} s")
