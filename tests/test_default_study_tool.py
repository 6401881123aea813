"""benchmarks/default_study.py --then: a profile that removes stages leaves neither their outputs nor their
dvc.lock entries behind (DVC keeps a removed stage's entry, and the report read its params as a change)."""

from benchmarks.default_study import removed_stages


def test_removed_stages_leave_the_lock_with_their_outputs():
    lock = {"schema": "2.0", "stages": {
        "render": {"cmd": "python -m stages.render", "outs": [{"path": "data/render"}]},
        "train@random_blur": {"cmd": "python -m stages.train random_blur",
                              "outs": [{"path": "data/models/random_blur"}, {"path": "dvclive/random_blur"}]},
        "score_model@random_blur": {"outs": [{"path": "data/scores/random_blur.parquet"}]},
        "evaluate": {"outs": []},
    }}
    kept, outs = removed_stages(lock, ["render", "evaluate", "train_attacker@adapter_mixture"])
    assert list(kept["stages"]) == ["render", "evaluate"] and kept["schema"] == "2.0"
    assert outs == ["data/models/random_blur", "dvclive/random_blur", "data/scores/random_blur.parquet"]
    assert list(lock["stages"]) == ["render", "train@random_blur", "score_model@random_blur", "evaluate"]  # untouched
    assert removed_stages(lock, list(lock["stages"])) == (lock, [])
