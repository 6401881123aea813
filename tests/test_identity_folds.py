"""Identity folds, their galleries and probes, cross-fitting, and verification pairs balanced to chance 0.5."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from flup.data import lfw
from flup.data.balanced_pairs import balanced_pairs, deranged_partners
from flup.data.identification import (
    GALLERY_COLUMNS,
    PROBE_COLUMNS,
    IdentityLeakError,
    fold_summary,
    identification_sets,
    identity_folds,
    require_unseen,
    training_people,
)
from flup.data.protocols import PAIR_COLUMNS
from flup.verify.metrics import roc_auc


def photos(counts: dict[str, int]) -> pd.DataFrame:
    """An images table (identity, image) with ``counts[person]`` photos of each person."""
    return pd.DataFrame([(person, f"{person}/{person}_{i:04d}.jpg") for person, n in counts.items()
                         for i in range(1, n + 1)], columns=["identity", "image"])


def synthetic(people: int = 400, seed: int = 7) -> pd.DataFrame:
    """LFW-shaped: most people have one photo, a few have many, one has hundreds."""
    rng = np.random.default_rng(seed)
    counts = {f"P{i:04d}": int(n) for i, n in enumerate(np.minimum(rng.zipf(1.8, people), 60))}
    counts.update({f"P{i:04d}": n for i, n in enumerate([300, 200, 150, 120, 100, 90, 80])})
    return photos(counts)


HAND = {"Ann": 5, "Bob": 2, "Cid": 3, "Dan": 1, "Eve": 1, "Fay": 1}


@pytest.fixture(scope="module")
def images() -> pd.DataFrame:
    return synthetic()


# --- folds ---------------------------------------------------------------------------------------------------


def test_folds_are_seeded_and_ignore_row_order(images):
    folds = identity_folds(images, 5, seed=3)
    shuffled = images.sample(frac=1, random_state=1).reset_index(drop=True)
    assert identity_folds(shuffled, 5, seed=3).equals(folds)
    assert identity_folds(images, 5, seed=3).equals(folds)
    assert not identity_folds(images, 5, seed=4).equals(folds)
    assert folds.name == "fold" and folds.index.name == "identity" and folds.index.is_unique
    assert set(folds.index) == set(images["identity"]) and set(folds) == set(range(5))


@pytest.mark.parametrize("n_folds", [2, 3, 5, 7])
def test_folds_spread_each_stratum_and_the_biggest_identities(images, n_folds):
    folds = identity_folds(images, n_folds, seed=0)
    count = images.groupby("identity").size()
    table = pd.DataFrame({"fold": folds, "photos": count})
    for stratum in (table["photos"] >= 2, table["photos"] == 1, table["photos"] >= 0):
        sizes = table[stratum].groupby("fold").size().reindex(range(n_folds), fill_value=0)
        assert sizes.max() - sizes.min() <= 1, sizes.to_dict()
    biggest = count.sort_values(ascending=False).index[:n_folds]
    assert folds[biggest].nunique() == n_folds  # the n_folds most photographed people land in different folds


def test_a_pinned_split_is_the_same_on_every_machine():
    # sha256 keys, not hash() or a numpy stream: these values may only change with the algorithm itself
    assert identity_folds(photos(HAND), 2, seed=0).to_dict() == {
        "Ann": 1, "Bob": 0, "Cid": 0, "Dan": 0, "Eve": 1, "Fay": 1}


def test_eligible_photos_decide_who_is_a_target():
    images = photos({"Ann": 2, "Bob": 2, "Cid": 2, "Dan": 1, "Gus": 2, "Hal": 1})
    eligible = pd.Series(images["image"] != "Ann/Ann_0002.jpg", index=images.index)
    reordered = eligible.sample(frac=1, random_state=0)  # a Series is aligned on the index, not by position
    folds = identity_folds(images, 2, seed=0, eligible=reordered)
    gallery, probes = identification_sets(images, folds, 2, seed=0, eligible=reordered)
    assert gallery.set_index("identity")["target"].to_dict() == {
        "Ann": False, "Bob": True, "Cid": True, "Dan": False, "Gus": True, "Hal": False}
    assert "Ann/Ann_0002.jpg" not in set(gallery["image"]) | set(probes["image"])
    unusable = pd.Series(images["identity"] != "Dan", index=images.index)
    folds = identity_folds(images, 2, seed=0, eligible=unusable)
    assert "Dan" in folds.index  # a person with no usable photo still has a fold (never a training person there)
    assert "Dan" not in set(identification_sets(images, folds, 1, 0, eligible=unusable).gallery["identity"])


@pytest.mark.parametrize("n_folds, message", [
    (1, "n_folds: need at least 2"), (0, "n_folds"), (True, "n_folds"), (2.0, "n_folds"),
    (4, r"n_folds = 4: only 3 people have two or more usable photos"),
])
def test_bad_n_folds_is_named(n_folds, message):
    with pytest.raises(ValueError, match=message):
        identity_folds(photos(HAND), n_folds, seed=0)


def test_bad_tables_are_named():
    with pytest.raises(ValueError, match=r"missing \['identity'\]"):
        identity_folds(pd.DataFrame({"image": ["a.jpg"]}), 2, 0)
    with pytest.raises(ValueError, match="'Ann/Ann_0001.jpg' is listed more than once"):
        identity_folds(pd.concat([photos(HAND), photos({"Ann": 1})]), 2, 0)
    with pytest.raises(ValueError, match="eligible: must be 13 booleans"):
        identity_folds(photos(HAND), 2, 0, eligible=[True] * 3)


# --- gallery and probes --------------------------------------------------------------------------------------


def test_hand_built_gallery_and_probes():
    """Two folds; Ann (5 photos), Cid (3) and Bob (2) are targets, Dan, Eve and Fay distractors; cap 2.
    Targets are dealt first: Ann and Cid (largest first) to different folds, then Bob to the fold with fewer
    photos (Cid's); the three distractors then even the folds out at three people each."""
    images = photos(HAND)
    folds = identity_folds(images, 2, seed=0)
    gallery, probes = identification_sets(images, folds, probes_per_identity=2, seed=0)
    expected_gallery = pd.DataFrame([
        (0, "Bob", "Bob/Bob_0002.jpg", True, 2),
        (0, "Cid", "Cid/Cid_0002.jpg", True, 3),
        (0, "Dan", "Dan/Dan_0001.jpg", False, 1),
        (1, "Ann", "Ann/Ann_0001.jpg", True, 5),
        (1, "Eve", "Eve/Eve_0001.jpg", False, 1),
        (1, "Fay", "Fay/Fay_0001.jpg", False, 1),
    ], columns=GALLERY_COLUMNS)
    expected_probes = pd.DataFrame([
        (0, 0, "Bob", "Bob/Bob_0001.jpg", "Bob/Bob_0002.jpg", 1.0),
        (1, 0, "Cid", "Cid/Cid_0001.jpg", "Cid/Cid_0002.jpg", 0.5),
        (2, 0, "Cid", "Cid/Cid_0003.jpg", "Cid/Cid_0002.jpg", 0.5),
        (3, 1, "Ann", "Ann/Ann_0002.jpg", "Ann/Ann_0001.jpg", 0.5),
        (4, 1, "Ann", "Ann/Ann_0003.jpg", "Ann/Ann_0001.jpg", 0.5),
    ], columns=PROBE_COLUMNS)
    pd.testing.assert_frame_equal(gallery, expected_gallery)
    pd.testing.assert_frame_equal(probes, expected_probes)
    assert fold_summary(gallery, probes).to_dict("records") == [
        {"fold": 0, "people": 3, "targets": 2, "distractors": 1, "gallery": 3, "probes": 3},
        {"fold": 1, "people": 3, "targets": 1, "distractors": 2, "gallery": 3, "probes": 2},
    ]


@pytest.mark.parametrize("cap", [1, 2, 4])
def test_probes_respect_cap_weights_and_the_gallery(images, cap):
    folds = identity_folds(images, 4, seed=1)
    gallery, probes = identification_sets(images, folds, cap, seed=1)
    count = images.groupby("identity").size()
    assert gallery["identity"].is_unique and set(gallery["identity"]) == set(images["identity"])
    own = gallery.set_index("identity")
    assert (own["target"] == (count >= 2)[own.index]).all()  # distractors: the one-photo people, and only they
    assert (own["fold"] == folds[own.index]).all()
    per_person = probes.groupby("identity")
    assert set(per_person.groups) == set(gallery.loc[gallery["target"], "identity"])
    assert (per_person.size() == np.minimum(count[per_person.size().index] - 1, cap)).all()
    assert np.allclose(per_person["weight"].sum(), 1.0)
    assert probes["image"].is_unique and set(probes["image"]).isdisjoint(gallery["image"])
    assert (probes["gallery_image"].to_numpy() == own.loc[probes["identity"], "image"].to_numpy()).all()
    assert (probes["fold"].to_numpy() == folds[probes["identity"]].to_numpy()).all()
    assert probes["image"].map(lfw.identity_of).eq(probes["identity"]).all()
    assert list(probes["probe_id"]) == list(range(len(probes)))


def test_a_larger_cap_only_adds_probes(images):
    folds = identity_folds(images, 3, seed=2)
    fewer = identification_sets(images, folds, 2, seed=2)
    more = identification_sets(images, folds, 5, seed=2)
    assert fewer.gallery.equals(more.gallery)
    assert set(fewer.probes["image"]) < set(more.probes["image"])


def test_sets_are_seeded_and_ignore_row_order(images):
    folds = identity_folds(images, 3, seed=5)
    first = identification_sets(images, folds, 3, seed=5)
    shuffled = images.sample(frac=1, random_state=2)
    again = identification_sets(shuffled, folds.sample(frac=1, random_state=3), 3, seed=5)
    assert first.gallery.equals(again.gallery) and first.probes.equals(again.probes)
    other = identification_sets(images, folds, 3, seed=6)
    assert not first.gallery["image"].equals(other.gallery["image"])


def test_folds_as_a_table_read_back_from_csv(images, tmp_path):
    folds = identity_folds(images, 3, seed=0)
    folds.reset_index().to_csv(tmp_path / "folds.csv", index=False)
    table = pd.read_csv(tmp_path / "folds.csv")
    assert identification_sets(images, table, 2, 0).probes.equals(identification_sets(images, folds, 2, 0).probes)
    assert training_people(table, 1) == training_people(folds, 1)


def test_unusable_folds_and_arguments_are_named():
    images = photos(HAND)
    only_distractors = pd.Series({"Ann": 0, "Bob": 0, "Cid": 0, "Dan": 1, "Eve": 1, "Fay": 0})
    with pytest.raises(ValueError, match="fold 1 has no target identity"):
        identification_sets(images, only_distractors, 2, 0)
    lonely = pd.Series({"Ann": 0, "Bob": 0, "Cid": 1, "Dan": 0, "Eve": 0, "Fay": 0})
    with pytest.raises(ValueError, match="fold 1: its gallery has 1 person"):
        identification_sets(images, lonely, 2, 0)
    with pytest.raises(ValueError, match="people of images have no fold, e.g. 'Fay'"):
        identification_sets(images, only_distractors.drop("Fay"), 2, 0)
    with pytest.raises(ValueError, match="probes_per_identity: need at least 1"):
        identification_sets(images, only_distractors, 0, 0)
    with pytest.raises(ValueError, match="'Ann' is assigned to more than one fold"):
        identification_sets(images, pd.DataFrame({"identity": ["Ann", "Ann"], "fold": [0, 1]}), 1, 0)


# --- cross-fitting -------------------------------------------------------------------------------------------


def test_training_people_are_the_other_folds(images):
    folds = identity_folds(images, 4, seed=0)
    gallery, probes = identification_sets(images, folds, 3, seed=0)
    pairs = balanced_pairs(images, folds, seed=0)
    for held_out in range(4):
        people = training_people(folds, held_out)
        assert people == set(folds.index[folds != held_out])
        require_unseen(people, held_out, gallery=gallery, probes=probes, pairs=pairs)
    assert set().union(*(training_people(folds, k) for k in range(4))) == set(folds.index)
    with pytest.raises(ValueError, match="held_out: fold 9 is not one of the folds"):
        training_people(folds, 9)


def test_a_planted_leak_is_named(images):
    folds = identity_folds(images, 4, seed=0)
    gallery, probes = identification_sets(images, folds, 3, seed=0)
    pairs = balanced_pairs(images, folds, seed=0)
    people = training_people(folds, 2)
    probed = probes.loc[probes["fold"] == 2, "identity"].iloc[0]
    with pytest.raises(IdentityLeakError, match=f"probes of held-out fold 2: person '{probed}' is among"):
        require_unseen(people | {probed}, 2, probes=probes)
    with pytest.raises(IdentityLeakError, match=f"gallery of held-out fold 2: person '{probed}'"):
        require_unseen(people | {probed}, 2, gallery=gallery, probes=probes)
    distractor = gallery.loc[(gallery["fold"] == 2) & ~gallery["target"], "identity"].iloc[0]
    with pytest.raises(IdentityLeakError, match=f"person '{distractor}'"):
        require_unseen(people | {distractor}, 2, gallery=gallery, probes=probes)
    paired = pairs.loc[pairs["fold"] == 2, "identity_b"].iloc[0]
    with pytest.raises(IdentityLeakError, match=f"pairs of held-out fold 2: person '{paired}'"):
        require_unseen(people | {paired}, 2, pairs=pairs)
    with pytest.raises(ValueError, match="no gallery, probe or pair row is in fold 7"):
        require_unseen(people, 7, gallery=gallery, probes=probes)


# --- balanced verification pairs -----------------------------------------------------------------------------


def mann_whitney_twice(scores: np.ndarray, labels: np.ndarray) -> float:
    """2 U of the matched pairs over the mismatched ones, ties counting one half: an integer, computed exactly."""
    ranks = rankdata(scores)  # average ranks: multiples of one half
    n1 = int(labels.sum())
    return 2 * ranks[labels == 1].sum() - n1 * (n1 + 1)


def test_balanced_pairs_use_each_photo_once_per_label(images):
    folds = identity_folds(images, 4, seed=0)
    pairs = balanced_pairs(images, folds, seed=0, pairs_per_identity=3)
    assert list(pairs.columns) == PAIR_COLUMNS and list(pairs["pair_id"]) == list(range(len(pairs)))
    matched, mismatched = pairs[pairs["label"] == 1], pairs[pairs["label"] == 0]
    assert len(matched) == len(mismatched) > 0
    assert (matched["identity_a"] == matched["identity_b"]).all()
    assert (mismatched["identity_a"] != mismatched["identity_b"]).all()  # no same-person mismatched pair
    assert (pairs["image_a"] != pairs["image_b"]).all()
    for side in ("image_a", "image_b"):
        assert matched[side].is_unique and sorted(matched[side]) == sorted(mismatched[side])
    assert set(matched["image_a"]).isdisjoint(matched["image_b"])
    for side in ("a", "b"):
        assert (pairs["fold"].to_numpy() == folds[pairs[f"identity_{side}"]].to_numpy()).all()
        assert pairs[f"image_{side}"].map(lfw.identity_of).eq(pairs[f"identity_{side}"]).all()
    assert matched.groupby("identity_a").size().max() <= 3
    shuffled = images.sample(frac=1, random_state=4)
    assert balanced_pairs(shuffled, folds, seed=0, pairs_per_identity=3).equals(pairs)
    assert not balanced_pairs(images, folds, seed=1, pairs_per_identity=3).equals(pairs)


def test_one_matched_pair_per_identity_is_its_gallery_photo_and_first_probe(images):
    folds = identity_folds(images, 3, seed=4)
    probes = identification_sets(images, folds, 1, seed=4).probes
    matched = balanced_pairs(images, folds, seed=4).query("label == 1")
    assert sorted(zip(matched["image_a"], matched["image_b"], strict=True)) == sorted(
        zip(probes["gallery_image"], probes["image"], strict=True))


def test_an_attacker_reading_one_side_only_is_at_chance_exactly(images):
    """Any score that is a function of side a alone (or of side b alone) has AUC exactly 0.5, per fold and over
    all folds, whatever the function: random, a coin (mostly ties), or the person's photo count (the artefact
    that put LFW's own pairs at 0.41-0.55)."""
    folds = identity_folds(images, 4, seed=0)
    pairs = balanced_pairs(images, folds, seed=0, pairs_per_identity=2)
    rng = np.random.default_rng(0)
    all_images = images["image"].to_numpy()
    photo_count = images.groupby("identity").size()
    attackers = {
        "random": dict(zip(all_images, rng.normal(size=len(all_images)), strict=True)),
        "coin": dict(zip(all_images, rng.integers(0, 2, len(all_images)), strict=True)),
        "photo count": {image: photo_count[lfw.identity_of(image)] for image in all_images},
    }
    for name, score_of in attackers.items():
        for side in ("image_a", "image_b"):
            for _, table in [("all", pairs), *pairs.groupby("fold")]:
                scores = table[side].map(score_of).to_numpy(dtype=float)
                labels = table["label"].to_numpy()
                assert mann_whitney_twice(scores, labels) == labels.sum() * (len(labels) - labels.sum()), name
                assert roc_auc(scores, labels) == pytest.approx(0.5, abs=1e-12), (name, side)


def test_the_chance_check_has_teeth(images):
    """The same photo-count attacker on mismatched pairs drawn LFW's way (side a from any person, one-photo
    people included) is far from 0.5: the balance, not the attacker, makes chance exact."""
    folds = identity_folds(images, 4, seed=0)
    matched = balanced_pairs(images, folds, seed=0).query("label == 1")
    rng = np.random.default_rng(1)
    singles = images.groupby("identity").filter(lambda g: len(g) == 1)["image"].to_numpy()
    unbalanced = pd.DataFrame({"label": [1] * len(matched) + [0] * len(matched),
                               "image_a": [*matched["image_a"], *rng.choice(singles, len(matched))]})
    count = images.groupby("identity").size()
    scores = unbalanced["image_a"].map(lambda image: count[lfw.identity_of(image)]).to_numpy(dtype=float)
    assert roc_auc(scores, unbalanced["label"].to_numpy()) > 0.9


def test_hand_built_pairs_and_a_dominant_identity():
    images = photos({"Ann": 5, "Bob": 2, "Cid": 3})
    one_fold = pd.Series({"Ann": 0, "Bob": 0, "Cid": 0})
    pairs = balanced_pairs(images, one_fold, seed=0, pairs_per_identity=2)
    # Ann's photo order is 1, 2, 3, 5, 4: her pairs are (1, 2) and (3, 5). The seeded layout is Ann, Ann, Cid,
    # Bob; Ann has 2 of the 4 pairs, so the shift is 2: her pairs take Cid's and Bob's side b, theirs take hers.
    expected = pd.DataFrame([
        (0, 0, 1, "Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg", "Ann", "Ann"),
        (1, 0, 1, "Ann/Ann_0003.jpg", "Ann/Ann_0005.jpg", "Ann", "Ann"),
        (2, 0, 1, "Bob/Bob_0002.jpg", "Bob/Bob_0001.jpg", "Bob", "Bob"),
        (3, 0, 1, "Cid/Cid_0002.jpg", "Cid/Cid_0001.jpg", "Cid", "Cid"),
        (4, 0, 0, "Ann/Ann_0001.jpg", "Cid/Cid_0001.jpg", "Ann", "Cid"),
        (5, 0, 0, "Ann/Ann_0003.jpg", "Bob/Bob_0001.jpg", "Ann", "Bob"),
        (6, 0, 0, "Bob/Bob_0002.jpg", "Ann/Ann_0005.jpg", "Bob", "Ann"),
        (7, 0, 0, "Cid/Cid_0002.jpg", "Ann/Ann_0002.jpg", "Cid", "Ann"),
    ], columns=PAIR_COLUMNS)
    pd.testing.assert_frame_equal(pairs, expected)
    # a dominant identity: 20 of Ann's pairs against 2 of the others: she keeps 2, and no mismatch is hers twice
    dominant = balanced_pairs(photos({"Ann": 40, "Bob": 2, "Cid": 3}), one_fold, seed=0, pairs_per_identity=20)
    assert dominant.query("label == 1")["identity_a"].value_counts().to_dict() == {"Ann": 2, "Bob": 1, "Cid": 1}
    assert (dominant.query("label == 0")["identity_a"] != dominant.query("label == 0")["identity_b"]).all()


def test_derangement_needs_no_identity_with_more_than_half():
    pairs = [("Ann", "a1", "a2"), ("Ann", "a3", "a4"), ("Bob", "b1", "b2")]
    with pytest.raises(ValueError, match="'Ann' has 2 of 3 pairs, more than half"):
        deranged_partners(pairs, seed=0)
    with pytest.raises(ValueError, match="pairs of 'Ann' are not contiguous"):
        deranged_partners([pairs[0], pairs[2], pairs[1]], seed=0)
    many = [(f"P{i // 3}", f"x{i}", f"y{i}") for i in range(30)]
    for seed in range(20):
        partner = deranged_partners(many, seed)
        assert sorted(partner) == list(range(30))
        assert all(many[i][0] != many[j][0] for i, j in enumerate(partner))


def test_a_fold_with_one_target_has_no_mismatched_pair():
    with pytest.raises(ValueError, match="fold 1: 1 target identity"):
        balanced_pairs(photos(HAND), identity_folds(photos(HAND), 2, seed=0), seed=0)
    with pytest.raises(ValueError, match="pairs_per_identity: need at least 1"):
        balanced_pairs(photos(HAND), identity_folds(photos(HAND), 2, seed=0), seed=0, pairs_per_identity=0)


# --- the real LFW list ---------------------------------------------------------------------------------------


def test_full_lfw_counts(lfw_root):
    names = lfw.parse_people(lfw_root / "lfw-names.txt", has_header=False)
    images = photos(names)  # the names are NFC already, as lfw.image_name writes them
    assert len(images) == 13233 and images["identity"].nunique() == 5749
    folds = identity_folds(images, 5, seed=0)
    gallery, probes = identification_sets(images, folds, 4, seed=0)
    summary = fold_summary(gallery, probes)
    assert summary["targets"].tolist() == [336] * 5  # 1,680 people with two or more photos, evenly
    assert summary["people"].sum() == 5749 and summary["people"].max() - summary["people"].min() <= 1
    assert len(probes) == sum(min(n - 1, 4) for n in names.values()) == 3614
    big = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder"]
    assert folds[big].nunique() == 5
    pairs = balanced_pairs(images, folds, seed=0)
    assert (pairs["label"] == 1).sum() == (pairs["label"] == 0).sum() == 1680
