"""CUDA checks before the GPU study: device, bf16, and that training stays reproducible there.

    python -m benchmarks.gpu_check --data .gpu/part1 [--out DIR] [--allow-cpu]

1. Two short runs with the same seed (device feed, bf16, cuDNN fixed algorithms) must end with
   identical weights: ``same seed -> same weights on the same device and software``.
2. Two epochs straight vs one epoch, then a second resumed from its checkpoint: identical weights.
3. The device feed's float16 matmuls (the CUDA default) against float32: grey levels apart.
Prints one line per check and writes ``gpu_check.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402

from benchmarks.train_throughput import training_frame  # noqa: E402
from flup.models import model, trainer  # noqa: E402
from flup.models.device_feed import DeviceFeed, ImageStore  # noqa: E402
from flup.models.sampling import IMAGENET_STD, SLOTS, VARIANTS, Policy, QuadrupletDataset  # noqa: E402


def digest(net: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in net.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        raise SystemExit("CUDA is not available")
    device = "cuda" if cuda else "cpu"
    report = {"torch": torch.__version__, "cuda": torch.version.cuda,
              "device": torch.cuda.get_device_name(0) if cuda else "cpu"}
    print(json.dumps(report))
    frame = training_frame(args.data / "images", args.data / "tables" / "faces.parquet", 60)
    dataset = QuadrupletDataset(frame, Policy.from_params(VARIANTS["random_crop_blur"]), args.size,
                                samples_per_epoch=96)
    started = time.perf_counter()
    store = ImageStore(sorted(set(dataset.paths)), device)
    cfg = {"epochs": 2, "batch_size": 32, "num_workers": 4, "device": device, "seed": 0, "feed": "device",
           "precision": "bf16"}
    runs = []
    for _ in range(2):
        net = model.build_dual_stream("flatten", args.size, "none", seed=0)
        with tempfile.TemporaryDirectory() as out:
            history = trainer.train(net, dataset, None, cfg, out, store=store)
        runs.append((digest(net), [round(h["loss"], 6) for h in history]))
    report["same_seed_same_weights"] = runs[0][0] == runs[1][0]
    report["runs"] = runs
    with tempfile.TemporaryDirectory() as out:
        net = model.build_dual_stream("flatten", args.size, "none", seed=0)
        trainer.train(net, dataset, None, {**cfg, "epochs": 1}, out, store=store)
        net = model.build_dual_stream("flatten", args.size, "none", seed=0)
        trainer.train(net, dataset, None, cfg, out, store=store)
        report["resumed_equals_straight"] = digest(net) == runs[0][0]
    std = torch.tensor(IMAGENET_STD, device=store.device).view(1, 3, 1, 1) * 255
    half = DeviceFeed(dataset, store).batch(1, range(64))
    full = DeviceFeed(dataset, store, matmul_dtype=torch.float32).batch(1, range(64))
    levels = torch.cat([((half[k].float() - full[k].float()) * std).abs().flatten() for k in SLOTS])
    report["feed_fp16_vs_fp32_levels"] = {"mean": float(levels.mean()), "max": float(levels.max())}
    print(f"device feed, float16 vs float32 matmuls: {report['feed_fp16_vs_fp32_levels']} grey levels")
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(f"same seed -> same weights: {report['same_seed_same_weights']} {runs}")
    print(f"resumed (1 + 1 epochs) == straight (2 epochs): {report['resumed_equals_straight']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
