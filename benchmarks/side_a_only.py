"""How much of an AUC the sharp side alone explains, at one rendered level.

    python -m benchmarks.side_a_only RECOGNIZER [RECOGNIZER ...] --level blur 192 2.0 [--seeds 0 1 2]

Run in a project whose ``dvc repro`` rendered the level and trained the attackers (RECOGNIZER: ``arcface`` or an
entry of ``attackers:``). A pair's score is cos(sharp a, obfuscated b). If b carries no identity, the AUC should be
0.5 — unless the score still depends on a alone and matched and mismatched pairs draw their a images from different
populations (LFW's matched pairs come from people with several photos). This prints, per recogniser and seed:

- ``auc``: the real AUC of view1's test pairs the recogniser may score (as score_attacker scores them);
- ``b_mean``: every b embedding replaced by their mean, so the score is a function of a alone;
- ``b_shuffled``: b embeddings permuted over the pairs (median of 200 permutations): same b population, no pairing;
- ``in_class``: b permuted within the matched pairs and within the mismatched ones (median of 200): each label keeps
  its own a and b populations, only who is paired with whom is lost; ``p``: the share of those permutations whose
  AUC reaches the real one (a permutation test of "b tells the pair's person apart from its population").

``b_mean`` and ``b_shuffled`` near ``auc`` mean the AUC is the a population's, not what b reveals.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from flup.attack.recognizer import load
from flup.config import load_config
from flup.config.paths import ARCFACE_EMBEDDINGS, ATTACKERS, LFW, dataset_paths, protocol_files, replica
from flup.faces.detection import landmarks_of
from flup.io import read_json
from flup.obfuscation import render
from flup.pipeline import model_files
from flup.verify import engine, recognition
from flup.verify.scored_set import load_test_set, training_people, unseen_by

PROTOCOL = "view1"
PERMUTATIONS = 200


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def side_a_aucs(a: np.ndarray, b: np.ndarray, labels: np.ndarray, seed: int,
                permutations: int = PERMUTATIONS) -> dict[str, float]:
    """``auc``, ``b_mean`` and ``b_shuffled`` (module docstring) of pairs whose sides embed to rows ``a`` and ``b``
    (row i: pair i; cosine scores; ``labels`` 1 = same person)."""
    a, b = unit(a), unit(b)
    rng = np.random.default_rng(seed)
    auc = roc_auc_score(labels, (a * b).sum(1))
    shuffled = [roc_auc_score(labels, (a * b[rng.permutation(len(b))]).sum(1)) for _ in range(permutations)]
    classes = [np.flatnonzero(labels == label) for label in (0, 1)]
    in_class = []
    for _ in range(permutations):
        order = np.arange(len(b))
        for rows in classes:
            order[rows] = rng.permutation(rows)
        in_class.append(roc_auc_score(labels, (a * b[order]).sum(1)))
    return {"auc": auc, "b_mean": roc_auc_score(labels, a @ b.mean(0)), "b_shuffled": float(np.median(shuffled)),
            "in_class": float(np.median(in_class)), "p": float(np.mean(np.asarray(in_class) >= auc))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recognizers", nargs="+")
    parser.add_argument("--level", nargs=3, metavar=("KIND", "LEVEL", "REGION"), required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    kind, level, region = args.level[0], float(args.level[1]), float(args.level[2])
    torch.set_grad_enabled(False)
    cfg = load_config()
    paths = dataset_paths(cfg, LFW)
    full_test = load_test_set(paths, cfg.render.obfuscated_side)
    sharp_side = full_test.sharp_side
    obf_side = "a" if sharp_side == "b" else "b"
    store = render.RenderStore(render.store_path(paths.render, kind, level, region))
    onnx = model_files.recognizer_file(cfg)
    print(f"{kind} {level:g} over {region:g}x the box, {PROTOCOL}, oracle box; sharp side {sharp_side}")
    print("| recogniser | seed | pairs | auc | b_mean | b_shuffled | in_class | p |\n|---|---|---|---|---|---|---|---|")
    for name in args.recognizers:
        for seed in ([0] if name == "arcface" else args.seeds):
            test = full_test
            if name == "arcface":
                recognizer = engine.arcface(onnx, cfg.arcface.batch_size)
            else:
                folder = replica(ATTACKERS / name, seed)
                meta = read_json(folder / "meta.json")
                people = training_people(protocol_files(meta["protocol"])[0])
                test = unseen_by(full_test, paths.name, meta["protocol"], people)
                recognizer = load(name, folder, meta, onnx, 64, torch.device("cpu"), ARCFACE_EMBEDDINGS)
            pairs = test.pairs[PROTOCOL]
            pairs = pairs[pairs[f"image_{sharp_side}"].isin(test.sharp_images)
                          & pairs[f"image_{obf_side}"].isin(store.names)]
            sharp_names = sorted(set(pairs[f"image_{sharp_side}"]))
            obf_names = sorted(set(pairs[f"image_{obf_side}"]))
            faces = test.faces
            sharp_crops = {n: recognition.align(engine.read_image(paths.images, n), landmarks_of(faces.loc[n]))
                           for n in sharp_names}
            obf_crops = {n: recognition.align(store.obfuscated(n, engine.read_image(paths.images, n)),
                                              landmarks_of(faces.loc[n])) for n in obf_names}
            sharp = engine.embed_named(recognizer.embed_sharp, sharp_crops, recognizer.batch_size)
            obfuscated = engine.embed_named(recognizer.embed_obfuscated, obf_crops, recognizer.batch_size)
            found = side_a_aucs(np.stack([sharp[n] for n in pairs[f"image_{sharp_side}"]]),
                                np.stack([obfuscated[n] for n in pairs[f"image_{obf_side}"]]),
                                pairs["label"].to_numpy(), seed)
            print(f"| {name} | {seed} | {len(pairs)} | {found['auc']:.3f} | {found['b_mean']:.3f} | "
                  f"{found['b_shuffled']:.3f} | {found['in_class']:.3f} | {found['p']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
