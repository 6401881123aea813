"""The study's one training loop (flup.training.loop.fit), on a one-parameter model with known losses."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from flup.training.loop import fit, train_epoch


class Scalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))


def known_loss(model: nn.Module, batch: float) -> torch.Tensor:
    """A loss whose value is the batch itself, as float32 (w - w is exactly 0), and whose gradient is 1."""
    return (model.weight - model.weight.detach()) + batch


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)


def test_the_epoch_loss_is_the_running_mean_of_the_step_losses():
    model = Scalar()
    # Worked by hand: (0.1 + 0.2 + 0.4) / 3 with each term exactly the float32 value the loss tensor holds.
    steps = [0.1, 0.2, 0.4]
    expected = (float(np.float32(0.1)) + float(np.float32(0.2)) + float(np.float32(0.4))) / 3
    assert train_epoch(model, sgd(model), known_loss, steps, progress=False) == expected
    assert model.training
    assert float(model.weight.detach()) == pytest.approx(-0.3)  # three SGD steps of gradient 1 at lr 0.1


def test_a_given_mean_reduces_the_step_losses():
    model = Scalar()
    seen = []

    def record(losses: list[float]) -> float:
        seen.extend(losses)
        return -1.0

    assert train_epoch(model, sgd(model), known_loss, [1.0, 2.0], mean=record, progress=False) == -1.0
    assert seen == [1.0, 2.0]


def test_fit_continues_after_the_resumed_epochs_and_validates_in_eval_mode():
    model = Scalar()
    calls = []

    def validate(net: nn.Module) -> dict:
        calls.append((net.training, torch.is_grad_enabled()))
        return {"val": 7}

    ends = []
    history = fit(model, sgd(model), known_loss, lambda epoch: [float(epoch)], 3, validate=validate,
                  resumed=(1, [{"epoch": 1, "loss": 9.0}]), on_epoch_end=lambda e, h: ends.append((e, len(h))),
                  progress=False)
    assert history == [{"epoch": 1, "loss": 9.0}, {"epoch": 2, "loss": 2.0, "val": 7},
                       {"epoch": 3, "loss": 3.0, "val": 7}]
    assert calls == [(False, False), (False, False)]
    assert ends == [(2, 2), (3, 3)]


def test_fit_stops_at_the_deadline_before_starting_an_epoch():
    model = Scalar()
    history = fit(model, sgd(model), known_loss, lambda epoch: [1.0], 5, deadline=time.monotonic() - 1,
                  progress=False)
    assert history == []
