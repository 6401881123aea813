"""score_arcface [dataset]: per-pair cosine similarities of the ArcFace baseline.

LFW -> data/scores/arcface.parquet; an evaluation-only dataset -> data/scores/<name>/arcface.parquet. Every embedding
it computes is saved too (data/embeddings/arcface.npz, data/embeddings/<name>/arcface.npz) for the adapter attackers.
The scoring engine is flup/verify/engine.py (the attackers score through it too); with ``executor.kind: ray``
ArcFace's embeddings are computed on Ray actors (flup/executor.py), the same bits.
"""

from __future__ import annotations

import sys
import time
from functools import partial

from flup.config import load_config, run_stage
from flup.config.paths import LFW, arcface_embeddings, dataset_paths
from flup.executor import ActorPool
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline import model_files
from flup.verify import engine
from flup.verify.scored_set import load_test_set


def main(name: str = LFW) -> None:
    log = get_logger("score_arcface" if name == LFW else f"score_arcface@{name}")
    cfg = load_config()
    paths = dataset_paths(cfg, name)
    started = time.monotonic()
    arcface = cfg.arcface
    model = model_files.recognizer_file(cfg)
    test = load_test_set(paths, cfg.render.obfuscated_side)
    score = partial(engine.score_arcface, test, paths.images, paths.render, paths.name, model,
                    modes=arcface.modes, embeddings_out=arcface_embeddings(name))
    if cfg.executor.kind == "local":
        scores = score(arcface.batch_size)
    else:  # the crops embedded on Ray actors (docs/scaling.md), arcface.batch_size crops a piece
        with ActorPool(engine.ArcFaceWorker(model), cfg.executor, arcface.batch_size) as pool:
            scores = score(pool.width, embed=pool)
    write_table(paths.scores / "arcface.parquet", scores)
    counts = scores["status"].value_counts().to_dict()
    log.info("%d pair scores (%s); %.0f s", len(scores), ", ".join(f"{k}={v}" for k, v in counts.items()),
             time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
