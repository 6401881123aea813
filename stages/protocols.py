"""protocols: pair lists and training identities -> data/protocols/<name>/, metrics/protocols.json."""

from __future__ import annotations

from pathlib import Path

from flup.config import load_config, run_stage
from flup.data import lfw, protocols
from flup.io import read_table, write_json, write_table
from flup.log import get_logger

RAW = Path("data/raw/lfw")
FACES = Path("data/faces/lfw.parquet")
OUT = Path("data/protocols")
SUMMARY = Path("metrics/protocols.json")


def main() -> None:
    log = get_logger("protocols")
    seed = load_config().protocols.seed
    faces = read_table(FACES)
    images_by_person = faces.groupby("identity")["image"].apply(sorted).to_dict()

    def protocol_file(name: str) -> Path:
        path = RAW / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: protocol file missing from the fetched data (see {RAW}/report.json)")
        return path

    outputs = {}
    train_people = list(lfw.parse_people(protocol_file("peopleDevTrain.txt")))
    train, pairs, dropped = protocols.view1(train_people, lfw.parse_pairs(protocol_file("pairsDevTest.txt")),
                                            images_by_person)
    overlap = set(train["identity"]) & (set(pairs["identity_a"]) | set(pairs["identity_b"]))
    if overlap:
        raise ValueError(f"view1: {len(overlap)} test people are training people, e.g. {sorted(overlap)[:3]}")
    outputs["view1"] = (train, pairs, protocols.describe(train, pairs, dropped))

    pairs, dropped = protocols.view2(lfw.parse_pairs(protocol_file("pairs.txt")), images_by_person)
    outputs["view2"] = (None, pairs, protocols.describe(None, pairs, dropped))

    train, pairs, info = protocols.seed_protocol(images_by_person, seed.min_images, seed.test_fraction,
                                                 seed.same_pairs, seed.different_pairs, seed.random_seed)
    outputs["seed"] = (train, pairs, {**protocols.describe(train, pairs, 0), **info})

    summary = {}
    for name, (train, pairs, info) in outputs.items():
        if train is not None:
            write_table(OUT / name / "train.csv", train)
        write_table(OUT / name / "pairs.csv", pairs)
        summary[name] = info
        log.info("%s: %s", name, ", ".join(f"{k}={v}" for k, v in info.items()))
    write_json(SUMMARY, summary)


if __name__ == "__main__":
    run_stage(main)
