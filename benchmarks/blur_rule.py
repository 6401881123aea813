"""The two blur rules on LFW view2, side by side: ArcFace's AUC and end-to-end detection rate.

    python -m benchmarks.blur_rule --data ../flup-default-run/data [--levels 8 24] [--n-boot 1000]

``render.blur_border: crop`` (the default since 2026-11-30) blurs the face box's own pixels, as the seed's
``arcface_baseline.py`` and the redaction tools do (``cv2.GaussianBlur`` on the crop, reflected border);
``context`` (flup's earlier rule) blurs with the surrounding image as context and pastes the box back. For
each rule this renders view2's obfuscated side at ``--levels`` through the render stage's code and scores it
with the ArcFace stage's code in both threat models, in a scratch project whose data/ links to ``--data`` (a
folder with raw/lfw/images, faces/lfw.parquet, protocols/: the detect and protocols stages' outputs). It
prints a markdown table: AUC with its bootstrap 95% interval, and the end-to-end re-detection rate.
Checked in as benchmarks/blur_rule.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from flup.config import load_config
from flup.config.paths import LFW, dataset_paths
from flup.config.profiles import merge
from flup.evaluation.verification import evaluate_group, validate_scores
from flup.pipeline import model_files
from flup.pipeline.render import render_dataset
from flup.verify import engine
from flup.verify.scored_set import load_test_set

REPO = Path(__file__).resolve().parents[1]
NO_OTHER_FAMILY = {"pixelate": [], "blackbox": [], "deface": [], "face_gaussian": [], "face_pixelate": []}


def scratch_project(root: Path, data: Path, rule: str, levels: list[float]) -> Path:
    """A folder with params.yaml for view2 at ``levels`` under ``rule`` and data/ linked to the inputs."""
    project = root / rule
    (project / "data" / "raw").mkdir(parents=True)
    (project / "data" / "raw" / "lfw").symlink_to((data / "raw" / "lfw").resolve())
    (project / "data" / "faces").symlink_to((data / "faces").resolve())
    (project / "data" / "protocols").symlink_to((data / "protocols").resolve())
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()), {
        "render": {"protocols": ["view2"], "baseline_only": [], "blur_border": rule,
                   "obfuscations": {"blur": levels, **NO_OTHER_FAMILY}},
        "arcface": {"modes": ["end_to_end", "oracle_box"]}})
    params["attackers"] = {}  # no attacker here: view2 alone is a valid render plan
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def measure(project: Path, n_boot: int) -> tuple[list[dict], float]:
    """Render and score the project's view2; one row per (mode, level) and the seconds it took."""
    os.chdir(project)
    cfg = load_config(project / "params.yaml")
    started = time.monotonic()
    render_dataset(cfg)
    paths = dataset_paths(cfg, LFW)
    test = load_test_set(paths, cfg.render.obfuscated_side)
    scores = engine.score_arcface(test, paths.images, paths.render, LFW, model_files.recognizer_file(cfg),
                                  cfg.arcface.batch_size, cfg.arcface.modes)
    seconds = time.monotonic() - started
    rows = []
    checked = validate_scores(scores)
    for (mode, level), group in checked.groupby(["mode", "level"]):
        summary = evaluate_group(group, n_boot, seed=0)
        rows.append({"mode": mode, "level": level, **summary})
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--levels", type=float, nargs="+", default=[8.0, 24.0])
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                            check=False).stdout.strip()
    results = {}
    with tempfile.TemporaryDirectory(prefix="blur_rule_") as tmp:
        for rule in ("crop", "context"):
            project = scratch_project(Path(tmp), args.data, rule, args.levels)
            results[rule], seconds = measure(project, args.n_boot)
            print(f"{rule}: rendered and scored in {seconds:.0f} s", flush=True)
        os.chdir(REPO)
    print(f"\nLFW view2, ArcFace w600k_mbf, SCRFD-500M det 320; commit {commit}; nproc {os.cpu_count()}\n")
    print("| threat model | σ | rule | pairs | ROC AUC [95% CI] | detection rate |\n|---|---|---|---|---|---|")
    for mode in ("oracle_box", "end_to_end"):
        for level in args.levels:
            for rule in ("crop", "context"):
                row = next(r for r in results[rule] if r["mode"] == mode and r["level"] == level)
                print(f"| {mode} | {level:g} | {rule} | {row['n_pairs']} | {row['auc']:.3f} "
                      f"[{row['auc_low']:.3f}, {row['auc_high']:.3f}] | {row['detection_rate']:.1%} |")


if __name__ == "__main__":
    main()
