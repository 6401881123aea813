"""The privacy report: numbers come from the metrics files, and the HTML is self-contained."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from flup.io import write_json
from flup.report import assemble as stage
from flup.report import findings, thumbnails
from flup.report.markdown import to_html
from flup.report.metrics_files import parse_privacy, parse_verification, read_metrics

REPO = Path(__file__).resolve().parents[1]
BOUND = 0.55
# (auc, low, high) per level; blur reaches the bound at 8, pixelate never does.
BLUR = {"0": (0.99, 0.98, 1.0), "4": (0.70, 0.65, 0.75), "8": (0.52, 0.50, 0.54), "12": (0.51, 0.49, 0.53)}
PIXELATE = {"8": (0.80, 0.76, 0.84), "16": (0.61, 0.57, 0.65)}
RECOGNIZERS = {
    "arcface": ["end_to_end", "oracle_box"], "random_crop": ["oracle_box"], "trained_attacker": ["oracle_box"],
}


def metric(auc, low, high):
    return {"n_pairs": 100, "auc": auc, "auc_low": low, "auc_high": high, "detection_rate": 1.0}


# Over a 1.5x face box (render.regions) blur is at chance from sigma 4 on.
WIDE_BLUR = {**BLUR, "4": (0.53, 0.50, 0.55)}


def verification_fixture(regions: tuple[float, ...] = (1.0,)) -> dict:
    """verification.json as evaluate writes it: obfuscation -> "region=<factor>" -> level -> metrics."""
    nested = {}
    for recognizer, modes in RECOGNIZERS.items():
        for mode in modes:
            by_kind = nested.setdefault(recognizer, {}).setdefault(mode, {})
            for region in regions:
                blur = BLUR if region == 1.0 else WIDE_BLUR
                for kind, levels in [("blur", {k: metric(*v) for k, v in blur.items()}),
                                     ("pixelate", {k: metric(*v) for k, v in PIXELATE.items()}),
                                     ("deface", {"1.3": metric(0.58, 0.53, 0.63)})]:
                    by_kind.setdefault(kind, {})[f"region={region:g}"] = levels
    return {"lfw": {"view1": nested}}


# privacy.json's thresholds, worked out by hand from the tables above (the weakest level whose auc_high <= 0.55):
# blur 8 (0.54; 4 has 0.75), over 1.5x the box blur 4 (0.55), pixelate none (0.84, 0.65), deface none (0.63).
# Written here, not computed by the code under test, so "the report and privacy.json agree" is a check the report
# can fail.
HAND_THRESHOLDS = {1.0: {"blur": 8.0, "pixelate": None, "deface": None},
                   1.5: {"blur": 4.0, "pixelate": None, "deface": None}}


def privacy_fixture(regions: tuple[float, ...] = (1.0,)) -> dict:
    records = [
        {"dataset": "lfw", "protocol": "view1", "recognizer": recognizer, "mode": mode, "obfuscation": obfuscation,
         "region": region, "level": level, "reached": level is not None}
        for recognizer, modes in RECOGNIZERS.items() for mode in modes for region in regions
        for obfuscation, level in HAND_THRESHOLDS[region].items()
    ]
    return {"privacy_auc_upper": BOUND, "thresholds": records, "relative_margin": 0.01,
            "relative_thresholds": relative_records(regions)}


# The relative thresholds ("no more revealing than a black box") need the per-pair scores: the report shows
# privacy.json's records as they are. Blur reaches it at 12 for every attacker, pixelation never, and deface
# has no black box on its pairs.
def relative_records(regions: tuple[float, ...] = (1.0,)) -> list[dict]:
    outcome = {"blur": (True, 12.0, 12.0), "pixelate": (False, None, 16.0), "deface": (None, None, 1.3)}
    return [
        {"dataset": "lfw", "protocol": "view1", "recognizer": recognizer, "mode": mode, "obfuscation": obfuscation,
         "region": region, "reached": reached, "level": level, "max_level_tested": strongest}
        for recognizer, modes in RECOGNIZERS.items() for mode in modes for region in regions
        for obfuscation, (reached, level, strongest) in outcome.items()
    ]


def png(colour: int) -> bytes:
    return cv2.imencode(".png", np.full((8, 8, 3), colour, dtype=np.uint8))[1].tobytes()


@pytest.fixture
def study(tmp_path):
    """A fake run: metrics files, the plot stage's figures, a dvc.lock and params."""
    plots = tmp_path / "plots"
    plots.mkdir()
    for _, name in stage.FIGURES:
        (plots / name.format(protocol="view1")).write_bytes(png(90))
    verification = verification_fixture()
    write_json(tmp_path / "verification.json", verification)
    write_json(tmp_path / "privacy.json", privacy_fixture())
    md5 = {n: hashlib.md5((tmp_path / f"{n}.json").read_bytes()).hexdigest() for n in ("verification", "privacy")}
    lock = {"schema": "2.0", "stages": {
        "render": {"params": {"params.yaml": {"render": {"regions": [1.0], "obfuscations": {"blur": [0, 4, 8, 12]}}}},
                   "outs": [{"path": "data/render", "md5": "abc.dir", "nfiles": 3}]},
        "evaluate": {"params": {"params.yaml": {"evaluate": {"privacy_auc_upper": BOUND}}},
                     "outs": [{"path": "metrics/verification.json", "md5": md5["verification"]},
                              {"path": "metrics/privacy.json", "md5": md5["privacy"]}]},
    }}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    params = {"render": {"regions": [1.0], "obfuscations": {"blur": [0, 4, 8, 12]}},
              "evaluate": {"privacy_auc_upper": BOUND},
              "attackers": {"trained_attacker": {"method": "adapter", "obfuscation": "blur", "levels": [2, 24]}}}
    return tmp_path, params


def write(params: dict, image, box, source: str, plots: Path, verification: Path, privacy: Path, lock: Path,
          learning_curve: Path | None = None) -> str:
    """What the report stage does with the study's files (flup/pipeline/report.py), with these."""
    metrics = read_metrics(verification, privacy, learning_curve)
    current = {"metrics/verification.json": stage.md5_file(verification),
               "metrics/privacy.json": stage.md5_file(privacy)}
    return stage.write_report(params, metrics, stage.read_lock(lock), current, image, box, source, plots)


def build(root: Path, params: dict) -> tuple[str, str]:
    image = np.random.default_rng(0).integers(0, 256, size=(120, 100, 3), dtype=np.uint8)
    markdown = write(params, image, (30, 30, 70, 90), "Fake/Fake_0001.jpg", root / "plots",
                     root / "verification.json", root / "privacy.json", root / "dvc.lock")
    assert (root / "plots/report.md").read_text() == markdown
    return markdown, (root / "plots/report.html").read_text()


def test_report_lists_every_recognizer_and_the_computed_verdicts(study):
    markdown, _ = build(*study)
    for recognizer in RECOGNIZERS:
        assert f"| `{recognizer}` |" in markdown
    assert "| `arcface` | end-to-end, oracle box | view1 |" in markdown
    assert ("σ = 8 px blur: trained_attacker (oracle box) is at chance, AUC 0.520 [0.500, 0.540] (upper bound ≤ 0.55); "
            "one step weaker, at σ = 4 px blur, trained_attacker (oracle box) still verifies identity with "
            "AUC 0.700 [0.650, 0.750]") in markdown
    assert ("never reached in the tested range: at the strongest level, 16 px pixelation, arcface (end-to-end) "
            "still verifies identity with AUC 0.610 [0.570, 0.650]") in markdown
    assert "| Gaussian blur | σ = 8 px blur | σ = 8 px blur |" in markdown
    assert "| pixelation | not reached (max 16) |" in markdown
    # the gallery shows the threshold level, or the strongest level tested where it was not reached
    assert sorted(p.name for p in (study[0] / "plots/report_gallery").iterdir()) == [
        "blur_8.png", "deface_1.3.png", "pixelate_16.png"]
    assert "![σ = 8 px blur](report_gallery/blur_8.png)" in markdown
    assert "disagree" not in markdown
    assert "`metrics/privacy.json` is the file `dvc.lock` recorded" in markdown
    assert "params.yaml has changed" not in markdown
    # one region: named once, no region in the tables
    assert "**Region**: every obfuscation covers the detected face box scaled by 1 (`render.regions`)." in markdown
    assert "face box |" not in markdown and "### view1\n" in markdown


def test_report_with_two_regions_splits_every_table_by_region(study):
    root, params = study
    regions = (1.0, 1.5)
    write_json(root / "verification.json", verification_fixture(regions))
    write_json(root / "privacy.json", privacy_fixture(regions))
    markdown, _ = build(root, params)
    assert "disagree" not in markdown  # each region's recomputed threshold matches its own record
    assert "**Regions**: every obfuscation is tested over the detected face box scaled by 1, 1.5" in markdown
    glance = markdown[markdown.index("## Privacy thresholds at a glance"):markdown.index("## No more revealing")]
    assert glance.index("### view1 · 1× face box") < glance.index("### view1 · 1.5× face box")
    wide = glance[glance.index("### view1 · 1.5× face box"):]
    assert "| Gaussian blur | σ = 4 px blur | σ = 4 px blur |" in wide
    assert "| Gaussian blur | σ = 8 px blur | σ = 8 px blur |" in glance[:glance.index("### view1 · 1.5× face box")]
    relative = markdown[markdown.index("## No more revealing"):markdown.index("## Gaussian blur (`blur`)")]
    assert "### view1 · 1× face box" in relative and "### view1 · 1.5× face box" in relative
    assert "| view1 · 1.5× face box | `arcface` | end-to-end | σ = 4 px blur | AUC 0.530" in markdown
    # the gallery shows each region's threshold over that region
    assert sorted(p.name for p in (root / "plots/report_gallery").iterdir()) == [
        "blur_4_region1.5.png", "blur_8.png", "deface_1.3.png", "deface_1.3_region1.5.png", "pixelate_16.png",
        "pixelate_16_region1.5.png"]
    assert "![σ = 4 px blur, 1.5× face box](report_gallery/blur_4_region1.5.png)" in markdown


def test_report_shows_the_relative_threshold_after_the_absolute_one(study):
    root, params = study
    markdown, _ = build(root, params)
    glance = markdown.index("## Privacy thresholds at a glance")
    relative = markdown.index("## No more revealing than a black box")
    assert glance < relative < markdown.index("## Gaussian blur (`blur`)")
    section = markdown[relative:markdown.index("## Gaussian blur (`blur`)")]
    assert "has its upper end below 0.01 (`evaluate.relative_margin`)" in section
    assert ("| obfuscation | arcface (end-to-end) | arcface (oracle box) | random_crop (oracle box) | "
            "trained_attacker (oracle box) |") in section
    assert "| Gaussian blur | σ = 12 px blur | σ = 12 px blur | σ = 12 px blur | σ = 12 px blur |" in section
    assert "| pixelation | not reached (max 16) |" in section
    assert "| no black box on these pairs |" in section
    privacy = privacy_fixture()
    del privacy["relative_thresholds"]
    write_json(root / "privacy.json", privacy)
    markdown, _ = build(root, params)
    assert "`metrics/privacy.json` has no relative thresholds (written before they existed)" in markdown


def test_thresholds_in_both_units(study):
    """Where the metrics carry levels per face width, both threshold tables show both units."""
    root, params = study
    verification = verification_fixture()
    for modes in verification["lfw"]["view1"].values():
        for by_kind in modes.values():
            for kind in ("blur", "pixelate"):
                for key, value in by_kind[kind]["region=1"].items():
                    value["level_per_face"] = float(key) / 80
    write_json(root / "verification.json", verification)
    privacy = privacy_fixture() | {"face_width_px": {"lfw": 80.0}}
    for record in privacy["relative_thresholds"]:
        if record["obfuscation"] in ("blur", "pixelate"):
            record["level_per_face"] = None if record["level"] is None else record["level"] / 80
            record["max_level_per_face"] = record["max_level_tested"] / 80
    write_json(root / "privacy.json", privacy)
    markdown, _ = build(root, params)
    assert "median face-box width of the obfuscated images: lfw 80.0 px" in markdown
    glance = markdown[markdown.index("## Privacy thresholds at a glance"):]
    assert "| Gaussian blur | σ = 8 px blur (0.1 × face width) | σ = 8 px blur (0.1 × face width) |" in glance
    assert "| pixelation | not reached (max 16; 0.2 × face width) |" in glance
    relative = markdown[markdown.index("## No more revealing than a black box"):]
    assert "| Gaussian blur | σ = 12 px blur (0.15 × face width) |" in relative
    assert "| pixelation | not reached (max 16; 0.2 × face width) |" in relative
    assert "| deface (box blur over an enlarged ellipse) | no black box on these pairs |" in relative
    assert "| view1 | `arcface` | end-to-end | σ = 8 px blur (0.1 × face width) | AUC 0.520" in markdown


def test_report_follows_a_changed_metric_file(study):
    root, params = study
    before, _ = build(root, params)
    data = json.loads((root / "verification.json").read_text())
    data["lfw"]["view1"]["arcface"]["end_to_end"]["blur"]["region=1"]["8"] = metric(0.57, 0.53, 0.61)
    (root / "verification.json").write_text(json.dumps(data))
    after, page = build(root, params)
    assert before != after
    old = "σ = 8 px blur: arcface (end-to-end) is at chance"
    new = ("σ = 12 px blur: arcface (end-to-end) is at chance, AUC 0.510 [0.490, 0.530] (upper bound ≤ 0.55); "
           "one step weaker, at σ = 8 px blur, arcface (end-to-end) still verifies identity with "
           "AUC 0.570 [0.530, 0.610]")
    assert old in before and old not in after
    assert new in after and new not in before
    assert "| Gaussian blur | σ = 12 px blur | σ = 8 px blur |" in after  # end-to-end moved, oracle box did not
    assert "AUC 0.570 [0.530, 0.610]" in page
    # privacy.json (not changed) now disagrees, and the file differs from the one dvc.lock recorded
    assert "privacy.json and verification.json disagree" in after
    assert "**`metrics/verification.json` differs from the file `dvc.lock` recorded**" in after
    assert sorted(p.name for p in (root / "plots/report_gallery").iterdir()) == [
        "blur_12.png", "blur_8.png", "deface_1.3.png", "pixelate_16.png"]


def test_report_flags_a_privacy_file_that_disagrees_with_the_metrics(study):
    """The hand-written privacy.json is checked, not trusted: a wrong or missing record is named."""
    root, params = study
    privacy = privacy_fixture()
    wrong = next(r for r in privacy["thresholds"] if (r["recognizer"], r["mode"], r["obfuscation"]) ==
                 ("random_crop", "oracle_box", "blur"))
    wrong["level"] = 12.0
    privacy["thresholds"] = [r for r in privacy["thresholds"] if (r["recognizer"], r["obfuscation"]) !=
                             ("trained_attacker", "deface")]
    write_json(root / "privacy.json", privacy)
    markdown, _ = build(root, params)
    assert "privacy.json and verification.json disagree" in markdown
    assert "lfw · view1 · random_crop · oracle_box · blur · 1× face box: privacy.json says" in markdown
    missing = ("lfw · view1 · trained_attacker · oracle_box · deface · 1× face box: in verification.json but not in "
               "privacy.json")
    assert missing in markdown
    assert markdown.count("privacy.json says") == 1  # the other records agree


def test_report_flags_params_changed_since_the_run(study):
    root, params = study
    params["render"]["obfuscations"]["deface"] = [1.3]
    markdown, _ = build(root, params)
    assert "**params.yaml has changed since this run** (`render`)" in markdown


def test_html_embeds_every_image_and_links_nothing(study):
    _, page = build(*study)
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 3 + len(stage.FIGURES)  # gallery images + figures
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"https?:", page) and "<a " not in page and "<link" not in page and "<script" not in page
    assert "<table>" in page and "<h2>Attackers found</h2>" in page
    assert "<td><code>trained_attacker</code></td>" in page


def test_to_html_escapes_and_refuses_missing_images():
    page = to_html("# A <b> & `x|y`\n\n| a | b \\| c |\n|---|---|\n| 1 | **2** |\n\n![cap](x.png)\n",
                   {"x.png": b"\x89PNG"})
    assert "<h1>A &lt;b&gt; &amp; <code>x|y</code></h1>" in page
    assert "<th>b | c</th>" in page and "<td><strong>2</strong></td>" in page
    assert 'src="data:image/png;base64,iVBORw=="' in page
    with pytest.raises(ValueError, match="'y.png', which was not supplied"):
        to_html("![cap](y.png)\n", {})


def test_threshold_relapse_is_reported():
    verification = {"lfw": {"view2": {"arcface": {"end_to_end": {"blur": {
        "4": metric(0.7, 0.65, 0.75), "8": metric(0.52, 0.5, 0.54), "12": metric(0.6, 0.56, 0.64)}}}}}}
    (finding,) = findings.findings(parse_verification(verification), BOUND)
    assert finding.threshold == 8 and finding.relapse == 12
    assert "but at the stronger σ = 12 px blur the upper bound is above 0.55 again" in finding.verdict()


def test_stage_on_the_committed_metrics(tmp_path, lfw_root):
    plots = tmp_path / "plots"
    shutil.copytree(REPO / "plots", plots, ignore=shutil.ignore_patterns("report*", "data"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    image = cv2.imread(str(lfw_root / "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0013.jpg"))
    markdown = write(params, image, (85.3, 60.8, 170.2, 190.6), "Abdullah_Gul/Abdullah_Gul_0013.jpg",
                     plots, REPO / "metrics/verification.json", REPO / "metrics/privacy.json", REPO / "dvc.lock",
                     REPO / "metrics/learning_curve.json")
    privacy = json.loads((REPO / "metrics/privacy.json").read_text())
    assert "disagree" not in markdown
    for recognizer in {r["recognizer"] for r in privacy["thresholds"]}:
        assert f"| `{recognizer}` |" in markdown
    for record in privacy["thresholds"]:
        if record["reached"]:
            level = findings.level_phrase(record["obfuscation"], record["level"])
            assert f"{level}: {findings.attacker(record['recognizer'], record['mode'])} is at chance" in markdown
    page = (plots / "report.html").read_text()
    thumbs = len(re.findall(r"!\[[^\]]*\]\(thumbs/", markdown))  # the answer's, where the plot stage wrote them
    assert page.count('<img src="data:image/png;base64,') == len(list((plots / "report_gallery").iterdir())) + len(
        stage.figure_list(parse_verification(json.loads((REPO / "metrics/verification.json").read_text())).protocols,
                          plots)) + thumbs


def test_a_baseline_only_protocol_gets_one_line_not_a_table_of_empty_thresholds(study):
    """render.baseline_only: view2 at σ = 0 alone has no threshold to show, so the glance section says so once."""
    root, params = study
    verification = verification_fixture()
    sharp = verification["lfw"]["view1"]["arcface"]["oracle_box"]["blur"]["region=1"]["0"]
    verification["lfw"]["view2"] = {"arcface": {"oracle_box": {"blur": {"region=1": {"0": sharp}}}}}
    write_json(root / "verification.json", verification)
    figures = next(root.rglob("roc_view1_arcface.png")).parent
    for kind in ("arcface", "attacker", "model"):
        (figures / f"roc_view2_{kind}.png").write_bytes((figures / f"roc_view1_{kind}.png").read_bytes())
    markdown, _ = build(root, params)
    glance = markdown[markdown.index("## Privacy thresholds at a glance"):markdown.index("## No more revealing")]
    view2 = glance[glance.index("### view2"):]
    assert view2.startswith("### view2\n\nNot obfuscated here: the unobfuscated baseline alone")
    assert "not reached (max 0)" not in markdown and "| pixelation | — |" not in view2
    # evaluate records no threshold for a baseline-only series (privacy.json has no view2 record): that agrees
    assert "disagree" not in markdown


def test_the_report_leads_with_the_answer_and_embeds_its_thumbnails(study):
    root, params = study
    image = np.random.default_rng(0).integers(0, 256, size=(120, 100, 3), dtype=np.uint8)
    thumbnails.write_thumbs(image, (30, 30, 70, 90), [("blur", 8.0, 1.0), ("pixelate", 16.0, 1.0)], root / "plots")
    privacy = privacy_fixture()
    for r in privacy["thresholds"]:
        if (r["recognizer"], r["mode"], r["obfuscation"]) == ("arcface", "oracle_box", "blur"):
            r |= {"status": "bracketed", "identifies_level": 4.0, "uniform_level": None, "auc": 0.52,
                  "auc_low": 0.50, "auc_high": 0.54}
    write_json(root / "privacy.json", privacy)
    markdown, page = build(root, params)
    order = [page.index(h) for h in ("<h2>The answer: how strong", "<h2>The answer, relative",
                                     "<h2>Trained on × tested on</h2>", "<h2>The detail</h2>",
                                     "<h2>Privacy thresholds at a glance</h2>")]
    assert order == sorted(order)
    assert "σ = 8 px · bracket (4, 8] · AUC 0.520 [0.500, 0.540]" in markdown
    answer_part = page[:page.index("<h2>The answer, relative")]
    assert "bracket (4, 8]" in answer_part
    # every cell shows its thumbnail, embedded: blur at 8 where reached, pixelation at its strongest (16)
    sources = re.findall(r'<img src="data:image/png;base64,[^"]*" alt="([^"]*)"', answer_part)
    # arcface x 2 modes + trained_attacker, and the level against every attacker at once
    assert sources.count("σ = 8 px blur, 1× face box") == 4
    assert sources.count("16 px pixelation, 1× face box") == 3
    assert "random_crop" not in answer_part and "`trained_attacker`: Gaussian blur" in markdown
    assert "](thumbs/blur_8_r1.png)" in markdown and "thumbs/" not in page


def test_the_reader_types_the_committed_metrics():
    """One typed reader for the whole report: every record of the committed files, with its values."""
    files = read_metrics(REPO / "metrics/verification.json", REPO / "metrics/privacy.json",
                         REPO / "metrics/learning_curve.json")
    privacy = json.loads((REPO / "metrics/privacy.json").read_text())
    assert files.privacy.bound == privacy["privacy_auc_upper"] and len(files.privacy.thresholds) == len(
        privacy["thresholds"])
    assert len(files.privacy.relative_thresholds) == len(privacy["relative_thresholds"])
    for typed, raw in zip(files.privacy.thresholds, privacy["thresholds"], strict=True):
        assert (typed.recognizer, typed.obfuscation, typed.region, typed.level, typed.status, typed.auc_high) == (
            raw["recognizer"], raw["obfuscation"], raw["region"], raw["level"], raw["status"], raw["auc_high"])
        assert typed.bracket_recorded
    verification = json.loads((REPO / "metrics/verification.json").read_text())
    for series in files.verification.series[:20]:
        node = verification[series.dataset][series.protocol][series.recognizer][series.mode][series.obfuscation]
        leaves = node[f"region={series.region:g}"]
        assert [float(k) for k in sorted(leaves, key=float)] == list(series.levels)
        assert all(series.metric(float(k)).auc == v["auc"] for k, v in leaves.items())
    assert files.learning_curve is not None and files.learning_curve.rows == ()


def test_the_reader_reads_older_files():
    """Files written before regions, statuses, seeds or relative thresholds existed read with their defaults."""
    verification = parse_verification({"lfw": {"view2": {"arcface": {"end_to_end": {"blur": {
        "8": metric(0.52, 0.5, 0.54), "4": metric(0.7, 0.65, 0.75)}}}}}})
    (series,) = verification.series
    assert (series.region, series.levels, verification.protocols) == (1.0, (4.0, 8.0), ("view2",))
    assert series.metric(8).auc_high == 0.54 and series.metric(8).n_seeds == 1
    privacy = parse_privacy({"privacy_auc_upper": 0.55, "thresholds": [
        {"dataset": "lfw", "protocol": "view2", "recognizer": "arcface", "mode": "end_to_end", "obfuscation": "blur",
         "level": 8.0, "reached": True, "auc_high": float("nan")}]})
    (record,) = privacy.thresholds
    assert (record.region, record.status, record.bracket_recorded, record.auc_high) == (1.0, None, False, None)
    assert privacy.relative_thresholds is None and privacy.relative_margin is None and privacy.face_width_px == {}
