"""Training under torchrun: the process group, this process's rank, and which process writes.

``torchrun --nproc_per_node N -m stages.train <name>`` starts N processes with ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. :func:`world` reads them and, the first time it is
asked with ``WORLD_SIZE`` > 1, joins the process group (NCCL for CUDA tensors and gloo for CPU ones when a
GPU is present, gloo alone otherwise) and makes ``cuda:LOCAL_RANK`` this process's GPU. Without torchrun it
is the one-process world and nothing here touches ``torch.distributed``.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from flup.config.params import ParamError

# Rank 0 may work alone for a while (a checkpoint, validation on a large set) while the others wait.
TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


ALONE = World()
_joined: World | None = None


def world() -> World:
    """This process's place among the torchrun processes (joining their group on the first call)."""
    global _joined
    if _joined is not None:
        return _joined
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return ALONE
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=TIMEOUT,
                                **({"device_id": torch.device("cuda", local)} if cuda else {}))
        atexit.register(leave)
    _joined = World(size=dist.get_world_size(), rank=dist.get_rank(), local_rank=local)
    return _joined


def leave() -> None:
    """Leave the process group (registered at exit; tests call it to reuse a process)."""
    global _joined
    if dist.is_initialized():
        dist.destroy_process_group()
    _joined = None


def barrier() -> None:
    if world().size > 1:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[World]:
    """Rank 0 runs the block first (it may write: move a bad checkpoint aside, make folders); the other
    ranks run it after rank 0 is done, so they see what it wrote."""
    here = world()
    if not here.is_main:
        barrier()
    yield here
    if here.is_main:
        barrier()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (a decision all ranks must share)."""
    if world().size == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """Element-wise mean of ``values`` over the ranks, in float64 (a copy; the input is left as is)."""
    total = values.detach().to(torch.float64).clone()
    dist.all_reduce(total)
    return total / world().size


def relaunch(nproc: int, module: str, *args: str, key: str = "nproc") -> None:
    """Unless already under torchrun, with ``nproc`` > 1 replace this process by ``torchrun --standalone
    --nproc_per_node nproc -m module args`` (a DVC stage keeps its one command; ``key`` names the setting
    in errors). Returns only when this process is to train itself."""
    if nproc <= 1 or "WORLD_SIZE" in os.environ:
        return
    gpus = torch.cuda.device_count()
    if torch.cuda.is_available() and nproc > gpus:
        raise ParamError(f"{key} is {nproc} but this machine has {gpus} GPU(s): one process per GPU")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={nproc}", "-m", module, *args])
