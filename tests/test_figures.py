"""The PNG figures as a reader sees them, on synthetic curves: the default study's 11 series and an extra
dataset tested at a single level. Nothing is cut off or drawn over another panel, and a single level is
one labelled point, not a numeric axis around it."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.transforms import Bbox

from flup.report import figures

# The default study's recognisers x threat models (long names, as the legend shows them).
SERIES = [("arcface", "end_to_end"), ("arcface", "oracle_box"), ("random_blur", "oracle_box"),
          ("random_crop", "oracle_box"), ("random_crop_blur", "oracle_box"), ("tight_crop_blur", "oracle_box"),
          ("tight_crop_blur@seen_identities", "oracle_box"), ("adapter_sampled", "end_to_end"),
          ("adapter_sampled", "oracle_box"), ("finetune_sampled", "end_to_end"), ("finetune_sampled", "oracle_box")]
LFW_GRID = {"blur": [0, 4, 8, 16, 24], "pixelate": [4, 8, 16], "blackbox": [1], "face_pixelate": [0.05, 0.1, 0.2]}
EXTRA_GRID = {"blur": [8], "blackbox": [1], "face_pixelate": [0.1]}  # an extra dataset, one level per family


def curves() -> pd.DataFrame:
    rows = []
    for (dataset, protocol, grid), (k, (recognizer, mode)) in itertools.product(
            [("lfw", "view1", LFW_GRID), ("celeba", "pairs", EXTRA_GRID)], enumerate(SERIES)):
        for obfuscation, levels in grid.items():
            for i, level in enumerate(levels):
                auc = max(0.5, 0.99 - 0.08 * i - 0.02 * k)
                rows.append({"dataset": dataset, "protocol": protocol, "recognizer": recognizer, "mode": mode,
                             "series": f"{recognizer}/{mode}", "obfuscation": obfuscation, "level": float(level),
                             "auc": auc, "auc_low": auc - 0.02, "auc_high": auc + 0.02,
                             "detection_rate": 1 - 0.05 * i, "mean_cos_same": 0.7 - 0.1 * i - 0.01 * k,
                             "mean_one_minus_cos_diff": 1.0 - 0.02 * i})
    return pd.DataFrame(rows)


def roc() -> pd.DataFrame:
    fpr = np.linspace(0, 1, 6)
    rows = [{"dataset": "lfw", "protocol": "view1", "series": f"{r}/{m}", "obfuscation": o, "level": float(lv),
             "fpr": f, "tpr": f ** 0.3}
            for (r, m), (o, lv), f in itertools.product(SERIES, [("blur", 0), ("blur", 8), ("blackbox", 1)], fpr)]
    return pd.DataFrame(rows)


def capture(monkeypatch) -> dict:
    """Every figure saved from now on, drawn (layout done) just before saving: {file name: figure facts}."""
    seen = {}
    save = figures.save_figure

    def inspect(fig, path):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        seen[str(path).rsplit("/", 1)[-1]] = {
            "figure": Bbox.from_bounds(0, 0, fig.bbox.width, fig.bbox.height),
            "legends": [legend.get_window_extent(renderer) for legend in fig.legends],
            "axes": {ax.get_title(): {"tight": ax.get_tightbbox(renderer), "ticks": list(ax.get_xticks()),
                                      "labels": [t.get_text() for t in ax.get_xticklabels()],
                                      "xlabel": ax.get_xlabel()}
                     for ax in fig.axes if ax.axison},
        }
        save(fig, path)

    monkeypatch.setattr(figures, "save_figure", inspect)
    return seen


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> tuple[dict, object]:
    """The plot stage's figures of the synthetic curves, drawn once for all tests here."""
    folder = tmp_path_factory.mktemp("figures")
    with pytest.MonkeyPatch.context() as monkeypatch:
        seen = capture(monkeypatch)
        data = curves()
        figures.mean_cosine_vs_level(data, folder / "mean_cosine_vs_level.png")
        figures.auc_vs_level(data, folder / "auc_vs_level.png")
        figures.detection_rate_vs_level(data, folder / "detection_rate_vs_level.png")
        figures.blackbox_figure(data, folder / "blackbox.png")
        figures.roc_figure(roc(), folder / "roc_view1.png", "view1")
    return seen, folder


def inside(inner: Bbox, outer: Bbox, tolerance: float = 1.0) -> bool:
    return (inner.x0 >= outer.x0 - tolerance and inner.y0 >= outer.y0 - tolerance
            and inner.x1 <= outer.x1 + tolerance and inner.y1 <= outer.y1 + tolerance)


def overlap(a: Bbox, b: Bbox, tolerance: float = 1.0) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance


@pytest.mark.slow  # seconds: trains, renders or draws
def test_eleven_series_legend_fits_and_nothing_overlaps(drawn):
    drawn, folder = drawn
    assert set(drawn) == {"mean_cosine_vs_level.png", "auc_vs_level.png", "detection_rate_vs_level.png",
                          "blackbox.png", "roc_view1.png"}
    for name, fig in drawn.items():
        assert len(fig["legends"]) == 1, name
        legend = fig["legends"][0]
        assert inside(legend, fig["figure"]), f"{name}: legend {legend.extents} outside figure {fig['figure'].extents}"
        for title, ax in fig["axes"].items():
            assert inside(ax["tight"], fig["figure"]), f"{name}: panel {title!r} is cut off"
            assert not overlap(ax["tight"], legend), f"{name}: the legend covers panel {title!r}"
        for (t1, a1), (t2, a2) in itertools.combinations(fig["axes"].items(), 2):
            assert not overlap(a1["tight"], a2["tight"]), f"{name}: panels {t1!r} and {t2!r} overlap"
        assert (folder / name).stat().st_size > 10_000


def test_legend_columns_follow_the_figure_width(drawn):
    """The 10-inch mean-cosine figure wraps the 11 series onto more rows than the wide AUC grid."""
    drawn, _ = drawn
    narrow, wide = drawn["mean_cosine_vs_level.png"]["legends"][0], drawn["auc_vs_level.png"]["legends"][0]
    assert narrow.height > wide.height
    assert narrow.width <= drawn["mean_cosine_vs_level.png"]["figure"].width


def test_single_level_gets_one_labelled_tick(drawn):
    drawn, _ = drawn
    mean_cosine = drawn["mean_cosine_vs_level.png"]["axes"]
    auc = drawn["auc_vs_level.png"]["axes"]
    for ax in (mean_cosine["celeba · pairs · mean cosine, same person"], auc["celeba · pairs · Gaussian blur"]):
        assert ax["ticks"] == [8.0] and ax["labels"] == ["8"] and ax["xlabel"] == "σ (px)"
    single = auc["celeba · pairs · face-relative pixelation"]
    assert single["ticks"] == [0.1] and single["labels"] == ["0.1"] and single["xlabel"] == "cell / face width"
    assert auc["celeba · pairs · black box"]["labels"] == ["black box"]
    # Several levels keep a numeric axis; integer levels (pixelation blocks) get integer ticks.
    assert len(auc["lfw · view1 · Gaussian blur"]["ticks"]) > 2
    assert all(float(t).is_integer() for t in auc["lfw · view1 · pixelation"]["ticks"])
    # Datasets: the study's own (LFW) first.
    assert list(mean_cosine)[0].startswith("lfw · view1")


def test_untested_family_gets_no_panel(drawn):
    """The extra dataset was not tested with pixelation: no panel for it (issue 29: no empty "not tested" panels);
    its tested families share lines with nothing else's and every other panel is drawn."""
    drawn, _ = drawn
    panels = drawn["detection_rate_vs_level.png"]["axes"]
    assert "celeba · pairs · pixelation" not in panels
    expected = {f"lfw · view1 · {figures.families.family(k).title}" for k in LFW_GRID}
    expected |= {f"celeba · pairs · {figures.families.family(k).title}" for k in EXTRA_GRID}
    assert set(panels) == expected


def test_panel_lines_pack_short_rows_together():
    six = ["blur", "pixelate", "blackbox", "deface", "face_gaussian", "face_pixelate"]
    lines = figures.panel_lines([("view1 1.0", six), ("view1 1.3", six), ("view2 1.0", ["blur"]),
                                 ("view2 1.3", ["blur"])], 6)
    assert [len(line) for line in lines] == [6, 6, 2]
    assert lines[2] == [("view2 1.0", "blur"), ("view2 1.3", "blur")]


@pytest.mark.slow  # seconds: draws
def test_roc_panels_of_one_level_families_share_a_line(tmp_path, monkeypatch):
    """The black box and deface have one tested level each: their ROC panels share a line after blur's three, so
    the figure has two lines of panels and no empty one (before: a line per family, two panels of three empty)."""
    seen = capture(monkeypatch)
    fpr = np.linspace(0, 1, 6)
    cells = [("blur", 0), ("blur", 8), ("blur", 16), ("blackbox", 1), ("deface", 1.3)]
    data = pd.DataFrame([{"dataset": "lfw", "protocol": "view1", "series": "arcface/oracle_box", "obfuscation": o,
                          "level": float(lv), "fpr": f, "tpr": f ** 0.3}
                         for (o, lv), f in itertools.product(cells, fpr)])
    figures.roc_figure(data, tmp_path / "roc.png", "view1", "plain ArcFace")
    axes = seen["roc.png"]["axes"]
    assert len(axes) == 5 and any(title.startswith("black box") for title in axes), list(axes)
    tops = sorted({round(facts["tight"].y1, -1) for facts in axes.values()})
    assert len(tops) == 2  # two lines of panels


@pytest.mark.slow  # seconds: trains, renders or draws
def test_several_regions_get_their_own_rows_and_nothing_overlaps(tmp_path, monkeypatch):
    """With render.regions [1.0, 2.0] each protocol (and each ROC obfuscation) gets one row per region, titled
    by it; one region draws as before (no region in any title)."""
    seen = capture(monkeypatch)
    one = curves()[lambda c: c["dataset"] == "lfw"].assign(region=1.0)
    wider = one.assign(region=2.0, **{c: one[c] - 0.1 for c in ("auc", "auc_low", "auc_high")})
    two = pd.concat([one, wider], ignore_index=True)
    points = pd.concat([roc().assign(region=1.0), roc().assign(region=2.0)], ignore_index=True)
    figures.auc_vs_level(one, tmp_path / "one.png")
    figures.auc_vs_level(two, tmp_path / "two.png")
    figures.blackbox_figure(two, tmp_path / "blackbox.png")
    figures.roc_figure(points, tmp_path / "roc.png", "view1")
    assert not any("face box" in title for title in seen["one.png"]["axes"])
    assert {t.rsplit(" · ", 1)[0] for t in seen["two.png"]["axes"]} == {"view1\n1× face box", "view1\n2× face box"}
    assert "view1\n2× face box · ROC AUC" in seen["blackbox.png"]["axes"]
    assert "Gaussian blur · σ = 8 px\n2× face box" in seen["roc.png"]["axes"]
    for name in ("two.png", "blackbox.png", "roc.png"):
        fig = seen[name]
        for (t1, a1), (t2, a2) in itertools.combinations(fig["axes"].items(), 2):
            assert not overlap(a1["tight"], a2["tight"]), f"{name}: panels {t1!r} and {t2!r} overlap"
    assert seen["two.png"]["figure"].height > seen["one.png"]["figure"].height
