"""Identification scoring: probes obfuscated and embedded in memory (flup/verify/identification.py), ranked fold by
fold (flup/evaluation/probe_outcomes.py), summarised and judged per cell (flup/evaluation/identification_cells.py),
and the adapters cross-fitted per fold (flup/pipeline/identify_attacker.py)."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest

from flup.data.identification import IdentityLeakError, identification_sets, identity_folds
from flup.evaluation.identification_cells import cell_rows, identification_cells
from flup.evaluation.probe_outcomes import OUTCOME_COLUMNS, outcome_table, outcomes_of
from flup.faces.detection import BOX_COLUMNS, LANDMARK_COLUMNS
from flup.pipeline.identify_attacker import fold_adapters
from flup.verify.identification import Condition, ProbeEmbeddings, conditions, embed_identification

DIM = 512


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


# --- embedding probes in memory ----------------------------------------------------------------------------


@pytest.fixture
def photos(tmp_path):
    """Four synthetic 120 px photos of two people (a bright square face on a grey ground, one colour per person),
    with a detection row each."""
    rows = []
    for person, colour in (("ann", (40, 160, 220)), ("bob", (200, 60, 30))):
        for k in range(2):
            image = np.full((120, 120, 3), 90 + 10 * k, np.uint8)
            image[30:90, 30:90] = colour
            image[45:50, 40:50] = 0  # eyes and a mouth, so the crop is not flat
            image[45:50, 70:80] = 0
            image[75:80, 50:70] = 0
            name = f"{person}/{person}_{k}.png"
            (tmp_path / person).mkdir(exist_ok=True)
            cv2.imwrite(str(tmp_path / name), image)
            row = {"image": name, "identity": person, "face_rule": "central", "status": "ok",
                   **dict(zip(BOX_COLUMNS, (30.0, 30.0, 90.0, 90.0), strict=True)),
                   **dict(zip(LANDMARK_COLUMNS, (45.0, 47.0, 75.0, 47.0, 60.0, 62.0, 50.0, 77.0, 70.0, 77.0),
                              strict=True))}
            rows.append(row)
    return tmp_path, pd.DataFrame(rows).set_index("image", drop=False)


class MeanColour:
    """A fake recogniser: each crop's mean colour per quadrant, spread over 512 dims; counts the crops it sees."""

    def __init__(self):
        self.seen = 0

    def __call__(self, crops):
        self.seen += len(crops)
        rows = np.zeros((len(crops), DIM), np.float32)
        for i, crop in enumerate(crops):
            h, w = crop.shape[:2]
            quads = [crop[:h // 2, :w // 2], crop[:h // 2, w // 2:], crop[h // 2:, :w // 2], crop[h // 2:, w // 2:]]
            rows[i, :12] = np.concatenate([q.reshape(-1, 3).mean(axis=0) for q in quads]) + 1.0
        return unit(rows)


def test_probes_are_embedded_once_per_distinct_crop_under_every_condition(photos):
    images, faces = photos
    gallery = pd.DataFrame({"fold": [0, 0], "identity": ["ann", "bob"], "image": ["ann/ann_0.png", "bob/bob_0.png"],
                            "target": [True, True], "usable_images": [2, 2]})
    probes = pd.DataFrame({"probe_id": [0, 1], "fold": [0, 0], "identity": ["ann", "bob"],
                           "image": ["ann/ann_1.png", "bob/bob_1.png"], "gallery_image": gallery["image"],
                           "weight": [1.0, 1.0]})
    wanted = conditions([("blur", 0), ("blackbox", 1)], [1.0, 1.3])
    assert wanted[1] == Condition("blur", 0.0, 1.3) and len(wanted) == 4

    missing = {"bob/bob_1.png"}

    def finder(image, face):  # finds every face except bob's probe, and only where it is not blacked out
        if face["image"] in missing or image[60, 60].sum() == 0:
            return None
        return np.array([[face[c] for c in LANDMARK_COLUMNS]], np.float32).reshape(5, 2)

    embed = MeanColour()
    scored = embed_identification(gallery, probes, faces, images, embed, wanted, ["oracle_box", "end_to_end"],
                                  "crop", 2, finder)
    assert scored.probes.shape == (2, 4, 2, DIM) and scored.missed.shape == (2, 4, 2)
    # unobfuscated: the same crop over either region, oracle box or re-detected on the same landmarks
    np.testing.assert_array_equal(scored.probes[0, 0], scored.probes[0, 1])
    np.testing.assert_array_equal(scored.probes[0, 0, 0], scored.probes[1, 0, 0])
    # a black box changes the crop; a larger box changes it more
    assert not np.allclose(scored.probes[0, 2], scored.probes[0, 0])
    assert not np.allclose(scored.probes[0, 3], scored.probes[0, 2])
    # end to end: bob's probe is missed everywhere, ann's only under the black box; a missed row stays zero
    assert scored.missed[0].sum() == 0
    assert scored.missed[1].tolist() == [[False, True], [False, True], [True, True], [True, True]]
    assert not scored.probes[1, 2, 0].any()
    # distinct crops only: 2 gallery + 2 sharp probes + 2 black-boxed ones (one per region: the two people's
    # probes share their ground, so a black box leaves the same crop)
    assert embed.seen == 6
    np.testing.assert_array_equal(scored.probes[0, 2, 0], scored.probes[0, 2, 1])


def test_a_restorer_sees_each_obfuscated_photo_before_it_is_cut(photos):
    images, faces = photos
    gallery = pd.DataFrame({"fold": [0, 0], "identity": ["ann", "bob"], "image": ["ann/ann_0.png", "bob/bob_0.png"],
                            "target": [True, True], "usable_images": [2, 2]})
    probes = pd.DataFrame({"probe_id": [0], "fold": [0], "identity": ["ann"], "image": ["ann/ann_1.png"],
                           "gallery_image": ["ann/ann_0.png"], "weight": [1.0]})
    wanted = [Condition("blur", 0.0, 1.0), Condition("blackbox", 1.0, 1.0)]
    calls = []

    def undo_black_box(image, face, condition):  # a perfect restorer: the sharp photo back
        calls.append((face["image"], condition))
        return cv2.imread(str(images / face["image"]))

    given = unit(np.arange(2 * DIM, dtype=np.float64).reshape(2, DIM) + 1)
    embed = MeanColour()
    restored = embed_identification(gallery, probes, faces, images, embed, wanted, ["oracle_box"], "crop", 4,
                                    restore=undo_black_box, gallery_vectors=given)
    assert calls == [("ann/ann_1.png", Condition("blackbox", 1.0, 1.0))]  # never at the unobfuscated level
    np.testing.assert_array_equal(restored.probes[0, 1], restored.probes[0, 0])  # restored = sharp
    np.testing.assert_array_equal(restored.gallery, given)
    assert embed.seen == 1  # the gallery was given; one distinct probe crop
    with pytest.raises(ValueError, match="oracle_box threat model only"):
        embed_identification(gallery, probes, faces, images, embed, wanted, ["oracle_box", "end_to_end"], "crop", 4,
                             finder=lambda image, face: None, restore=undo_black_box)
    with pytest.raises(ValueError, match="gallery_vectors"):
        embed_identification(gallery, probes, faces, images, embed, wanted, ["oracle_box"], "crop", 4,
                             gallery_vectors=given[:1])


def test_end_to_end_needs_a_finder_and_modes_are_checked(photos):
    images, faces = photos
    gallery = pd.DataFrame({"fold": [0], "identity": ["ann"], "image": ["ann/ann_0.png"], "target": [True],
                            "usable_images": [2]})
    probes = pd.DataFrame({"probe_id": [0], "fold": [0], "identity": ["ann"], "image": ["ann/ann_1.png"],
                           "gallery_image": ["ann/ann_0.png"], "weight": [1.0]})
    with pytest.raises(ValueError, match="needs a face finder"):
        embed_identification(gallery, probes, faces, images, MeanColour(), [Condition("blur", 8, 1.0)],
                             ["end_to_end"], "crop", 4)
    with pytest.raises(ValueError, match="unknown threat model"):
        embed_identification(gallery, probes, faces, images, MeanColour(), [Condition("blur", 8, 1.0)],
                             ["sideways"], "crop", 4)


def test_embeddings_survive_a_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    scored = ProbeEmbeddings(["g0", "g1"], unit(rng.normal(size=(2, DIM))), ["p0"], ["oracle_box"],
                             [Condition("blur", 8.0, 1.3)], unit(rng.normal(size=(1, DIM)))[None, None],
                             np.array([[[True]]]))
    scored.save(tmp_path / "e.npz")
    back = ProbeEmbeddings.load(tmp_path / "e.npz")
    assert back.conditions == scored.conditions and back.gallery_images == ["g0", "g1"]
    np.testing.assert_array_equal(back.probes, scored.probes)
    assert back.missed.tolist() == [[[True]]]


# --- ranking fold by fold ----------------------------------------------------------------------------------


def axis(i: int, scale: float = 1.0) -> np.ndarray:
    row = np.zeros(DIM, np.float32)
    row[i] = scale
    return row


def two_folds() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold 0: targets a, b, c and distractor x; fold 1: targets d, e. One probe per target."""
    gallery = pd.DataFrame({
        "fold": [0, 0, 0, 0, 1, 1], "identity": ["a", "b", "c", "x", "d", "e"],
        "image": ["a0", "b0", "c0", "x0", "d0", "e0"], "target": [True, True, True, False, True, True],
        "usable_images": [2, 2, 2, 1, 2, 2]})
    probes = pd.DataFrame({
        "probe_id": [0, 1, 2, 3, 4], "fold": [0, 0, 0, 1, 1], "identity": ["a", "b", "c", "d", "e"],
        "image": ["a1", "b1", "c1", "d1", "e1"], "gallery_image": ["a0", "b0", "c0", "d0", "e0"],
        "weight": [1.0] * 5})
    return gallery, probes


def hand_scored() -> ProbeEmbeddings:
    """Gallery entry k on axis k. Probe a: on a's axis (rank 1); probe b: nearer c, then b, then x (the distractor
    above no target but b); probe c: on x's axis (all three targets tie at 0); probes d, e: each on the other's
    axis. Order of the stored probes differs from the table's."""
    gallery_images = ["e0", "d0", "x0", "c0", "b0", "a0"]
    at = {image: i for i, image in enumerate(gallery_images)}
    gallery = np.stack([axis(i) for i in range(6)])
    probe_images = ["e1", "d1", "c1", "b1", "a1"]
    rows = {"a1": axis(at["a0"]), "b1": axis(at["c0"], 0.9) + axis(at["b0"], 0.5) + axis(at["x0"], 0.1),
            "c1": axis(at["x0"]), "d1": axis(at["e0"]), "e1": axis(at["d0"])}
    probes = np.stack([rows[name] for name in probe_images])[None, None]
    return ProbeEmbeddings(gallery_images, gallery, probe_images, ["oracle_box"], [Condition("blur", 8.0, 1.0)],
                           probes, np.zeros((1, 1, 5), bool))


def test_hand_worked_outcomes_fold_by_fold():
    gallery, probes = two_folds()
    table = outcome_table(hand_scored(), gallery, probes)
    assert list(table.columns) == OUTCOME_COLUMNS
    by_probe = table.set_index("identity")
    counts = ["targets_above", "targets_tied", "gallery_above", "gallery_tied"]
    assert by_probe.loc["a", counts].tolist() == [0, 0, 0, 0]
    assert by_probe.loc["b", counts].tolist() == [1, 0, 1, 0]
    # c's true entry scores 0, as do a and b (targets) while x scores 1
    assert by_probe.loc["c", counts].tolist() == [0, 2, 1, 2]
    assert by_probe.loc["d", ["targets_above", "n_targets", "n_gallery"]].tolist() == [1, 2, 2]
    assert by_probe.loc["a", ["n_targets", "n_gallery"]].tolist() == [3, 4]
    fold0 = outcomes_of(table[table["fold"] == 0])
    np.testing.assert_allclose(fold0.normalised_rank, [1.0, 0.5, 0.5])
    np.testing.assert_allclose(outcomes_of(table[table["fold"] == 1]).normalised_rank, [0.0, 0.0])


def test_a_transform_sees_each_fold_alone():
    gallery, probes = two_folds()
    seen = []

    def swap_fold1(fold, vectors):  # fold 1's probes swapped back onto their own axes
        seen.append((fold, len(vectors)))
        return vectors if fold == 0 else vectors[:, [1, 0, *range(2, DIM)]]

    table = outcome_table(hand_scored(), gallery, probes, swap_fold1)
    assert seen == [(0, 3), (1, 2)]
    assert table.loc[table["fold"] == 1, "targets_above"].tolist() == [0, 0]


def test_outcomes_of_refuses_rows_of_two_folds():
    gallery, probes = two_folds()
    with pytest.raises(ValueError, match="more than one fold"):
        outcomes_of(outcome_table(hand_scored(), gallery, probes))


# --- cells: pooling folds, the black box, replicas, verdicts -------------------------------------------------


def simulated_table(rng, n_targets: int, strength: dict[tuple[str, float], float], n_folds: int = 2,
                    recognizer: str = "arcface", train_seed: int | None = None) -> pd.DataFrame:
    """Outcome rows of a simulated attacker: per fold, one probe per target; the true identity's similarity is
    Normal(strength, 1) against Normal(0, 1) for every other gallery entry (strength 0: it learns nothing)."""
    from flup.evaluation.identification import outcomes_from_similarity

    tables = []
    for (kind, level), mu in strength.items():
        for fold in range(n_folds):
            sims = rng.normal(size=(n_targets, n_targets + 5))
            sims[np.arange(n_targets), np.arange(n_targets)] += mu
            is_target = np.r_[np.ones(n_targets, bool), np.zeros(5, bool)]
            out = outcomes_from_similarity(sims, np.arange(n_targets), is_target)
            tables.append(pd.DataFrame({
                "mode": "oracle_box", "obfuscation": kind, "level": level, "region": 1.0, "fold": fold,
                "probe_id": fold * n_targets + np.arange(n_targets),
                "identity": [f"p{fold}_{i}" for i in range(n_targets)], "weight": 1.0, "missed": out.missed,
                "targets_above": out.targets_above, "targets_tied": out.targets_tied,
                "gallery_above": out.gallery_above, "gallery_tied": out.gallery_tied,
                "n_targets": out.n_targets, "n_gallery": out.n_gallery}))
    table = pd.concat(tables, ignore_index=True).assign(recognizer=recognizer)
    return table if train_seed is None else table.assign(train_seed=train_seed)


def test_an_attacker_that_learns_nothing_is_covered_by_about_95_percent_of_intervals():
    rng = np.random.default_rng(7)
    covered = 0
    runs = 120
    for run in range(runs):
        cells = identification_cells(simulated_table(rng, 40, {("blur", 16.0): 0.0}), 200, run, 0.55, 0.8)
        auc = cells[0]["levels"][0]["metrics"]["auc"]
        covered += auc["low"] <= 0.5 <= auc["high"]
    assert 0.88 <= covered / runs <= 0.995


def test_a_planted_signal_is_found_and_judged_by_the_monotone_rule():
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    strength = {("blur", 0.0): 4.0, ("blur", 8.0): 1.5, ("blur", 16.0): 0.0, ("blur", 32.0): 0.0,
                ("blackbox", 1.0): 0.0}
    cells = {c["obfuscation"]: c for c in identification_cells(simulated_table(rng, 150, strength, n_folds=3),
                                                               400, 0, 0.55, 0.8, [10])}
    blur = cells["blur"]
    levels = {entry["level"]: entry for entry in blur["levels"]}
    planted = norm.cdf(1.5 / np.sqrt(2))  # P(N(1.5, 1) > N(0, 1))
    auc = levels[8.0]["metrics"]["auc"]
    assert auc["low"] <= planted <= auc["high"] and abs(auc["estimate"] - planted) < 0.03
    assert auc["n_clusters"] == 450 and levels[8.0]["n_probes"] == 450
    assert levels[8.0]["metrics"]["rank1@10"]["chance"] == pytest.approx(0.1)
    # the unobfuscated level is reported, never judged: private from 16, failed at 8
    absolute = blur["absolute"]
    assert (absolute["status"], absolute["level"], absolute["failed_below"]) == ("private", 16.0, 8.0)
    # paired against the black box over the same probes: a difference near 0 at 16 and 32, large at 8
    assert levels[8.0]["vs_blackbox"]["low"] > 0.2
    assert blur["relative"]["status"] in ("private", "undecided") and blur["relative"]["limit"] > 0
    assert cells["blackbox"]["relative"] is None and cells["blackbox"]["absolute"]["status"] == "private"
    flat = cell_rows(cells.values())
    assert {"auc", "auc_low", "rank1@10", "rank1@10_chance", "vs_blackbox"} <= set(flat.columns)
    assert len(flat) == 5


def test_a_leak_at_the_strongest_level_and_the_worst_replica_decides():
    rng = np.random.default_rng(5)
    weak = simulated_table(rng, 60, {("pixelate", 8.0): 0.0, ("pixelate", 16.0): 0.0}, recognizer="adapter",
                           train_seed=0)
    strong = simulated_table(rng, 60, {("pixelate", 8.0): 2.0, ("pixelate", 16.0): 2.0}, recognizer="adapter",
                             train_seed=1)
    cell = identification_cells(pd.concat([weak, strong], ignore_index=True), 200, 0, 0.55, 0.8)[0]
    assert cell["replicas"] == [0, 1]
    assert [entry["train_seed"] for entry in cell["levels"]] == [1, 1]
    assert cell["absolute"]["status"] == "leaks"


def test_arcface_without_replicas_beside_an_attacker_with_them():
    rng = np.random.default_rng(2)
    arcface = simulated_table(rng, 30, {("blur", 8.0): 1.0})
    attacker = simulated_table(rng, 30, {("blur", 8.0): 2.0}, recognizer="adapter", train_seed=0)
    cells = identification_cells(pd.concat([arcface, attacker], ignore_index=True), 100, 0, 0.55, 0.8)
    assert [(c["recognizer"], c["replicas"]) for c in cells] == [("arcface", []), ("adapter", [0])]
    assert cells[1]["levels"][0]["metrics"]["auc"]["estimate"] > cells[0]["levels"][0]["metrics"]["auc"]["estimate"]


def test_a_recogniser_without_a_black_box_is_paired_with_another_ones():
    rng = np.random.default_rng(4)
    arcface = simulated_table(rng, 40, {("blur", 8.0): 1.0, ("blackbox", 1.0): 0.0})
    restored = simulated_table(rng, 40, {("blur", 8.0): 3.0}, recognizer="restored")
    table = pd.concat([arcface, restored], ignore_index=True)

    def cells(**kwargs):
        return {(c["recognizer"], c["obfuscation"]): c for c in identification_cells(table, 100, 0, 0.55, 0.8,
                                                                                      **kwargs)}

    assert cells()[("restored", "blur")]["relative"] is None
    paired = cells(blackbox_from={"restored": "arcface"})
    level = paired[("restored", "blur")]["levels"][0]
    reference = paired[("arcface", "blackbox")]["levels"][0]["metrics"]["auc"]["estimate"]
    assert level["vs_blackbox"]["estimate"] == pytest.approx(level["metrics"]["auc"]["estimate"] - reference,
                                                             abs=1e-6)
    assert paired[("restored", "blur")]["relative"]["status"] == "leaks"


def test_undecided_names_the_identities_that_would_decide_it():
    rng = np.random.default_rng(11)
    table = simulated_table(rng, 25, {("blur", 16.0): 0.12})
    cell = identification_cells(table, 300, 0, 0.55, 0.8)[0]
    auc = cell["levels"][0]["metrics"]["auc"]
    assert auc["low"] < 0.55 < auc["high"], auc  # this seed's interval spans the bound
    assert cell["absolute"]["status"] == "undecided" and cell["absolute"]["n_needed"] > 50


# --- cross-fitted adapters -----------------------------------------------------------------------------------


def test_fold_adapters_train_on_the_other_folds_people_only(tmp_path):
    people = [f"p{i}" for i in range(12)]
    images = pd.DataFrame({"identity": np.repeat(people, 3), "image": [f"{p}_{k}" for p in people for k in range(3)]})
    folds = identity_folds(images, 3, 0).rename("fold").reset_index()
    sets = identification_sets(images, folds, 1, 0)
    rng = np.random.default_rng(0)
    n = len(images)
    cache = {"identities": images["identity"].to_numpy(dtype=str), "sharp": unit(rng.normal(size=(n, DIM))),
             "obfuscated": unit(rng.normal(size=(n * 2, DIM))).reshape(n, 2, DIM)}
    settings = SimpleNamespace(seed=0, adapter=SimpleNamespace(target="same_image", hidden=16, depth=1, epochs=1,
                                                               batch_size=64, lr=1e-3, weight_decay=0.0))
    adapters = fold_adapters(cache, folds, sets.gallery, sets.probes, settings, tmp_path)
    assert sorted(adapters) == [0, 1, 2]
    fold_of = folds.set_index("identity")["fold"]
    import json

    for fold in range(3):
        record = json.loads((tmp_path / f"fold{fold}.json").read_text())
        assert record["train_identities"] == int((fold_of != fold).sum())
        assert record["train_images"] == 3 * record["train_identities"]
        assert (tmp_path / f"fold{fold}.safetensors").is_file()


def test_a_probe_person_in_the_training_cache_is_refused(tmp_path, monkeypatch):
    import flup.pipeline.identify_attacker as driver

    people = [f"p{i}" for i in range(6)]
    images = pd.DataFrame({"identity": np.repeat(people, 2), "image": [f"{p}_{k}" for p in people for k in range(2)]})
    folds = identity_folds(images, 2, 0).rename("fold").reset_index()
    sets = identification_sets(images, folds, 1, 0)
    leaked = sorted(folds.loc[folds["fold"] == 0, "identity"])[0]  # the check names the first, sorted
    # a broken split that hands fold 0's people to its own training: the check must name one of them
    monkeypatch.setattr(driver, "training_people", lambda table, fold: set(table["identity"]))
    cache = {"identities": images["identity"].to_numpy(dtype=str), "sharp": np.ones((12, DIM), np.float32),
             "obfuscated": np.ones((12, 1, DIM), np.float32)}
    settings = SimpleNamespace(seed=0, adapter=SimpleNamespace(target="same_image", hidden=8, depth=1, epochs=1,
                                                               batch_size=8, lr=1e-3, weight_decay=0.0))
    with pytest.raises(IdentityLeakError, match=f"held-out fold 0: person '{leaked}'"):
        driver.fold_adapters(cache, folds, sets.gallery, sets.probes, settings, tmp_path)
def test_an_obfuscate_hook_replaces_the_studys_obfuscation_and_the_default_is_unchanged(photos):
    # an audited tool's photos enter through the hook (flup/audit/score.py); without it nothing changes
    images, faces = photos
    gallery = pd.DataFrame({"fold": [0, 0], "identity": ["ann", "bob"], "image": ["ann/ann_0.png", "bob/bob_0.png"],
                            "target": [True, True], "usable_images": [2, 2]})
    probes = pd.DataFrame({"probe_id": [0, 1], "fold": [0, 0], "identity": ["ann", "bob"],
                           "image": ["ann/ann_1.png", "bob/bob_1.png"], "gallery_image": gallery["image"],
                           "weight": [1.0, 1.0]})
    wanted = [Condition("blur", 0.0, 1.0), Condition("blackbox", 1.0, 1.0)]
    plain = embed_identification(gallery, probes, faces, images, MeanColour(), wanted, ["oracle_box"], "crop", 2)
    calls = []

    def swap(name, photo, face, condition):  # each probe shows the other person's photo
        calls.append((name, condition))
        other = "bob/bob_1.png" if name.startswith("ann") else "ann/ann_1.png"
        return cv2.imread(str(images / other))

    swapped = embed_identification(gallery, probes, faces, images, MeanColour(), wanted, ["oracle_box"], "crop", 2,
                                   obfuscate=swap)
    assert calls == [(name, c) for name in probes["image"] for c in wanted]
    np.testing.assert_array_equal(swapped.gallery, plain.gallery)
    # whatever the condition, each probe now embeds as the other person's sharp probe did
    for c in range(2):
        np.testing.assert_allclose(swapped.probes[0, c, 0], plain.probes[0, 0, 1], atol=1e-6)
        np.testing.assert_allclose(swapped.probes[0, c, 1], plain.probes[0, 0, 0], atol=1e-6)
    # the default obfuscated: the black box differs from the sharp probe
    assert not np.allclose(plain.probes[0, 1, 0], plain.probes[0, 0, 0])
    outcomes = outcome_table(swapped, gallery, probes)
    assert (outcomes["targets_above"] == 1).all()  # the wrong person ranks first: the hook's photos were scored
