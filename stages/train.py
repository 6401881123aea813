"""train@<model>: one dual-stream model of the model table -> data/models/<model>/."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from flup.config import load_config, run_stage
from flup.faces.detection import BOX_COLUMNS
from flup.io import read_table, write_json
from flup.log import get_logger
from flup.models import embedding, model, training
from flup.models.sampling import Policy, QuadrupletDataset

IMAGES = Path("data/raw/lfw/images")
FACES = Path("data/faces/lfw.parquet")
PROTOCOLS = Path("data/protocols")


def training_frame(protocol: str) -> pd.DataFrame:
    train = read_table(PROTOCOLS / protocol / "train.csv")
    faces = read_table(FACES)
    frame = train.merge(faces[faces["status"] == "ok"][["image", *BOX_COLUMNS]], on="image", how="inner")
    frame["path"] = [str((IMAGES / image).resolve()) for image in frame["image"]]
    return frame


def data_digest(*frames: pd.DataFrame) -> str:
    """sha256 of the training and validation images and their face boxes."""
    digest = hashlib.sha256()
    for frame in frames:
        for row in frame[["image", *BOX_COLUMNS]].itertuples(index=False):
            digest.update(f"{row[0]},{row[1]:.3f},{row[2]:.3f},{row[3]:.3f},{row[4]:.3f}\n".encode())
        digest.update(b"--\n")
    return digest.hexdigest()


def main(name: str) -> None:
    log = get_logger(f"train@{name}")
    cfg = load_config()
    settings = cfg.train_settings(name)  # train: with the variant's overrides
    policy = Policy(**cfg.policy(name).model_dump())
    protocol = settings.protocol
    started = time.monotonic()

    frame = training_frame(protocol)
    train_frame, val_frame = embedding.split_identities(frame, settings.val_fraction, settings.seed)
    dataset = QuadrupletDataset(train_frame, policy, settings.input_size, seed=settings.seed,
                                positive=settings.positive, samples_per_epoch=settings.samples_per_epoch)
    net = model.build_dual_stream(settings.head, settings.input_size, settings.pretrained, seed=settings.seed)
    device = training.resolve_device(settings.device)
    validate = embedding.validation_auc_fn(val_frame, policy, settings.input_size, settings.val_pairs, settings.seed,
                                           device=device)

    checkpoints = Path("data/checkpoints") / name
    # A checkpoint is resumed only when everything but the epoch count, the workers and the device
    # matches: same settings, same policy and the same training images and boxes.
    fingerprint = {k: v for k, v in settings.model_dump().items() if k not in ("epochs", "num_workers", "device")}
    fingerprint["policy"] = vars(policy)
    fingerprint["data_sha256"] = data_digest(train_frame, val_frame)
    stamp = checkpoints / "settings.json"
    if stamp.exists() and json.loads(stamp.read_text()) != json.loads(json.dumps(fingerprint)):
        log.info("settings changed since the last checkpoint: starting over")
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    write_json(stamp, fingerprint)

    from dvclive import Live

    checkpoint = checkpoints / training.CHECKPOINT
    # A checkpoint that cannot be resumed (corrupt, or trained past train.epochs) is moved aside here, with a warning.
    state = training.load_checkpoint(checkpoint, resume_epochs=settings.epochs) if checkpoint.exists() else None
    earlier = state["history"] if state else []
    with Live(dir=f"dvclive/{name}", resume=False, save_dvc_exp=False, dvcyaml=False) as live:
        for record in earlier:  # a resumed run logs its earlier epochs again, so the curves are whole
            live.step = record["epoch"] - 1
            live.log_metric("train/loss", record["loss"])
            if record["val_auc"] is not None:
                live.log_metric("val/auc", record["val_auc"])
            live.next_step()
        history = training.train(net, dataset, validate, training.TrainConfig.from_params(settings.model_dump()),
                                 checkpoints, live=live)

    out = Path("data/models") / name
    model.save_weights(net.cpu(), out / "model.safetensors")
    write_json(out / "meta.json", {
        "name": name, "policy": vars(policy), "head": settings.head, "input_size": settings.input_size,
        "protocol": protocol, "positive": settings.positive, "epochs": settings.epochs,
        "train_identities": int(train_frame["identity"].nunique()), "train_images": len(train_frame),
        "val_identities": int(val_frame["identity"].nunique()), "history": history,
    })
    last = history[-1] if history else {}
    log.info("%s on %s: %d identities, %d samples/epoch, %d epochs; last loss %.4f, val AUC %s; %.0f s",
             name, protocol, len(dataset.identities), len(dataset), len(history), last.get("loss", float("nan")),
             last.get("val_auc"), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.train <name from params.yaml variants>")
    run_stage(main, sys.argv[1])
