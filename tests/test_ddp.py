"""Training under torchrun: two gloo processes on CPU train as one process does with their global batch.

Each rank takes a disjoint part of every global batch (flup/training/sharding.py) and the step runs in
DistributedDataParallel (flup/training/data_parallel.py), BatchNorm statistics taken over the global batch.
The two-process run and the one-process run see the same samples and should follow the same loss curve
and end at the same weights, up to float32 summation order: the gradient is a sum over the global batch
that DDP forms as (rank 0's part + rank 1's part) / 2, and BatchNorm's mean and variance come from
all-reduced sums instead of one pass. Measured differences and the tolerances: docs/scaling.md.
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
from flup.config.params import ParamError
from flup.models import model, sampling
from flup.models import trainer as dual
from flup.training import checkpoint, distributed, loop
from flup.training.sharding import shard

pytestmark = pytest.mark.slow  # torchrun processes

WORLD = 2
# Float32 values carry 7 digits; 1e-8 to 1.2e-7 was measured (docs/scaling.md): at least an 8x margin.
LOSS_RTOL = 1e-6  # relative, on each epoch's mean loss
WEIGHT_ATOL = 1e-6  # absolute, on every weight and buffer (weights of order 0.1, Adam steps of lr = 1e-3)


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
    write_images(folder)
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


def train_batchnorm_1d(folder: Path) -> dict:
    """fit on an MLP with a BatchNorm1d (the fine-tuned ArcFace keeps one on its embedding): 11 samples in
    global batches of 4 (the last, 3, split 2 + 1), 3 epochs, Adam; its running statistics are compared too."""
    torch.manual_seed(0)
    # No bias before the BatchNorm: its gradient is zero up to rounding, and Adam would turn that noise into
    # full-size steps, different for any summation order.
    net = torch.nn.Sequential(torch.nn.Linear(6, 8, bias=False), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 3))
    x, y = torch.randn(11, 6), torch.randn(11, 3)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    world = distributed.world()

    def batches(epoch: int):
        order = torch.from_numpy(np.random.default_rng([0, epoch]).permutation(len(x)))
        parts = [shard(rows, world) if world.size > 1 else (rows, None) for rows in order.split(4)]
        return [((x[rows], y[rows]), weight) if weight is not None else (x[rows], y[rows]) for rows, weight in parts]

    def loss(model, batch):
        inputs, targets = batch
        return torch.nn.functional.mse_loss(model(inputs), targets)

    history = loop.fit(net, optimizer, loss, batches, 3, progress=False)
    return {"losses": [r["loss"] for r in history], "state": net.state_dict()}


PEOPLE, PHOTOS = 5, 3


def write_images(folder: Path) -> None:
    """PEOPLE x PHOTOS noise images of 96 x 96 px, written losslessly (before the ranks start: they only read)."""
    rng = np.random.default_rng(1)
    (folder / "images").mkdir()
    for person in range(PEOPLE):
        for k in range(PHOTOS):
            image = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
            cv2.imwrite(str(folder / "images" / f"p{person}_{k}.png"), image)


def synthetic_frame(folder: Path) -> pd.DataFrame:
    """The images of :func:`write_images`, each with a central face box."""
    rows = [(str(folder / "images" / f"p{person}_{k}.png"), f"person{person}", 24.0, 24.0, 72.0, 72.0)
            for person in range(PEOPLE) for k in range(PHOTOS)]
    return pd.DataFrame(rows, columns=["path", "identity", "x1", "y1", "x2", "y2"])


def quadruplets(folder: Path) -> sampling.QuadrupletDataset:
    """7 quadruplets an epoch of the synthetic people, 32 px: global batches of 4 (split 2 + 2) and 3 (2 + 1)."""
    return sampling.QuadrupletDataset(synthetic_frame(folder), sampling.Policy(crop="random", blur="face_box"), 32,
                                      seed=0, samples_per_epoch=7)


DUAL_CFG = {"epochs": 2, "batch_size": 4, "lr": 1e-3, "device": "cpu", "feed": "cpu", "seed": 0}


def train_dual_stream(folder: Path) -> dict:
    """The dual-stream trainer's CPU feed and step (Trainer -> fit) with the model in float64, 2 epochs.
    Float64, because float32 gradients of this small random-init MobileNetV2 are off by 0.5% (median over
    its parameters, up to 5%) from the float64 ones: any change of summation order, two ranks included,
    moves them that much and Adam carries it into the weights. The triplet loss itself stays float32
    (loss_on_inputs casts the embeddings)."""
    net = model.build_dual_stream("gap", 32, "none", dim=8, seed=0).double()
    trainer = dual.Trainer(net, quadruplets(folder), DUAL_CFG)

    def loss64(m, batch):
        return dual.loss_on_inputs(m, {k: sampling.normalise(batch[k]).double() for k in dual.INPUT_KEYS})

    history = loop.fit(net, trainer.optimizer, loss64, trainer.batches, 2, progress=False)
    return {"losses": [r["loss"] for r in history], "state": net.state_dict()}


def device_feed_batches(folder: Path) -> list[dict]:
    """The device feed's batches (on CPU tensors) of 2 epochs: under torchrun this rank's parts."""
    net = model.build_dual_stream("gap", 32, "none", dim=8, seed=0)
    trainer = dual.Trainer(net, quadruplets(folder), {**DUAL_CFG, "feed": "device", "num_workers": 1})
    ranked = distributed.world().size > 1
    return [part if ranked else (part, 1.0) for epoch in (1, 2) for part in trainer.batches(epoch)]


def resume_dual_stream(folder: Path) -> dict:
    """trainer.train (float32, checkpoints in ``folder``) for 2 epochs straight, and for 1 epoch then resumed
    from its checkpoint for the second; which process wrote the checkpoints."""
    writes = []
    saved = dual.save_checkpoint

    def recorded(*args, **kwargs):
        writes.append(int(args[3]))
        return saved(*args, **kwargs)

    dual.save_checkpoint = recorded
    try:
        straight = model.build_dual_stream("gap", 32, "none", dim=8, seed=0)
        dual.train(straight, quadruplets(folder), None, DUAL_CFG, folder / "straight")
        resumed = model.build_dual_stream("gap", 32, "none", dim=8, seed=0)
        dual.train(resumed, quadruplets(folder), None, {**DUAL_CFG, "epochs": 1}, folder / "resumed")
        resumed = model.build_dual_stream("gap", 32, "none", dim=8, seed=1)  # resuming must not depend on it
        history = dual.train(resumed, quadruplets(folder), None, DUAL_CFG, folder / "resumed")
    finally:
        dual.save_checkpoint = saved
    return {"losses": [r["loss"] for r in history], "state": resumed.state_dict(), "straight": straight.state_dict(),
            "writes": writes}


JOBS = {"adapter": train_adapter, "batchnorm_1d": train_batchnorm_1d, "dual_stream": train_dual_stream,
        "device_feed": device_feed_batches, "resume": resume_dual_stream}


# --- the tests ---------------------------------------------------------------------------------------


def max_diff(first: dict, second: dict) -> float:
    assert first.keys() == second.keys()
    return max(float((first[k].double() - second[k].double()).abs().max()) for k in first)


def differences(ranked: dict, alone: dict) -> str:
    rel = max(abs(a / b - 1) for a, b in zip(ranked["losses"], alone["losses"], strict=True))
    return f"loss max rel diff {rel:.1e}, weight max abs diff {max_diff(ranked['state'], alone['state']):.1e}"


def assert_same_training(ranks: list[dict], alone: dict) -> None:
    for result in ranks:
        np.testing.assert_allclose(result["losses"], alone["losses"], rtol=LOSS_RTOL)
        assert max_diff(result["state"], alone["state"]) <= WEIGHT_ATOL
    # The ranks hold the very same weights: DDP hands every rank the same averaged gradient.
    assert max_diff(ranks[0]["state"], ranks[1]["state"]) == 0.0


def test_two_ranks_train_the_adapter_as_one_process_with_their_global_batch(ranks):
    alone = train_adapter(ranks["folder"])
    print(f"adapter: {differences(ranks['adapter'][0], alone)}")
    assert_same_training(ranks["adapter"], alone)


def test_batchnorm_1d_normalises_over_the_global_batch(ranks):
    alone = train_batchnorm_1d(ranks["folder"])
    print(f"batchnorm 1d: {differences(ranks['batchnorm_1d'][0], alone)}")
    assert_same_training(ranks["batchnorm_1d"], alone)


def test_two_ranks_train_the_dual_stream_model_as_one_process_with_their_global_batch(ranks):
    alone = train_dual_stream(ranks["folder"])
    print(f"dual-stream: {differences(ranks['dual_stream'][0], alone)}")
    assert_same_training(ranks["dual_stream"], alone)


def test_the_device_feed_gives_the_ranks_the_parts_of_the_global_batches(ranks):
    """The same quadruplets (plans), rendered per part: the batched float32 blur and resize matmuls round
    differently for another batch shape, so now and then a pixel lands one grey level away."""
    alone = device_feed_batches(ranks["folder"])
    first, second = ranks["device_feed"]
    assert len(first) == len(second) == len(alone) == 4
    grey_level = 1 / (255 * min(sampling.IMAGENET_STD)) + 1e-5
    changed = total = 0
    for (whole, _), (a, weight_a), (b, weight_b) in zip(alone, first, second, strict=True):
        assert (weight_a + weight_b) / 2 == 1.0
        for key in dual.INPUT_KEYS:
            difference = (torch.cat([a[key], b[key]]) - whole[key]).abs()
            assert float(difference.max()) <= grey_level
            changed, total = changed + int((difference > 1e-4).sum()), total + difference.numel()
    print(f"device feed: {changed} of {total} pixel values one grey level away")
    assert changed <= 1e-4 * total


def test_two_ranks_resume_from_the_checkpoint_only_rank_0_writes(ranks):
    first, second = ranks["resume"]
    # Resumed after epoch 1, the ranks end where an uninterrupted two-process run ends.
    for result in (first, second):
        assert max_diff(result["state"], result["straight"]) == 0.0
    assert first["writes"] == [1, 2, 1, 2]  # after each epoch: the straight run, then the interrupted one
    assert second["writes"] == []
    assert int(checkpoint.load_checkpoint(ranks["folder"] / "resumed" / checkpoint.CHECKPOINT)["epoch"]) == 2


def test_a_global_batch_smaller_than_the_world_is_refused():

    with pytest.raises(ParamError, match="cannot be shared by 2 processes"):
        shard([7], distributed.World(size=2, rank=1))
    assert shard(list(range(5)), distributed.World(size=2, rank=0)) == ([0, 1, 2], 1.2)
    assert shard(list(range(5)), distributed.World(size=2, rank=1)) == ([3, 4], 0.8)


def test_a_stage_reruns_itself_under_torchrun_when_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    distributed.relaunch(1, "stages.train", "random_blur")
    assert calls == []
    distributed.relaunch(3, "stages.train", "random_blur")
    assert calls[0][1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3", "-m", "stages.train",
                            "random_blur"]
    monkeypatch.setenv("WORLD_SIZE", "3")  # already a torchrun process: train
    distributed.relaunch(3, "stages.train", "random_blur")
    assert len(calls) == 1
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ParamError, match="train.nproc is 3 but this machine has 2 GPU"):
        distributed.relaunch(3, "stages.train", "random_blur", key="train.nproc")
