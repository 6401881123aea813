"""Assemble the two data folders a lent GPU needs for the seed-scale study, and print the two commands.

    python -m benchmarks.gpu_bundle [--data data] [--lfw ../shared/data/lfw/lfw-deepfunneled]

A call's working tree travels with at most 64 MiB, so the data goes in two calls on one warm machine.
Call 1 copies part1 to ``/tmp/flup-part1`` on the device machine: on 2026-11-30 a carried folder did not survive
into the next call (call 2 carried only part2 and found no ``.gpu/part1``), so the models trained on part2's
images alone; a copy outside the checkout is meant to stay while the machine is warm (untested so far):

- ``.gpu/part1``: ``tables/`` (faces of the needed images, view1 train and test pairs, provenance)
  and as many view1 training images as fit in ``--part1-mib``; call 1 checks CUDA and
  reproducibility and measures the throughput benchmark on these images.
- ``.gpu/part2``: the remaining training images, the view1 test pair images, MobileNetV2's
  IMAGENET1K_V1 weights and ``tables/`` again; call 2 trains and scores (benchmarks/gpu_session.py).

If call 2 lands on a fresh machine (part1 gone), it trains on part2's images alone and says so in its
report (``train_images`` against ``train_images_listed``). ``.gpu/`` is git-ignored; it travels only
through ``carry``. Before printing the commands this checks each part's size plus the working tree
against the 64 MiB limit, and that the session script imports with dvc, insightface, dvclive and
onnx2torch unavailable (as on the device machine). flup.config needs pydantic and ruamel.yaml, which
the device lacks: their wheels (this venv's versions, for CPython 3.12) travel in each part's ``whl/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from flup.models import model

REPO = Path(__file__).resolve().parents[1]
GPU = REPO / ".gpu"
LIMIT_MIB = 64
MISSING_THERE = ("dvc", "dvclive", "insightface", "onnx2torch")
# flup.config needs these and the device lacks them: carried as wheels (pure Python, pydantic_core for cp312),
# at the versions installed here.
WHEELS = ("pydantic", "pydantic_core", "annotated-types", "typing-inspection", "typing_extensions", "ruamel.yaml")
PIP_PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]


def fetch_wheels(dest: Path) -> None:
    """Download the carried wheels once (pip, from the package index) into ``dest``."""
    from importlib.metadata import version

    dest.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}=={version(name)}" for name in WHEELS]
    have = {w.name.split("-")[0].lower().replace("_", "").replace(".", "") for w in dest.glob("*.whl")}
    missing = [w for w in wanted if w.split("==")[0].lower().replace("_", "").replace("-", "").replace(".", "")
               not in have]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *PIP_PLATFORM,
                        "-d", str(dest), *missing], check=True)


def tree_mib() -> float:
    """MiB of what travels besides carried paths: tracked and untracked-not-ignored files."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / p.decode()).stat().st_size for p in out if p and (REPO / p.decode()).is_file()) / 2**20


def folder_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def copy_images(names: list[str], lfw: Path, dest: Path) -> None:
    for name in names:
        target = dest / "images" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw / name, target)


def import_check() -> None:
    """The session script must import where dvc, pydantic, insightface... are not installed."""
    blocker = (f"import sys; [sys.modules.__setitem__(m, None) for m in {MISSING_THERE!r}]; "
               "import benchmarks.gpu_session, benchmarks.train_throughput, benchmarks.gpu_check")
    done = subprocess.run([sys.executable, "-c", blocker], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the GPU scripts import a module the device lacks:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO / "data", help="holds faces/lfw.parquet, protocols/view1")
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled")
    parser.add_argument("--part1-mib", type=float, default=40.0)
    args = parser.parse_args()
    faces = pd.read_parquet(args.data / "faces" / "lfw.parquet")
    train = pd.read_csv(args.data / "protocols" / "view1" / "train.csv")
    pairs = pd.read_csv(args.data / "protocols" / "view1" / "pairs.csv")
    test_images = sorted(set(pairs["image_a"]) | set(pairs["image_b"]))
    counts = train["identity"].value_counts()
    train_images = sorted(train[train["identity"].isin(counts[counts >= 2].index)]["image"])
    print(f"view1: {len(train_images)} training images (people with >= 2), {len(test_images)} test pair images")

    part1, part2 = GPU / "part1", GPU / "part2"
    for part in (part1, part2):
        if part.exists():
            shutil.rmtree(part)
    fetch_wheels(GPU / "wheels")
    tables = {"view1_train.csv": train, "view1_pairs.csv": pairs}
    needed = set(train_images) | set(test_images)
    provenance = {"git_commit": git("rev-parse", "HEAD"), "git_dirty": bool(git("status", "--porcelain", "-uno")),
                  "bundled": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                  "faces": str(args.data / "faces" / "lfw.parquet"), "lfw": str(args.lfw)}
    for part in (part1, part2):
        (part / "tables").mkdir(parents=True)
        faces[faces["image"].isin(needed)].to_parquet(part / "tables" / "faces.parquet", index=False)
        for name, table in tables.items():
            table.to_csv(part / "tables" / name, index=False)
        (part / "tables" / "provenance.json").write_text(json.dumps(provenance, indent=1))
        shutil.copytree(GPU / "wheels", part / "whl")

    budget = args.part1_mib * 2**20 - sum(f.stat().st_size for f in (part1 / "tables").iterdir())
    first, used = [], 0
    for name in train_images:
        size = (args.lfw / name).stat().st_size
        if used + size > budget:
            break
        first.append(name)
        used += size
    copy_images(first, args.lfw, part1)
    copy_images(train_images[len(first):] + test_images, args.lfw, part2)
    weights = model.locate_mobilenet_v1_weights()
    model.verify_hash_prefix(weights)
    shutil.copyfile(weights, part2 / weights.name)

    tree = tree_mib()
    sizes = {"part1": folder_mib(part1), "part2": folder_mib(part2)}
    print(f"working tree that travels: {tree:.1f} MiB; part1 {sizes['part1']:.1f} MiB ({len(first)} training "
          f"images); part2 {sizes['part2']:.1f} MiB ({len(train_images) - len(first)} training + "
          f"{len(test_images)} test images + weights)")
    for name, size in sizes.items():
        if tree + size > LIMIT_MIB - 1:
            raise SystemExit(f"{name}: {tree:.1f} + {size:.1f} MiB exceeds the {LIMIT_MIB} MiB a call may carry")
    import_check()
    print(f"import check passed ({', '.join(MISSING_THERE)} blocked)\n")

    install = ("python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "
               "/tmp/site {part}/whl/*.whl && export PYTHONPATH=/tmp/site || exit 1; ")
    head = "export PYTHONUNBUFFERED=1; set -o pipefail; "
    call1 = (head + install.format(part=".gpu/part1") + "cp -r .gpu/part1 /tmp/flup-part1; "
             "nvidia-smi --query-gpu=name,memory.total,driver_version "
             "--format=csv; python3 -m benchmarks.gpu_check --data .gpu/part1 --out $OUT 2>&1 | tee $OUT/check.txt; "
             "python3 -m benchmarks.train_throughput --images .gpu/part1/images "
             "--faces .gpu/part1/tables/faces.parquet --max-people 2000 --input-size 224 --head flatten "
             "--batch-sizes 64,128,256,512 --precisions fp32,bf16 --feeds model,device,cpu --cpu-feed-batch 256 "
             "--workers 12 --steps 8 --warmup 3 --cudnn-benchmark --json $OUT/throughput.json 2>&1 "
             "| tee $OUT/throughput.txt")
    call2 = (head + install.format(part=".gpu/part2") + "ls .gpu /tmp/flup-part1; python3 -m benchmarks.gpu_session "
             "--data /tmp/flup-part1 --data .gpu/part2 --out $OUT --deadline 520 --score-reserve 90 2>&1")
    for label, command, carry, timeout in (("call 1", call1, ".gpu/part1", 300), ("call 2", call2, ".gpu/part2", 600)):
        if len(command) > 2000:
            raise SystemExit(f"{label} is {len(command)} characters (limit 2000)")
        print(f"--- {label}: carry [\"{carry}\"], timeout_s {timeout} ({len(command)} characters)")
        print(command + "\n")


if __name__ == "__main__":
    main()
