"""Trained recognisers score only people they never trained on; baseline-only protocols stop at sigma 0."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flup.config import ConfigError, load_config
from flup.evaluation.verification import validate_scores
from flup.verify import engine
from flup.verify.scored_set import ScoredSet, unseen_by
from flup.verify.scoring import SEEN_MARK, score_pairs

REPO = Path(__file__).resolve().parents[1]


def pairs(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """Pairs of people (identity_a, identity_b), one image each, named after the person and the pair."""
    return pd.DataFrame({
        "pair_id": range(len(rows)), "fold": 0, "label": [int(a == b) for a, b in rows],
        "image_a": [f"{a}/{a}_{i}a.jpg" for i, (a, _) in enumerate(rows)],
        "image_b": [f"{b}/{b}_{i}b.jpg" for i, (_, b) in enumerate(rows)],
        "identity_a": [a for a, _ in rows], "identity_b": [b for _, b in rows],
    })


def scored_set(protocols: dict[str, pd.DataFrame]) -> ScoredSet:
    sharp = sorted({i for t in protocols.values() for i in t["image_a"]})
    return ScoredSet(protocols, "a", pd.DataFrame(index=sharp), sharp)


def test_pairs_naming_a_training_person_are_not_scored():
    test = scored_set({
        "view1": pairs([("Ann", "Ann"), ("Bob", "Cid")]),
        "view2": pairs([("Ann", "Dan"), ("Eve", "Eve"), ("Dan", "Tom"), ("Zed", "Ann")]),
    })
    kept = unseen_by(test, "lfw", "view1", {"Ann", "Tom"})
    # By hand: view1 keeps Bob-Cid; view2 keeps Eve-Eve only (Ann, Tom and Ann appear in the three others).
    assert kept.pairs["view1"][["identity_a", "identity_b"]].values.tolist() == [["Bob", "Cid"]]
    assert kept.pairs["view2"][["identity_a", "identity_b"]].values.tolist() == [["Eve", "Eve"]]
    assert kept.seen == frozenset()
    assert kept.sharp_images == ["Bob/Bob_1a.jpg", "Eve/Eve_1a.jpg"]


def test_the_seed_split_is_kept_whole_and_marked_seen_on_its_own_pairs_only():
    test = scored_set({"seed": pairs([("Ann", "Ann"), ("Bob", "Ann")]),
                       "view1": pairs([("Ann", "Bob"), ("Cid", "Cid")])})
    kept = unseen_by(test, "lfw", "seed", {"Ann", "Bob"})
    assert len(kept.pairs["seed"]) == 2 and kept.seen == frozenset({"seed"})
    assert kept.pairs["view1"]["identity_a"].tolist() == ["Cid"]


def test_evaluation_only_datasets_are_scored_whole():
    test = scored_set({"pairs": pairs([("Ann", "Ann")])})
    assert unseen_by(test, "celeba", "view1", {"Ann"}) is test


def test_seen_rows_are_kept_apart_under_a_marked_name():
    table = pairs([("Ann", "Ann"), ("Bob", "Cid")])
    sharp = {n: [1.0, 0.0] for n in table["image_a"]}
    obfuscated = {n: [1.0, 0.0] for n in table["image_b"]}
    labels = {"dataset": "lfw", "recognizer": "random_blur", "mode": "oracle_box", "obfuscation": "blur", "level": 8.0}
    frame = pd.concat([score_pairs(table, "a", sharp, obfuscated, seen_identities=True, protocol="seed", **labels),
                       score_pairs(table, "a", sharp, obfuscated, protocol="view1", **labels)])
    checked = validate_scores(frame)
    assert sorted(set(zip(checked["protocol"], checked["recognizer"], strict=True))) == [
        ("seed", "random_blur" + SEEN_MARK), ("view1", "random_blur")]


def write_params(tmp_path: Path, render: dict) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["render"].update(render)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_baseline_only_protocols_render_at_sigma_0_alone(tmp_path):
    cfg = load_config(write_params(tmp_path, {"protocols": ["view1", "view2"], "baseline_only": ["view2"]}))
    assert cfg.render.protocols_at("blur", 0.0) == ["view1", "view2"]
    assert cfg.render.protocols_at("blur", 8.0) == ["view1"]
    assert cfg.render.protocols_at("blackbox", 1.0) == ["view1"]


@pytest.mark.parametrize("render, expected", [
    ({"protocols": ["view1"], "baseline_only": ["view2"]}, "render.baseline_only: expected protocols that"),
    ({"protocols": ["view1", "view2"], "baseline_only": ["view2"],
      "obfuscations": {"blur": [8], "blackbox": [1]}}, "render.baseline_only: expected blur level 0"),
])
def test_baseline_only_is_checked(tmp_path, render, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(write_params(tmp_path, render))


def test_each_level_scores_the_protocols_the_render_lists(tmp_path):
    view1, view2 = pairs([("Ann", "Ann")]), pairs([("Bob", "Bob"), ("Cid", "Dan")])
    test = scored_set({"view1": view1, "view2": view2})
    (tmp_path / "summary.json").write_text(json.dumps({"levels": [
        {"obfuscation": "blur", "level": 0, "protocols": ["view1", "view2"]},
        {"obfuscation": "blur", "level": 8, "region": 1.0, "protocols": ["view1"]},
        {"obfuscation": "blur", "level": 8, "region": 1.5, "protocols": ["view1"]},
        {"obfuscation": "blackbox", "level": 1},  # a render without the list (or a region): every protocol, 1.0
    ]}))
    names = sorted({*view1["image_b"], *view2["image_b"]})
    plan = engine.level_plan(test, tmp_path, names)
    assert plan[("blur", 0.0, 1.0)] == (["view1", "view2"], names)
    assert plan[("blur", 8.0, 1.0)] == plan[("blur", 8.0, 1.5)] == (["view1"], ["Ann/Ann_0b.jpg"])
    assert plan[("blackbox", 1.0, 1.0)] == (["view1", "view2"], names)
