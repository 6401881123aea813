"""Each torchrun rank's part of every global batch.

A global batch is what one process would train on (``batch_size`` consecutive keys of the seeded
sample order, the last one possibly shorter); rank ``r`` of ``W`` takes its ``r``-th contiguous part, the
sizes differing by at most one. The union of the ranks' parts is the one-process batch, so ``batch_size``
stays the global batch and the samples drawn do not depend on ``W``.

A part's *weight* ``W * n_r / N`` scales its mean loss so that DistributedDataParallel's gradient
average (the ranks' mean) is the gradient of the global batch's mean loss when the parts are unequal;
equal parts have weight exactly 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from flup.config.params import ParamError
from flup.training.distributed import World


def bounds(n: int, world: World) -> tuple[int, int]:
    """``[start, stop)`` of this rank's part of a global batch of ``n`` (``numpy.array_split``'s rule)."""
    base, extra = divmod(n, world.size)
    start = world.rank * base + min(world.rank, extra)
    return start, start + base + (world.rank < extra)


def shard(batch: Sequence, world: World):
    """This rank's part of a global batch (any sliceable sequence) and its loss weight."""
    n = len(batch)
    if n < world.size:
        raise ParamError(f"a batch of {n} sample(s) cannot be shared by {world.size} processes: choose a "
                         "batch size (and sample count) that leaves every process at least one sample per batch")
    start, stop = bounds(n, world)
    return batch[start:stop], world.size * (stop - start) / n


def global_batches(keys: Sequence, batch_size: int) -> Iterator[Sequence]:
    for start in range(0, len(keys), batch_size):
        yield keys[start:start + batch_size]


class ShardedBatchSampler:
    """A DataLoader ``batch_sampler``: this rank's part of each global batch of ``sampler``'s epoch."""

    def __init__(self, sampler, batch_size: int, world: World) -> None:
        self.sampler, self.batch_size, self.world = sampler, int(batch_size), world

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self) -> Iterator[list]:
        for batch in global_batches(list(self.sampler), self.batch_size):
            yield list(shard(batch, self.world)[0])

    def weights(self) -> list[float]:
        """The parts' loss weights, in the order :meth:`__iter__` yields them."""
        return [shard(batch, self.world)[1] for batch in global_batches(range(len(self.sampler)), self.batch_size)]
