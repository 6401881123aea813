"""Training under torchrun: two gloo processes on CPU train as one process does with their global batch.

Each rank takes a disjoint part of every global batch (flup/models/sharding.py) and the step runs in
DistributedDataParallel (flup/models/data_parallel.py), BatchNorm statistics taken over the global batch.
The two-process run and the one-process run see the same samples and should follow the same loss curve
and end at the same weights, up to float32 summation order: the gradient is a sum over the global batch
that DDP forms as (rank 0's part + rank 1's part) / 2, BatchNorm's mean and variance come from
all-reduced sums instead of one pass, and Adam turns gradient differences of a few ulps into weight
differences of about lr * 1e-6. Measured (2026-11-30, 2-core CPU): see docs/scaling.md.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from flup.attack import adapter
from flup.models import distributed, model, sampling, training

WORLD = 2
LOSS_RTOL = 1e-5  # relative, on each epoch's mean loss
WEIGHT_ATOL = 1e-5  # absolute, on every weight and buffer (Adam's steps are lr = 1e-3 in size)
DUAL_LOSS_RTOL = 1e-6  # the dual-stream model runs in float64, its loss in float32 (see train_dual_stream)
DUAL_WEIGHT_ATOL = 1e-6


@pytest.fixture(autouse=True)
def one_thread():
    """Thread counts change oneDNN's summation order; the ranks run one thread each, so does the reference."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, folder: str) -> None:
    os.environ.update(WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        results = {name: job(Path(folder)) for name, job in JOBS.items()}
        torch.save(results, Path(folder) / f"result-{rank}.pt")
    finally:
        distributed.leave()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> dict:
    """Every job of JOBS in WORLD spawned processes joined over gloo on 127.0.0.1 (one spawn: starting the
    processes costs more than the jobs); per job, each rank's result, and under "folder" where they ran."""
    folder = tmp_path_factory.mktemp("ranks")
    mp.spawn(_rank_main, args=(free_port(), str(folder)), nprocs=WORLD, join=True)
    results = [torch.load(folder / f"result-{rank}.pt", weights_only=True) for rank in range(WORLD)]
    return {"folder": folder, **{name: [result[name] for result in results] for name in JOBS}}


# --- the jobs: the study's trainers, small -----------------------------------------------------------


def train_adapter(folder: Path) -> dict:
    """The adapter attacker's trainer (flup.attack.adapter.train -> fit): 37 samples in global batches of 8,
    so the last batch (5) splits unevenly, 3 + 2."""
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((37, 16)).astype(np.float32)
    targets = inputs + 0.3 * rng.standard_normal((37, 16)).astype(np.float32)
    torch.manual_seed(0)  # the hidden layer's initialisation comes from torch's global generator
    net = adapter.EmbeddingAdapter(16, hidden=32, depth=2)
    history = adapter.train(net, inputs, targets, epochs=3, batch_size=8, lr=1e-3, weight_decay=0.01, seed=0)
    return {"losses": [r["loss"] for r in history], "state": net.state_dict()}


def synthetic_frame(folder: Path) -> pd.DataFrame:
    """5 people x 3 noise images of 96 x 96 px, written losslessly, with a central face box."""
    rows = []
    images = folder / "images"
    images.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    for person in range(5):
        for k in range(3):
            path = images / f"p{person}_{k}.png"
            if not path.exists():
                cv2.imwrite(str(path), rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
            rows.append((str(path), f"person{person}", 24.0, 24.0, 72.0, 72.0))
    return pd.DataFrame(rows, columns=["path", "identity", "x1", "y1", "x2", "y2"])


def quadruplets(folder: Path) -> sampling.QuadrupletDataset:
    """7 quadruplets an epoch of the synthetic people, 32 px: global batches of 4 (split 2 + 2) and 3 (2 + 1)."""
    return sampling.QuadrupletDataset(synthetic_frame(folder), sampling.Policy(crop="random", blur="face_box"), 32,
                                      seed=0, samples_per_epoch=7)


DUAL_CFG = {"epochs": 2, "batch_size": 4, "lr": 1e-3, "device": "cpu", "feed": "cpu", "seed": 0}


def train_dual_stream(folder: Path) -> dict:
    """The dual-stream trainer's feed and step (Trainer -> fit) with the model in float64, 2 epochs. Float64,
    because float32 MobileNetV2 gradients at this size carry about 1% rounding noise (docs/scaling.md), which
    any change of summation order, two ranks included, turns into different weights; the triplet loss itself
    stays float32 (loss_on_inputs casts the embeddings)."""
    net = model.build_dual_stream("gap", 32, "none", dim=8, seed=0).double()
    trainer = training.Trainer(net, quadruplets(folder), DUAL_CFG)

    def loss64(m, batch):
        return training.loss_on_inputs(m, {k: sampling.normalise(batch[k]).double() for k in training.INPUT_KEYS})

    history = training.fit(net, trainer.optimizer, loss64, trainer.batches, 2, progress=False)
    return {"losses": [r["loss"] for r in history], "state": net.state_dict()}


def resume_dual_stream(folder: Path) -> dict:
    """training.train (float32, checkpoints in ``folder``) for 2 epochs straight, and for 1 epoch then resumed
    from its checkpoint for the second; which process wrote the checkpoints."""
    writes = []
    saved = training.save_checkpoint

    def recorded(*args, **kwargs):
        writes.append(int(args[3]))
        return saved(*args, **kwargs)

    training.save_checkpoint = recorded
    try:
        straight = model.build_dual_stream("gap", 32, "none", dim=8, seed=0)
        training.train(straight, quadruplets(folder), None, DUAL_CFG, folder / "straight")
        resumed = model.build_dual_stream("gap", 32, "none", dim=8, seed=0)
        training.train(resumed, quadruplets(folder), None, {**DUAL_CFG, "epochs": 1}, folder / "resumed")
        resumed = model.build_dual_stream("gap", 32, "none", dim=8, seed=1)  # resuming must not depend on it
        history = training.train(resumed, quadruplets(folder), None, DUAL_CFG, folder / "resumed")
    finally:
        training.save_checkpoint = saved
    return {"losses": [r["loss"] for r in history], "state": resumed.state_dict(), "straight": straight.state_dict(),
            "writes": writes}


JOBS = {"adapter": train_adapter, "dual_stream": train_dual_stream, "resume": resume_dual_stream}


# --- the tests ---------------------------------------------------------------------------------------


def max_diff(first: dict, second: dict) -> float:
    assert first.keys() == second.keys()
    return max(float((first[k].double() - second[k].double()).abs().max()) for k in first)


def differences(ranked: dict, alone: dict) -> str:
    rel = max(abs(a / b - 1) for a, b in zip(ranked["losses"], alone["losses"], strict=True))
    return f"loss max rel diff {rel:.1e}, weight max abs diff {max_diff(ranked['state'], alone['state']):.1e}"


def assert_same_training(ranks: list[dict], alone: dict, loss_rtol: float = LOSS_RTOL,
                         weight_atol: float = WEIGHT_ATOL) -> None:
    for result in ranks:
        np.testing.assert_allclose(result["losses"], alone["losses"], rtol=loss_rtol)
        assert max_diff(result["state"], alone["state"]) <= weight_atol
    # The ranks hold the very same weights: DDP hands every rank the same averaged gradient.
    assert max_diff(ranks[0]["state"], ranks[1]["state"]) == 0.0


def test_two_ranks_train_the_adapter_as_one_process_with_their_global_batch(ranks, tmp_path):
    alone = train_adapter(tmp_path)
    print(f"adapter: {differences(ranks['adapter'][0], alone)}")
    assert_same_training(ranks["adapter"], alone)


def test_two_ranks_train_the_dual_stream_model_as_one_process_with_their_global_batch(ranks, tmp_path):
    alone = train_dual_stream(tmp_path)
    print(f"dual-stream: {differences(ranks['dual_stream'][0], alone)}")
    assert_same_training(ranks["dual_stream"], alone, loss_rtol=DUAL_LOSS_RTOL, weight_atol=DUAL_WEIGHT_ATOL)


def test_two_ranks_resume_from_the_checkpoint_only_rank_0_writes(ranks):
    first, second = ranks["resume"]
    # Resumed after epoch 1, the ranks end where an uninterrupted two-process run ends.
    for result in (first, second):
        assert max_diff(result["state"], result["straight"]) == 0.0
    assert first["writes"] == [1, 2, 1, 2]  # after each epoch: the straight run, then the interrupted one
    assert second["writes"] == []
    assert int(training.load_checkpoint(ranks["folder"] / "resumed" / training.CHECKPOINT)["epoch"]) == 2


def test_a_global_batch_smaller_than_the_world_is_refused():
    from flup.config.params import ParamError
    from flup.models.sharding import shard

    with pytest.raises(ParamError, match="cannot be shared by 2 processes"):
        shard([7], distributed.World(size=2, rank=1))
    assert shard(list(range(5)), distributed.World(size=2, rank=0)) == ([0, 1, 2], 1.2)
    assert shard(list(range(5)), distributed.World(size=2, rank=1)) == ([3, 4], 0.8)
