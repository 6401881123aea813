"""params.yaml's schema: every bad parameter ends in one line naming the file, the line and the dotted key.

Each bad case edits a copy of the real params.yaml with plain text operations and marks the edited line
with ``# BAD``; the expected line number is found by searching the text for that marker (or, for a
missing key, for its parent section), never by asking the code under test.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml

from flup.config import ConfigError, ParamError, Study, load_config, schema
from flup.config.profiles import merge, write_profile

REPO = Path(__file__).resolve().parents[1]
PARAMS = (REPO / "params.yaml").read_text()
PROFILES = sorted((REPO / "profiles").glob("*.yaml"))
DIGEST = "0123456789012345678901234567890123456789012345678901234567890123"  # all digits, a leading zero
UPPER = "A3562EF62592BF387F6EF19151282AC127518E51C77696E62E0661BEE95BA1AD"
BLUR_ATTACKER = "  adapter_blur: {method: adapter, obfuscation: blur, levels: [2, 128]}"
DEFACE_ATTACKER = "  adapter_deface: {method: adapter, obfuscation: deface, levels: [1.3, 2.0]}"


# --- plain-text edits of params.yaml -------------------------------------------------------------


def key_line(lines: list[str], dotted: str) -> int:
    """0-based index of the line of ``dotted`` (block mappings, two spaces per level)."""
    index = -1
    for depth, key in enumerate(dotted.split(".")):
        pattern = re.compile(rf"^{' ' * (2 * depth)}{re.escape(key)}:(\s|$)")
        index = next(i for i in range(index + 1, len(lines)) if pattern.match(lines[i]))
    return index


def set_value(dotted: str, value: str):
    """Write ``value`` on ``dotted``'s line (the key is added under its section if params.yaml lacks it)."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        try:
            i = key_line(lines, dotted)
        except StopIteration:
            parent, key = dotted.rsplit(".", 1)
            i = key_line(lines, parent) + 1
            lines.insert(i, f"{'  ' * dotted.count('.')}{key}: ")
        lines[i] = f"{lines[i].split(':')[0]}: {value}  # BAD"
        return "\n".join(lines)
    return edit


def insert(parent: str, line: str):
    """Add ``line`` (already indented) as the first key under ``parent``."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        i = key_line(lines, parent)
        lines.insert(i + 1, f"{line}  # BAD")
        return "\n".join(lines)
    return edit


def delete(dotted: str, parent: str):
    """Remove ``dotted``'s line; mark its parent's line, where the message must point."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        del lines[key_line(lines, dotted)]
        i = key_line(lines, parent)
        lines[i] = lines[i].split("#")[0].rstrip() + "  # BAD"
        return "\n".join(lines)
    return edit


def no_levels(text: str) -> str:
    """Every kind of render.obfuscations set to []."""
    lines = text.split("\n")
    start = key_line(lines, "render.obfuscations")
    i = start + 1
    while lines[i].startswith("    "):
        if not lines[i].lstrip().startswith("#"):
            lines[i] = re.sub(r"\[.*\]", "[]", lines[i])
        i += 1
    lines[start] += "  # BAD"
    return "\n".join(lines)


def replace(old: str, new: str):
    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, f"{new}  # BAD" if "\n" not in new else new)
    return edit


def audits_table(new: str):
    """An edit that replaces params.yaml's whole ``audits:`` table (its entries included) by the line ``new``,
    marked as the bad line."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith("audits:"))
        end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#")))
        return "\n".join([*lines[:start], f"{new}  # BAD", "", *lines[end:]])
    return edit


def marked_line(text: str) -> int:
    (line,) = [n for n, content in enumerate(text.split("\n"), start=1) if "# BAD" in content]
    return line


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


# (edit, the dotted key the one message names, words the message must hold)
BAD = {
    # the cases of issue 11
    "misspelled optional key": (insert("data", "  max_peple: 8"), "data.max_peple",
                                "unknown key, did you mean data.max_people?"),
    "extra key": (insert("render", "  region: [1.3]"), "render.region", "did you mean render.regions?"),
    "negative epochs": (set_value("train.epochs", "-1"), "train.epochs", "expected an integer >= 1, got -1"),
    "test_fraction above 1": (set_value("protocols.seed.test_fraction", "1.5"), "protocols.seed.test_fraction",
                              "expected a number in (0, 1), got 1.5"),
    "negative test_fraction": (set_value("protocols.seed.test_fraction", "-0.2"), "protocols.seed.test_fraction",
                               "got -0.2"),
    "det_size 0": (set_value("detector.det_size", "0"), "detector.det_size", "multiple of 32"),
    "det_size 33": (set_value("detector.det_size", "33"), "detector.det_size",
                    "expected a positive multiple of 32 px, at most 2048, got 33"),
    "blur sigma 1e9": (set_value("render.obfuscations.blur", "[0, 1e9]"), "render.obfuscations.blur[1]",
                       "expected a blur sigma: a finite number >= 0 and <= 256, got 1e9"),
    "blur sigma 1e5": (set_value("render.obfuscations.blur", "[1e5]"), "render.obfuscations.blur[0]", "got 1e5"),
    "negative black box": (set_value("render.obfuscations.blackbox", "[-1]"), "render.obfuscations.blackbox[0]",
                           "got -1"),
    "NaN black box": (set_value("render.obfuscations.blackbox", "[.nan]"), "render.obfuscations.blackbox[0]",
                      "got .nan"),
    "region 0": (set_value("render.regions", "[1.0, 0]"), "render.regions[1]",
                 "expected a box scale factor: a finite number > 0 and <= 10, got 0"),
    "region 100": (set_value("render.regions", "[100]"), "render.regions[0]", "got 100"),
    "region NaN": (set_value("render.regions", "[.nan]"), "render.regions[0]", "got .nan"),
    "region as text": (set_value("render.regions", "['1.3']"), "render.regions[0]", "a box scale factor"),
    "no regions": (set_value("render.regions", "[]"), "render.regions", "at least 1"),
    "regions unsorted": (set_value("render.regions", "[1.6, 1.0]"), "render.regions",
                         "expected increasing factors, each once, got [1.6, 1.0]"),
    "region twice": (set_value("render.regions", "[1.0, 1.3, 1.3]"), "render.regions",
                     "expected increasing factors, each once"),
    "box_scale gone": (insert("render", "  box_scale: 1.3"), "render.box_scale", "unknown key"),
    "unknown blur border": (set_value("render.blur_border", "reflect"), "render.blur_border",
                            "expected 'crop' or 'context', got 'reflect'"),
    "workers 0": (set_value("render.workers", "0"), "render.workers", "expected an integer in [1, 256]"),
    "short digest": (set_value("data.sha256", "12345"), "data.sha256", "64 hex characters (any case), got 12345"),
    "non-hex detector digest": (set_value("detector.sha256", "'" + "g" * 64 + "'"), "detector.sha256",
                                "64 hex characters"),
    # more of each kind
    "missing key": (delete("train.epochs", "train"), "train.epochs", "required key missing"),
    "infinite margin": (set_value("train.margin", ".inf"), "train.margin", "got .inf"),
    "string for a number": (set_value("train.lr", "'0.0002'"), "train.lr", "got '0.0002'"),
    "float epochs": (set_value("train.epochs", "2.5"), "train.epochs", "expected an integer >= 1, got 2.5"),
    "nproc 0": (set_value("train.nproc", "0"), "train.nproc",
                "expected an integer in [1, 64] (torchrun processes, one per GPU), got 0"),
    "bool batch size": (set_value("train.batch_size", "true"), "train.batch_size", "got true"),
    "zero lr": (set_value("train.lr", "0"), "train.lr", "expected a number in (0, 1], got 0"),
    "val_fraction 1": (set_value("train.val_fraction", "1"), "train.val_fraction", "expected a number in (0, 1)"),
    "negative num_workers": (set_value("train.num_workers", "-1"), "train.num_workers", "got -1"),
    "unknown device": (set_value("train.device", "gpu"), "train.device", "got 'gpu'"),
    "unknown precision": (set_value("train.precision", "fp16"), "train.precision", "got 'fp16'"),
    "unknown head": (set_value("train.head", "mlp"), "train.head", "expected 'flatten' or 'gap', got 'mlp'"),
    "max_people 1": (set_value("data.max_people", "1"), "data.max_people", "expected null or an integer >= 2"),
    "max_member_mb 0": (set_value("data.max_member_mb", "0"), "data.max_member_mb", "got 0"),
    "max_download_mb NaN": (set_value("data.max_download_mb", ".nan"), "data.max_download_mb", "got .nan"),
    "unknown protocol": (set_value("render.protocols", "[view1, view9]"), "render.protocols[1]", "got 'view9'"),
    "unknown encoding": (set_value("render.encoding", "gif"), "render.encoding", "got 'gif'"),
    "unknown mode": (set_value("arcface.modes", "[oracle]"), "arcface.modes[0]", "got 'oracle'"),
    "no level at all": (no_levels, "render.obfuscations", "expected at least one level to render"),
    "pixelate block 8.5": (set_value("render.obfuscations.pixelate", "[8.5]"), "render.obfuscations.pixelate[0]",
                           "an integer >= 1"),
    "unknown obfuscation": (insert("evaluate.roc_levels", "    mosaic: [1]"), "evaluate.roc_levels.mosaic",
                            "unknown key"),
    "unknown rendered obfuscation": (insert("render.obfuscations", "    mosaic: [4]"), "render.obfuscations.mosaic",
                                     "unknown key (known: blur, pixelate, blackbox, deface, face_gaussian, "
                                     "face_pixelate)"),
    "face_pixelate 0": (set_value("render.obfuscations.face_pixelate", "[0]"),
                        "render.obfuscations.face_pixelate[0]", "got 0"),
    "deface below 0.5": (set_value("render.obfuscations.deface", "[0.4]"), "render.obfuscations.deface[0]",
                         "expected a deface mask scale level: a finite number > 0.5"),
    "repeated level": (set_value("plot.gallery_levels.blur", "[0, 8, 8]"), "plot.gallery_levels.blur",
                       "expected each level once"),
    "privacy bound below chance": (set_value("evaluate.privacy_auc_upper", "0.3"), "evaluate.privacy_auc_upper",
                                   "got 0.3"),
    "negative relative margin": (set_value("evaluate.relative_margin", "-0.01"), "evaluate.relative_margin",
                                 "expected an AUC difference in [0, 0.5], got -0.01"),
    "attack protocol seed": (set_value("attack.protocol", "seed"), "attack.protocol", "got 'seed'"),
    "attack sub-table typo": (insert("attack.adapter", "    epoch: 3"), "attack.adapter.epoch",
                              "did you mean attack.adapter.epochs?"),
    # table entries, overrides included
    "variant sigma order": (replace("  random_blur: {crop: full, blur: whole_image, sigma_min: 5, sigma_max: 20}",
                                    "  random_blur: {crop: full, blur: whole_image, sigma_min: 25, sigma_max: 20}"),
                            "variants.random_blur.sigma_max", "expected sigma_max >= sigma_min (25), got 20"),
    "variant crop": (replace("  tight_crop_blur: {crop: tight, blur: face_box, sigma_min: 5, sigma_max: 20}",
                             "  tight_crop_blur: {crop: square, blur: face_box}"), "variants.tight_crop_blur.crop",
                     "got 'square'"),
    "variant crop_steps 0": (replace("  random_crop: {crop: random, blur: face_box, sigma_min: 5, sigma_max: 20, "
                                     "crop_steps: 10}", "  random_crop: {crop: random, blur: face_box, crop_steps: 0}"),
                             "variants.random_crop.crop_steps", "got 0"),
    "variant override typo": (replace("  random_blur: {crop: full, blur: whole_image, sigma_min: 5, sigma_max: 20}",
                                      "  random_blur: {crop: full, blur: whole_image, train: {epoch: 3}}"),
                              "variants.random_blur.train.epoch", "did you mean variants.random_blur.train.epochs?"),
    "variant override value": (replace("  random_blur: {crop: full, blur: whole_image, sigma_min: 5, sigma_max: 20}",
                                       "  random_blur: {crop: full, blur: whole_image, train: {epochs: 0}}"),
                               "variants.random_blur.train.epochs", "expected an integer >= 1, got 0"),
    "attacker levels order": (replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: blur, "
                                                     "levels: [16, 2]}"),
                              "attackers.adapter_blur.levels", "low <= high"),
    "attacker level beyond the registry": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: blur, levels: [16, 1000]}"),
        "attackers.adapter_blur.levels[1]", "expected a blur sigma: a finite number >= 0 and <= 256, got 1000"),
    "attacker method": (replace(BLUR_ATTACKER, "  adapter_blur: {method: boost, obfuscation: blur, levels: [16, 16]}"),
                        "attackers.adapter_blur.method", "got 'boost'"),
    "attacker override typo": (replace(BLUR_ATTACKER, "  adapter_blur: {method: finetune, levels: [16, 16], "
                                                      "attack: {seds: [1]}}"),
                               "attackers.adapter_blur.attack.seds",
                               "did you mean attackers.adapter_blur.attack.seeds?"),
    "seeds not a list": (set_value("train.seeds", "0"), "train.seeds", "a list of training seeds"),
    "seeds empty": (set_value("attack.seeds", "[]"), "attack.seeds", "a list of training seeds"),
    "seed twice": (set_value("train.seeds", "[0, 1, 0]"), "train.seeds", "expected each entry once"),
    "attacker nested override": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: finetune, levels: [16, 16], attack: {finetune: {lr: -1}}}"),
        "attackers.adapter_blur.attack.finetune.lr", "got -1"),
    "attacker named like a variant": (
        replace(BLUR_ATTACKER, "  random_blur: {method: finetune, obfuscation: blur, levels: [16, 16]}"),
        "attackers.random_blur", "data/scores/random_blur.parquet"),
    # every family of flup.obfuscation.families, validated by its registry, or a mixture of them
    "attacker unknown family": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mosaic, levels: [2, 8]}"),
        "attackers.adapter_blur.obfuscation",
        "expected 'blur', 'pixelate', 'blackbox', 'deface', 'face_gaussian', 'face_pixelate' or 'mixture', "
        "got 'mosaic'"),
    "attacker deface level": (
        replace(DEFACE_ATTACKER, "  adapter_deface: {method: adapter, obfuscation: deface, levels: [0.5, 2.0]}"),
        "attackers.adapter_deface.levels[0]",
        "expected a deface mask scale level: a finite number > 0.5 and <= 10, got 0.5"),
    "attacker pixelate level not an integer": (
        replace("  adapter_pixelate: {method: adapter, obfuscation: pixelate, levels: [4, 192]}",
                "  adapter_pixelate: {method: adapter, obfuscation: pixelate, levels: [4.5, 192]}"),
        "attackers.adapter_pixelate.levels[0]", "expected a pixelate block size: an integer >= 1 and <= 384, got 4.5"),
    "attacker face_pixelate level above 1": (
        replace("  adapter_face_pixelate: {method: adapter, obfuscation: face_pixelate, levels: [0.1, 1.0]}",
                "  adapter_face_pixelate: {method: adapter, obfuscation: face_pixelate, levels: [0.1, 1.5]}"),
        "attackers.adapter_face_pixelate.levels[1]", "<= 1, got 1.5"),
    "attacker family without levels": (
        replace(DEFACE_ATTACKER, "  adapter_deface: {method: adapter, obfuscation: deface}"),
        "attackers.adapter_deface.levels", "required key missing: expected [low, high] of deface levels"),
    "attacker levels of one number": (
        replace(DEFACE_ATTACKER, "  adapter_deface: {method: adapter, obfuscation: deface, levels: [1.3]}"),
        "attackers.adapter_deface.levels", "expected [low, high], got [1.3]"),
    "mixture with levels": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, levels: [2, 8], "
                               "mixture: {blur: [2, 8], deface: [1.3, 2]}}"),
        "attackers.adapter_blur.levels", "expected no levels with obfuscation: mixture"),
    "mixture missing": (replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture}"),
                        "attackers.adapter_blur.mixture", "required key missing: expected mixture: {kind: [low, high]"),
    "mixture of one family": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, mixture: {blur: [2, 8]}}"),
        "attackers.adapter_blur.mixture", "expected two families or more in a mixture"),
    "mixture of an unknown family": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, "
                               "mixture: {blur: [2, 8], mosaic: [1, 2]}}"),
        "attackers.adapter_blur.mixture.mosaic",
        "expected a family of blur, pixelate, blackbox, deface, face_gaussian, face_pixelate, got 'mosaic'"),
    "mixture naming itself": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, "
                               "mixture: {blur: [2, 8], mixture: [1, 2]}}"),
        "attackers.adapter_blur.mixture.mixture", "face_pixelate, got 'mixture'"),
    "mixture range order": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, "
                               "mixture: {blur: [8, 2], deface: [1.3, 2]}}"),
        "attackers.adapter_blur.mixture.blur", "expected [low, high] with low <= high"),
    "mixture level beyond the registry": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, "
                               "mixture: {blur: [2, 8], face_gaussian: [0.5, 20]}}"),
        "attackers.adapter_blur.mixture.face_gaussian[1]",
        "expected a face_gaussian level: a finite number > 0 and <= 10, got 20"),
    "mixture range of three numbers": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, "
                               "mixture: {blur: [2, 4, 8], deface: [1.3, 2]}}"),
        "attackers.adapter_blur.mixture.blur", "expected [low, high], got [2, 4, 8]"),
    "mixture not a mapping": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: mixture, mixture: [2, 8]}"),
        "attackers.adapter_blur.mixture", "expected a mapping {kind: [low, high], ...} of two families or more"),
    "mixture on one family": (
        replace(BLUR_ATTACKER, "  adapter_blur: {method: adapter, obfuscation: blur, levels: [2, 8], "
                               "mixture: {blur: [2, 8], deface: [1.3, 2]}}"),
        "attackers.adapter_blur.mixture", "expected no mixture with obfuscation: blur"),
    "attackers without view1": (set_value("render.protocols", "[view2, seed]"), "render.protocols",
                                "expected to include view1"),
    "dataset format": (replace("datasets: {}", "datasets: {celeba: {format: imagenet, root: x, same_pairs: 5, "
                                               "different_pairs: 5, random_seed: 0, face_rule: central}}"),
                       "datasets.celeba.format", "expected 'celeba' or 'folder', got 'imagenet'"),
    "dataset unknown key": (replace("datasets: {}", "datasets: {d: {format: folder, root: x, same_pairs: 5, "
                                                    "different_pairs: 5, random_seed: 0, face_rule: central, "
                                                    "pairs: 3}}"),
                            "datasets.d.pairs", "did you mean datasets.d.same_pairs?"),
    "dataset missing format": (replace("datasets: {}", "datasets: {d: {root: x, same_pairs: 5, different_pairs: 5, "
                                                       "random_seed: 0, face_rule: central}}"),
                               "datasets.d.format", "required key missing: expected 'celeba' or 'folder'"),
    "dataset missing root": (replace("datasets: {}", "datasets: {d: {format: folder, same_pairs: 5, "
                                                     "different_pairs: 5, random_seed: 0, face_rule: central}}"),
                             "datasets.d.root", "required key missing"),
    "dataset face rule": (replace("datasets: {}", "datasets: {d: {format: folder, root: x, same_pairs: 5, "
                                                  "different_pairs: 5, random_seed: 0, face_rule: big}}"),
                          "datasets.d.face_rule", "got 'big'"),
    "dataset negative pairs": (replace("datasets: {}", "datasets: {d: {format: folder, root: x, same_pairs: -1, "
                                                       "different_pairs: 5, random_seed: 0, face_rule: central}}"),
                               "datasets.d.same_pairs", "got -1"),
    "unknown executor kind": (set_value("executor.kind", "spark"), "executor.kind",
                              "expected 'local' or 'ray', got 'spark'"),
    "executor address": (set_value("executor.address", "'http://head:8265'"), "executor.address",
                         "expected null, auto, ray://<host>[:<port>] or <host>:<port>, got 'http://head:8265'"),
    "executor workers 0": (set_value("executor.workers", "0"), "executor.workers", "expected an integer in [1, 256]"),
    "executor typo": (insert("executor", "  worker: 4"), "executor.worker", "did you mean executor.workers?"),
    "dataset named lfw": (replace("datasets: {}", "datasets: {lfw: {format: folder, root: x, same_pairs: 5, "
                                                  "different_pairs: 5, random_seed: 0, face_rule: central}}"),
                          "datasets.lfw", "lfw is the study's own dataset"),
    # the audit table (issue 27): a template is refused when params.yaml is read, before anything runs
    "audit without input": (audits_table("audits: {mine: {command: 'deface -o {output}'}}"),
                            "audits.mine.command", "has no {input}"),
    "audit without output": (audits_table("audits: {mine: {command: 'deface {input}'}}"),
                             "audits.mine.command", "has no {output} (or {output_dir})"),
    "audit unknown placeholder": (audits_table("audits: {mine: {command: 'deface {inptu} -o {output}'}}"),
                                  "audits.mine.command", "unknown placeholder {inptu}"),
    "audit unclosed version command": (audits_table("audits: {mine: {command: 'deface {input} -o {output}', "
                                                             "version_command: \"deface '--version\"}}"),
                                       "audits.mine.version_command", "No closing quotation"),
    "audit missing command": (audits_table("audits: {mine: {keep_going: true}}"),
                              "audits.mine.command", "required key missing"),
    "audit max probes 0": (audits_table("audits: {mine: {command: 'd {input} {output}', max_probes: 0}}"),
                           "audits.mine.max_probes", "expected an integer >= 1, got 0"),
    "audit keep going not a bool": (audits_table("audits: {mine: {command: 'd {input} {output}', "
                                                          "keep_going: 'yes'}}"),
                                    "audits.mine.keep_going", "expected true or false"),
    "audit bad name": (audits_table("audits: {'my tool': {command: 'd {input} {output}'}}"),
                       "audits.my tool", "it names stages and folders"),
    "audit named after a family": (audits_table("audits: {blackbox: {command: 'd {input} {output}'}}"),
                                   "audits.blackbox", "no obfuscation family uses"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_parameter_names_file_line_and_key(tmp_path, case):
    edit, key, words = BAD[case]
    text = edit(PARAMS)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    problems = raised.value.problems
    assert len(problems) == 1, problems
    (message,) = problems
    assert "\n" not in message
    line = marked_line(text)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert words in message, message


def test_misspelled_section_is_unknown_and_the_section_missing(tmp_path):
    text = PARAMS.replace("score_model:\n", "score_modle:\n", 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    line = text.split("\n").index("score_modle:") + 1
    assert raised.value.problems == [f"{path}:1: score_model: required key missing",
                                     f"{path}:{line}: score_modle: unknown key, did you mean score_model?"]


def delete_line(text: str, dotted: str) -> str:
    """``text`` without the line of the (second-level) key ``dotted``."""
    section, key = dotted.split(".")
    lines = text.split("\n")
    start = lines.index(f"{section}:") if f"{section}:" in lines else next(
        i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    at = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(f"  {key}:"))
    return "\n".join(lines[:at] + lines[at + 1:])


def test_missing_key_names_its_parent_sections_line(tmp_path):
    text = delete_line(PARAMS, "train.epochs")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    train = text.split("\n").index(next(line for line in text.split("\n") if line.startswith("train:"))) + 1
    assert raised.value.problems == [f"{path}:{train}: train.epochs: required key missing: expected an integer >= 1"]


def test_several_problems_one_line_each_in_file_order(tmp_path):
    text = set_value("train.epochs", "0")(set_value("render.workers", "0")(PARAMS))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    lines = [n for n, content in enumerate(text.split("\n"), start=1) if "# BAD" in content]
    assert [p.split(":")[1] for p in raised.value.problems] == [str(n) for n in lines]
    assert [p.split(": ")[1] for p in raised.value.problems] == ["render.workers", "train.epochs"]


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    text = PARAMS.replace("  encoding: png", "  encoding: [png", 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    bad = text.split("\n").index(next(line for line in text.split("\n") if line.startswith("  encoding: [png"))) + 1
    (message,) = raised.value.problems
    # the parser notices the open list on the next line; the message points there and back at its start
    assert message.startswith(f"{path}:{bad + 1}: YAML syntax error: ") and f"at line {bad})" in message, message


def test_duplicate_key_is_refused(tmp_path):
    text = insert("data", "  source: elsewhere")(PARAMS)
    path = write(tmp_path, text)
    lines = text.split("\n")
    second = next(n for n, line in enumerate(lines, start=1) if line.startswith("  source: ../"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems == [f"{path}:{second}: data.source: duplicate key (first at line {marked_line(text)})"]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nothing.yaml: parameter file not found"):
        load_config(tmp_path / "nothing.yaml")


def test_config_error_is_a_param_error():
    assert issubclass(ConfigError, ParamError) and issubclass(ParamError, ValueError)


# --- what is accepted ----------------------------------------------------------------------------


def test_params_yaml_and_every_profile_validate():
    study = load_config(REPO / "params.yaml")
    assert isinstance(study, Study)
    for profile in PROFILES:
        load_config(REPO / "params.yaml", overlays=[profile])


def test_the_typed_values_are_what_yaml_says():
    """PyYAML, an independent reader, sees the same values the schema was given."""
    study = load_config(REPO / "params.yaml")
    assert study.document() == yaml.safe_load(PARAMS)
    for profile in PROFILES:
        overlay = yaml.safe_load(profile.read_text())
        merged = load_config(REPO / "params.yaml", overlays=[profile])
        for section, values in overlay.items():
            for key, value in values.items():
                container = getattr(merged, section)
                if isinstance(container, dict) and value is None:  # a table entry the profile removes
                    assert key not in container, (profile.name, section, key)
                    continue
                typed = container[key] if isinstance(container, dict) else getattr(container, key)
                if isinstance(value, dict):
                    typed = typed.as_dict() if hasattr(typed, "as_dict") else typed.model_dump(
                        exclude_none=isinstance(container, dict))  # a table entry: its unset overrides
                    assert {k: typed.get(k) for k in value} == value, (profile.name, section, key)  # unset: None
                else:
                    assert typed == value, (profile.name, section, key)


def test_profile_lines_name_the_profile(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("# a profile\ntrain:\n  epochs: 0\n")
    with pytest.raises(ConfigError) as raised:
        load_config(REPO / "params.yaml", overlays=[profile])
    assert raised.value.problems == [f"{profile}:3: train.epochs: expected an integer >= 1, got 0"]


@pytest.mark.parametrize("field", ["data.sha256", "detector.sha256"])
@pytest.mark.parametrize(("written", "read"), [
    (DIGEST, DIGEST),  # all digits, unquoted: a YAML integer, leading zero included
    (f"'{DIGEST}'", DIGEST),
    (UPPER, UPPER.lower()),
    (f'"{UPPER}"', UPPER.lower()),
])
def test_digests_any_case_quoted_or_not(tmp_path, field, written, read):
    study = load_config(write(tmp_path, set_value(field, written)(PARAMS)))
    section, key = field.split(".")
    assert getattr(getattr(study, section), key) == read


def test_all_digit_digest_in_extra_sources(tmp_path):
    text = set_value("data.extra_sources", f"[{{location: pairs.txt, sha256: {DIGEST}}}]")(PARAMS)
    study = load_config(write(tmp_path, text))
    assert study.data.extra_sources[0].sha256 == DIGEST and study.data.extra_sources[0].location == "pairs.txt"


def test_variant_settings_merge_train_overrides(tmp_path):
    text = replace("  random_blur: {crop: full, blur: whole_image, sigma_min: 5, sigma_max: 20}",
                   "  random_blur: {crop: full, blur: whole_image, approximate_blur: false, "
                   "train: {protocol: seed, positive: same_photo, samples_per_epoch: 7}}")(PARAMS)
    study = load_config(write(tmp_path, text))
    settings = study.train_settings("random_blur")
    assert (settings.protocol, settings.positive, settings.samples_per_epoch) == ("seed", "same_photo", 7)
    expected = yaml.safe_load(PARAMS)["train"]  # from train:
    assert (settings.epochs, settings.lr, settings.head) == (expected["epochs"], expected["lr"], expected["head"])
    policy = study.policy("random_blur")
    assert (policy.crop, policy.blur, policy.sigma_min, policy.sigma_max, policy.crop_steps) == \
        ("full", "whole_image", 5, 20, 10)
    assert policy.approximate_blur is False  # the variant's own
    assert study.policy("random_crop").approximate_blur is True  # train.approximate_blur
    assert study.train_settings("random_crop") == study.train
    with pytest.raises(ConfigError, match=r"variants\.missing: not defined \(variants: random_blur, random_crop"):
        study.train_settings("missing")


def test_attacker_settings_merge_nested_overrides(tmp_path):
    text = replace(BLUR_ATTACKER, "  adapter_blur: {method: finetune, obfuscation: pixelate, levels: [4, 8], "
                                  "attack: {seeds: [3, 4], finetune: {epochs: 2}}}")(PARAMS)
    study = load_config(write(tmp_path, text))
    attacker = study.attacker("adapter_blur")
    assert (attacker.method, attacker.obfuscation, attacker.low, attacker.high) == ("finetune", "pixelate", 4, 8)
    assert attacker.attack.seeds == [3, 4] and attacker.attack.finetune.epochs == 2
    assert attacker.attack.for_seed(4).seed == 4 and attacker.attack.for_seed(4).finetune.epochs == 2
    with pytest.raises(ValueError, match="take one replica"):
        attacker.attack.seed  # noqa: B018 (two replicas: no single seed)
    with pytest.raises(ValueError, match="seed 5 is not one of"):
        attacker.attack.for_seed(5)
    attack = yaml.safe_load(PARAMS)["attack"]  # from attack:
    assert (attacker.attack.finetune.lr, attacker.attack.finetune.batch_size) == (
        attack["finetune"]["lr"], attack["finetune"]["batch_size"])
    assert attacker.attack.adapter == study.attack.adapter and attacker.attack.val_pairs == attack["val_pairs"]
    assert study.attacker("adapter_deface").attack == study.attack
    with pytest.raises(ConfigError, match=r"attackers\.nope: not defined"):
        study.attacker("nope")


def test_default_attackers_one_adapter_per_family():
    study = load_config(REPO / "params.yaml")
    trained = {name: (study.attacker(name).method, study.attacker(name).trained_on, study.attacker(name).ranges)
               for name in study.attackers}
    assert trained == {
        "adapter_blur": ("adapter", "blur", {"blur": (2, 128)}),
        "adapter_pixelate": ("adapter", "pixelate", {"pixelate": (4, 192)}),
        "adapter_deface": ("adapter", "deface", {"deface": (1.3, 2.0)}),
        "adapter_face_gaussian": ("adapter", "face_gaussian", {"face_gaussian": (0.5, 8)}),
        "adapter_face_pixelate": ("adapter", "face_pixelate", {"face_pixelate": (0.1, 1.0)}),
    }


def test_every_family_and_a_mixture_are_accepted(tmp_path):
    entries = {"blackbox": "[1, 1]", "deface": "[1.0, 1.6]", "face_gaussian": "[0.25, 1]",
               "face_pixelate": "[0.05, 0.2]", "pixelate": "[4, 4]", "blur": "[0, 24]"}
    table = "".join(f"  on_{kind}: {{method: finetune, obfuscation: {kind}, levels: {levels}}}\n"
                    for kind, levels in entries.items())
    table += ("  on_mixture:\n    method: adapter\n    obfuscation: mixture\n"
              "    mixture: {face_pixelate: [0.1, 0.5], pixelate: [4, 16], blur: [2, 2]}\n")
    text = replace(BLUR_ATTACKER + "                    # sigma in px\n", table)(PARAMS)
    study = load_config(write(tmp_path, text))
    for kind, levels in entries.items():
        attacker = study.attacker(f"on_{kind}")
        assert (attacker.trained_on, attacker.kinds, attacker.is_mixture) == (kind, [kind], False)
        assert [attacker.low, attacker.high] == yaml.safe_load(levels)
    mixture = study.attacker("on_mixture")
    assert (mixture.trained_on, mixture.is_mixture) == ("mixture", True)
    assert mixture.ranges == {"face_pixelate": (0.1, 0.5), "pixelate": (4, 16), "blur": (2, 2)}
    assert mixture.kinds == ["face_pixelate", "pixelate", "blur"]  # the written order
    with pytest.raises(ValueError, match="mixture"):
        _ = mixture.low
    assert study.attackers["on_mixture"].levels is None


def test_full_profile_trains_every_family_both_ways_and_a_mixture():
    study = load_config(REPO / "params.yaml", overlays=[REPO / "profiles" / "full.yaml"])
    families = ("blur", "pixelate", "deface", "face_gaussian", "face_pixelate")
    for method in ("adapter", "finetune"):
        for kind in families:
            attacker = study.attacker(f"{method}_{kind}")
            assert (attacker.method, attacker.trained_on) == (method, kind)
            assert attacker.ranges == study.attacker(f"adapter_{kind}").ranges
        mixture = study.attacker(f"{method}_mixture")
        assert (mixture.method, mixture.trained_on) == (method, "mixture")
        assert mixture.ranges == {kind: study.attacker(f"adapter_{kind}").ranges[kind] for kind in families}


def test_level_tables_keep_the_written_order(tmp_path):
    blur = next(line for line in PARAMS.splitlines(keepends=True) if line.startswith("    blur: [0, "))
    text = PARAMS.replace(blur, "").replace("    blackbox: [1]\n    # presets",
                                      "    blackbox: [1]\n    blur: [0, 8]\n    # presets")
    study = load_config(write(tmp_path, text))
    pairs = study.render.obfuscations.pairs()
    assert pairs[:5] == [("pixelate", 8.0), ("pixelate", 16.0), ("pixelate", 32.0), ("pixelate", 192.0),
                         ("blackbox", 1.0)]
    assert pairs[5:7] == [("blur", 0.0), ("blur", 8.0)]
    assert study.render.obfuscations.as_dict()["blur"] == [0.0, 8.0]


def test_datasets_entries_get_their_defaults(tmp_path):
    text = replace("datasets: {}", "datasets: {faces: {format: folder, root: ~/faces, same_pairs: 5, "
                                   "different_pairs: 6, random_seed: 0, face_rule: central}}")(PARAMS)
    entry = load_config(write(tmp_path, text)).dataset("faces")
    assert (entry.format, entry.root, entry.face_rule, entry.same_pairs, entry.different_pairs, entry.images,
            entry.min_pairs_per_label) == ("folder", "~/faces", "central", 5, 6, "img_celeba", 10)
    with pytest.raises(ConfigError, match=r"datasets\.celeba: not defined \(datasets: faces\)"):
        load_config(write(tmp_path, text)).dataset("celeba")
    with pytest.raises(ConfigError, match=r"datasets\.celeba: not defined \(datasets: none\)"):
        load_config(REPO / "params.yaml").dataset("celeba")


def test_audit_entries_get_their_defaults_and_a_profile_removes_one(tmp_path):
    text = audits_table("audits: {mine: {command: 'deface {input} -o {output}', max_probes: 40}}")(PARAMS)
    study = load_config(write(tmp_path, text))
    entry = study.audit("mine")
    assert (entry.command, entry.version_command, entry.timeout_s, entry.workers, entry.keep_going,
            entry.max_probes) == ("deface {input} -o {output}", None, 120.0, 1, False, 40)
    assert entry.tool("mine").argv(Path("a.jpg"), Path("b.jpg")) == ["deface", "a.jpg", "-o", "b.jpg"]
    with pytest.raises(ConfigError, match=r"audits\.other: not defined \(audits: mine\)"):
        study.audit("other")
    overlay = tmp_path / "drop.yaml"
    overlay.write_text("audits:\n  mine: null\n")
    assert load_config(write(tmp_path, text), overlays=[overlay]).audits == {}


def test_study_is_frozen():
    study = load_config(REPO / "params.yaml")
    with pytest.raises(ValueError):
        study.train.epochs = 3


def test_schema_choices_match_the_library():
    """The schema's choices are the ones the library implements."""
    from flup.data import datasets
    from flup.faces import detection
    from flup.models import sampling
    from flup.obfuscation import families, methods, render
    from flup.verify import recognition

    assert get_args(schema.FaceRule) == detection.FACE_RULES
    assert get_args(schema.Mode) == recognition.MODES
    assert get_args(schema.Dataset.model_fields["format"].annotation) == datasets.FORMATS
    assert get_args(schema.Dataset.model_fields["images"].annotation) == datasets.CELEBA_IMAGE_SETS
    assert get_args(schema.Render.model_fields["encoding"].annotation) == render.ENCODINGS
    assert get_args(schema.Render.model_fields["blur_border"].annotation) == tuple(methods.BLUR_BORDERS)
    assert get_args(schema.Variant.model_fields["crop"].annotation) == sampling.CROPS
    assert get_args(schema.Variant.model_fields["blur"].annotation) == sampling.BLURS
    assert get_args(schema.Train.model_fields["positive"].annotation) == sampling.POSITIVES
    assert tuple(schema.Levels.model_fields) == families.ORDER
    assert set(schema.PolicySettings.model_fields) == {f.name for f in sampling.dataclasses.fields(sampling.Policy)}


# --- profiles --write keeps params.yaml's comments ---------------------------------------------------


def test_a_profile_removes_a_table_entry_with_null_and_only_there():
    base = {"attackers": {"a": {"method": "adapter"}, "b": {"method": "finetune"}}, "attack": {"max_images": 5}}
    merged = merge(base, {"attackers": {"a": None, "c": {"method": "adapter"}, "b": {"attack": {"seeds": [1]}}},
                          "attack": {"max_images": None}})
    assert merged == {"attackers": {"b": {"method": "finetune", "attack": {"seeds": [1]}}, "c": {"method": "adapter"}},
                      "attack": {"max_images": None}}  # outside the tables null is a value (here: no cap)
    assert base["attackers"]["a"] == {"method": "adapter"}  # the base is not edited


@pytest.mark.slow  # seconds of training or of writing every profile
@pytest.mark.parametrize("profile", [p.stem for p in PROFILES])
def test_profile_write_keeps_comments_and_changes_only_its_keys(tmp_path, profile):
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    changed = write_profile(profile, params, REPO / "profiles")
    after = params.read_text()
    comments = [line for line in PARAMS.split("\n") if line.lstrip().startswith("#")]
    assert [line for line in after.split("\n") if line.lstrip().startswith("#")] == comments
    overlay = yaml.safe_load((REPO / "profiles" / f"{profile}.yaml").read_text())

    assert yaml.safe_load(after) == merge(yaml.safe_load(PARAMS), overlay)
    def has(document, dotted):
        for part in dotted.split("."):
            if not isinstance(document, dict) or part not in document:
                return False
            document = document[part]
        return True

    added = [key for key in changed if not has(yaml.safe_load(PARAMS), key)]  # new table entries: one line each
    removed = [key for key in changed if not has(yaml.safe_load(after), key)]  # `name: null`: its line goes
    before_lines, after_lines = PARAMS.split("\n"), after.split("\n")
    # a table the profile empties (profiles/regions.yaml: variants) reads `name: {}`, keeping its comment; with
    # that header put back, the rest of the accounting holds
    for table, entries in yaml.safe_load(after).items():
        if entries == {} and yaml.safe_load(PARAMS).get(table):
            header = next(i for i, line in enumerate(before_lines) if line.startswith(f"{table}:"))
            emptied = next(i for i, line in enumerate(after_lines) if line.startswith(f"{table}: {{}}"))
            assert after_lines[emptied].split("#", 1)[1] == before_lines[header].split("#", 1)[1]
            after_lines[emptied] = before_lines[header]
    opcodes = difflib.SequenceMatcher(a=before_lines, b=after_lines, autojunk=False).get_opcodes()
    assert sum(j2 - j1 for tag, _, _, j1, j2 in opcodes if tag == "insert") == len(added)
    replaced = [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in opcodes if tag == "replace"]
    assert all(i2 - i1 == j2 - j1 for i1, i2, j1, j2 in replaced)
    assert sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag == "delete") == len(removed)
    assert sum(i2 - i1 for i1, i2, _, _ in replaced) == len(changed) - len(added) - len(removed)
    for i1, i2, j1, _ in replaced:  # a changed line keeps its comment
        for before, now in zip(before_lines[i1:i2], after_lines[j1:j1 + i2 - i1], strict=True):
            if "#" in before:
                assert now.split("#", 1)[1] == before.split("#", 1)[1]
    assert write_profile(profile, params, REPO / "profiles") == []  # writing it again changes nothing
    assert params.read_text() == after


def test_invalid_profile_is_not_written(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "bad.yaml").write_text("render:\n  workers: 0\n")
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    with pytest.raises(ConfigError, match=r"bad\.yaml:2: render\.workers: expected an integer in \[1, 256\]"):
        write_profile("bad", params, tmp_path / "profiles")
    assert params.read_text() == PARAMS


# --- a stage with a bad parameter stops before writing anything ---------------------------------


@pytest.mark.slow  # a subprocess
def test_stage_with_a_bad_parameter_exits_with_one_line_and_writes_nothing(tmp_path):
    text = set_value("render.regions", "[0]")(PARAMS)
    (tmp_path / "params.yaml").write_text(text)
    data = tmp_path / "data"
    (data / "render").mkdir(parents=True)
    (data / "render" / "summary.json").write_text('{"levels": []}')
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "stages.render"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().split("\n") == [
        f"error: params.yaml:{marked_line(text)}: render.regions[0]: expected a box scale factor: a finite number > 0 "
        "and <= 10, got 0"]
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "params.yaml"]
