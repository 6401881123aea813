"""The train stage's reading of the model table: a variant is a policy plus training overrides."""

from __future__ import annotations

import pytest

from flup.config.params import ParamError
from stages.train import model_settings

PARAMS = {
    "train": {"protocol": "view1", "positive": "other_photo", "epochs": 50, "lr": 0.0002, "approximate_blur": True},
    "variants": {
        "random_blur": {"crop": "full", "blur": "whole_image", "sigma_min": 5, "sigma_max": 20},
        "seed_same_photo": {"crop": "full", "blur": "whole_image",
                            "train": {"protocol": "seed", "positive": "same_photo"}},
        "exact_blur": {"crop": "full", "blur": "whole_image", "approximate_blur": False},
        "typo": {"crop": "full", "blur": "whole_image", "train": {"epoch": 3}},
        "bad_crop": {"crop": "square", "blur": "face_box"},
    },
}


def test_variant_policy_and_inherited_settings():
    policy, settings = model_settings(PARAMS, "random_blur")
    assert (policy.crop, policy.blur, policy.sigma_min, policy.sigma_max) == ("full", "whole_image", 5, 20)
    assert settings == PARAMS["train"]
    assert policy.approximate_blur is True  # from train.approximate_blur
    assert model_settings(PARAMS, "exact_blur")[0].approximate_blur is False  # a variant may override it


def test_variant_overrides_training_settings():
    _, settings = model_settings(PARAMS, "seed_same_photo")
    assert settings["protocol"] == "seed" and settings["positive"] == "same_photo" and settings["epochs"] == 50


@pytest.mark.parametrize(("name", "message"), [
    ("missing", r"variants\.missing is not defined"),
    ("typo", r"variants\.typo\.train has unknown key\(s\) epoch"),
    ("bad_crop", r"variants\.bad_crop: .*crop is 'square'"),
])
def test_bad_variants_name_the_parameter(name, message):
    with pytest.raises(ParamError, match=message):
        model_settings(PARAMS, name)
