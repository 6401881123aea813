"""Where a stage's per-image work runs: in this process (``executor.kind: local``) or on Ray (``kind: ray``).

A stage hands :func:`map_items` its items and a *worker factory*: a picklable callable that, given an
intra-op thread count (None = the library's default) and whether to use a GPU, builds the per-image
function once per process (loading its ONNX session there). Both executors call that same function on
the same items and return its results in item order, so a stage's output does not depend on the
executor (tests/test_ray_executor.py checks it bit for bit). The Ray path is Ray Data's
``map_batches`` over a pool of ``workers`` actors (``ActorPoolStrategy``), each holding one worker;
Ray schedules, retries and streams. Items and results cross Ray pickled, so no Arrow conversion touches
them. Ray is imported only here and only for ``kind: ray``: the default path needs no Ray installed.

:class:`ActorPool` is the other shape of work: a stage that calls a batch function many times (scoring
embeds each level's crops, batch by batch: score_arcface, score_model, score_attacker) keeps ``workers``
long-lived actors for the whole stage (``ray.util.ActorPool``) rather than paying Ray Data's per-call
start-up on every call.
Details: docs/scaling.md.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from flup.cpu import pinned_environment

if TYPE_CHECKING:
    from flup.config.schema import Executor

Worker = Callable[[Any], Any]  # one item -> its result
WorkerFactory = Callable[[int | None, bool], Worker]  # (intra-op threads or None = default, use a GPU) -> a worker
log = logging.getLogger(__name__)


def map_items(items: Sequence[Any], make_worker: WorkerFactory, settings: Executor, desc: str) -> list[Any]:
    """The worker ``make_worker`` builds, applied to every item; results in item order, on ``settings``' executor."""
    if settings.kind == "local":
        work = make_worker(None, False)
        return [work(item) for item in tqdm(items, desc=desc, unit="img", mininterval=2.0)]
    return ray_map(items, make_worker, settings, desc)


class _Actor:
    """A Ray actor holding one worker: a batch of pickled items -> their pickled results."""

    def __init__(self, make_worker: WorkerFactory, threads: int | None, gpu: bool):
        self.work = make_worker(threads, gpu)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [pickle.dumps(self.work(pickle.loads(blob)), protocol=5) for blob in batch["item"]]
        out = np.empty(len(results), dtype=object)
        out[:] = results
        return {"index": batch["index"], "result": out}


def connect(settings: Executor) -> None:
    """Join the Ray cluster at ``settings.address`` (None: start one on this machine); no-op if already joined."""
    import ray

    if ray.is_initialized():
        return
    # A cluster's workers run this tree's flup (shipped with the job: the same code, the same bits); its
    # nodes need the other requirements installed and the images and weights at the paths this machine uses.
    runtime_env = {} if settings.address is None else {"py_modules": [str(Path(__file__).parent)]}
    pinned = pinned_environment()  # the stages' kernels (flup/cpu.py), whatever environment a worker starts in
    if pinned:
        runtime_env["env_vars"] = pinned
    ray.init(address=settings.address, include_dashboard=False, log_to_driver=True,  # workers' warnings
             logging_level=logging.WARNING, runtime_env=runtime_env or None)
    log.info("ray: %s", ray.cluster_resources())


def ray_map(items: Sequence[Any], make_worker: WorkerFactory, settings: Executor, desc: str) -> list[Any]:
    """:func:`map_items` on Ray Data: ``settings.workers`` actors, ``settings.batch_size`` items per batch."""
    import ray

    connect(settings)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours below counts images
    context.verbose_stats_logs = False
    if not items:
        return []
    rows = [{"index": i, "item": pickle.dumps(item, protocol=5)} for i, item in enumerate(items)]
    blocks = max(1, min(-(-len(rows) // settings.batch_size), 8 * settings.workers))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        _Actor, fn_constructor_kwargs={"make_worker": make_worker, "threads": settings.cpus_per_worker,
                                         "gpu": settings.gpus_per_worker > 0},
        batch_size=settings.batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=settings.workers),
        num_cpus=settings.cpus_per_worker, num_gpus=settings.gpus_per_worker or None)
    results: list[Any] = [None] * len(items)
    done = np.zeros(len(items), dtype=bool)
    with tqdm(total=len(items), desc=f"{desc} (ray)", unit="img", mininterval=2.0) as bar:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for index, blob in zip(batch["index"], batch["result"], strict=True):
                results[int(index)] = pickle.loads(blob)
                done[int(index)] = True
            bar.update(len(batch["index"]))
    if not done.all():
        raise RuntimeError(f"{desc}: Ray returned {int(done.sum())} of {len(items)} results")
    return results


class _BatchActor:
    """A Ray actor holding one batch worker: a list of items -> an array of rows, one per item."""

    def __init__(self, make_worker: WorkerFactory, threads: int | None, gpu: bool):
        self.work = make_worker(threads, gpu)

    def ready(self) -> bool:
        return True

    def run(self, items: list[Any], *args: Any) -> np.ndarray:
        return np.asarray(self.work(items, *args))


class ActorPool(AbstractContextManager):
    """``settings.workers`` long-lived Ray actors, each holding one *batch* worker ``make_worker`` builds (a list
    of items -> an array with one row per item), for the whole life of the pool.

    Calling the pool with a list of items (and any further arguments, passed to the worker with every piece)
    cuts it into ``chunk``-item pieces (the last one shorter), runs the pieces on the actors
    (``ray.util.ActorPool``: each actor one piece at a time, the next piece to the first free one) and returns
    the rows concatenated in item order. The pieces are the batches ``engine.in_batches(items, chunk)`` makes,
    so a worker whose rows depend on their batch (torch) gets the batches it gets in-process. ``width`` =
    ``chunk`` x workers items a call keep every actor busy. The actors reserve ``cpus_per_worker`` CPUs (the
    worker's threads) and ``gpus_per_worker`` GPUs (> 0: the worker is asked for a GPU); a crashed actor is
    restarted and its piece run again (workers are pure functions of their items). Leaving the ``with`` block
    ends the actors.
    """

    def __init__(self, make_worker: WorkerFactory, settings: Executor, chunk: int):
        import ray
        from ray.util import ActorPool as RayActorPool

        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        connect(settings)
        self.chunk = int(chunk)
        self.width = self.chunk * settings.workers
        actor = ray.remote(num_cpus=settings.cpus_per_worker, num_gpus=settings.gpus_per_worker or None,
                           max_restarts=2, max_task_retries=2)(_BatchActor)
        gpu = settings.gpus_per_worker > 0
        self.actors = [actor.remote(make_worker, settings.cpus_per_worker, gpu) for _ in range(settings.workers)]
        try:
            ray.get([a.ready.remote() for a in self.actors])  # built (sessions loaded) before the first call
        except BaseException:
            self.close()
            raise
        self.pool = RayActorPool(self.actors)

    def __call__(self, items: Sequence[Any], *args: Any) -> np.ndarray:
        pieces = [list(items[start:start + self.chunk]) for start in range(0, len(items), self.chunk)] or [[]]
        return np.concatenate(list(self.pool.map(lambda actor, piece: actor.run.remote(piece, *args), pieces)))

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []

    def __exit__(self, *exc_info) -> None:
        self.close()
