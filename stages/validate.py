"""validate: the whole of params.yaml against the schema -> data/validated, a token whose content never changes.

DVC deletes a stage's outputs just before it runs that stage, and a stage can only refuse a bad parameter once
it runs: without this stage a typo in ``train.epochs`` cost the trained models before the training stage said
why. Every stage depends on this one, so a bad or unknown parameter (a ``trian:`` section no stage reads
included: this stage tracks every key of the file) stops ``dvc repro`` and ``dvc exp run`` here, with every
other output untouched. The token's content does not depend on the parameters, so a good edit reruns only the
stages whose own parameters it changes.
"""

from __future__ import annotations

from flup.config import load_config, run_stage
from flup.config.paths import VALIDATED
from flup.io import atomic_path
from flup.log import get_logger

TOKEN = "params.yaml passed flup's schema (stages/validate.py); every stage depends on this file\n"


def main() -> None:
    load_config()
    with atomic_path(VALIDATED) as tmp:
        tmp.write_text(TOKEN)
    get_logger("validate").info("params.yaml is valid")


if __name__ == "__main__":
    run_stage(main)
