"""The identification figures (flup/report/identification_figures.py) on a small hand-made table: a panel per
region and family tested at several levels, the single-level families sharing one, every panel with data, chance
and the privacy bound where they belong; and the report listing them first where the plot stage drew them."""

from __future__ import annotations

import itertools

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from flup.report import assemble
from flup.report import identification_figures as idf

GRID = {"blur": [0, 8, 16], "pixelate": [8, 16], "blackbox": [1], "deface": [1.3]}
RECOGNIZERS = [("arcface", "arcface"), ("arcface_restored", "restoration"), ("adapter_blur", "attacker")]
REGIONS = [1.0, 1.3]
BOUND = 0.55


def table(modes=("oracle_box",)) -> pd.DataFrame:
    rows = []
    for (name, kind), mode, region, (family, levels) in itertools.product(RECOGNIZERS, modes, REGIONS, GRID.items()):
        for i, level in enumerate(levels):
            if kind == "restoration" and (family not in ("blur", "pixelate") or level == 0):
                continue  # the restoring attacker: blur and pixelation only, nothing to restore when sharp
            auc = max(0.5, 0.98 - 0.15 * i - 0.03 * region)
            rank1 = max(0.1, 0.95 - 0.3 * i)
            rows.append({"recognizer": name, "recognizer_kind": kind, "mode": mode, "obfuscation": family,
                         "region": region, "level": float(level), "n_probes": 60, "n_identities": 36,
                         "auc": auc, "auc_low": auc - 0.04, "auc_high": min(1.0, auc + 0.04), "auc_chance": 0.5,
                         "rank1@10": rank1, "rank1@10_low": rank1 - 0.05, "rank1@10_high": min(1.0, rank1 + 0.05),
                         "rank1@10_chance": 0.1})
    return pd.DataFrame(rows)


@pytest.fixture
def figure(request):
    """The figure of one metric, closed after the test."""
    made = []

    def draw(metric, data=None, bound=BOUND):
        made.append(idf.identification_figure(table() if data is None else data, metric, bound))
        return made[-1]

    yield draw
    for fig in made:
        plt.close(fig)


def reference(ax, gid: str) -> list[float]:
    return [line.get_ydata()[0] for line in ax.get_lines() if line.get_gid() == gid]


def data_lines(ax) -> list:
    """The series' lines (not the error bars' caps nor the reference lines) with a value."""
    return [line for line in ax.get_lines() if line.get_gid() == idf.SERIES_GID
            and np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any()]


def test_both_files_written(tmp_path):
    paths = idf.draw_identification(table(), tmp_path, BOUND)
    assert set(paths) == {"identification_auc", "identification_rank1"}
    for path in paths.values():
        picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert picture is not None and min(picture.shape[:2]) > 300 and picture.std() > 5, path


def test_a_panel_per_region_and_multi_level_family_plus_one_for_single_levels(figure):
    fig = figure(idf.AUC)
    # per region: blur, pixelation, and black box + deface together
    assert len(fig.axes) == len(REGIONS) * 3
    titles = [ax.get_title() for ax in fig.axes]
    assert titles.count("Gaussian blur\nσ (px)") == 2 and titles.count("pixelation\nblock (px)") == 2
    assert titles.count("families tested at one level") == 2
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes if ax.get_ylabel()] == ["1× face box", "1.3× face box"]


def test_single_level_families_share_a_panel(figure):
    fig = figure(idf.AUC)
    shared = [ax for ax in fig.axes if ax.get_title() == "families tested at one level"]
    assert len(shared) == len(REGIONS)
    for ax in shared:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["black box", "deface\nmask scale 1.3"]
        # each recogniser's point at both categories (the restoring attacker has neither)
        xs = sorted(round(float(x)) for line in data_lines(ax) for x in line.get_xdata())
        assert xs == [0, 0, 1, 1]
    assert not any("black box" in ax.get_title() or "deface" in ax.get_title() for ax in fig.axes)


def test_every_panel_has_data_and_levels_labelled(figure):
    fig = figure(idf.AUC)
    for ax in fig.axes:
        assert data_lines(ax), ax.get_title()
        assert len(ax.get_xticks()) >= 2, ax.get_title()
        assert not [t for t in ax.texts if "not tested" in t.get_text()]
    blur = [ax for ax in fig.axes if ax.get_title().startswith("Gaussian blur")]
    assert all([t.get_text() for t in ax.get_xticklabels()] == ["none", "8", "16"] for ax in blur)
    # one line per recogniser in a blur panel: plain ArcFace, the restoring attacker, the adapter
    assert all(len(data_lines(ax)) == len(RECOGNIZERS) for ax in blur)


def test_chance_and_bound_lines(figure):
    auc = figure(idf.AUC)
    for ax in auc.axes:
        assert reference(ax, idf.CHANCE_GID) == [0.5]
        assert reference(ax, idf.BOUND_GID) == [BOUND]
        assert ax.get_ylim() == pytest.approx((0.4, 1.01))
    assert len({ax.get_ylim() for ax in auc.axes}) == 1
    rank = figure(idf.RANK)
    for ax in rank.axes:
        assert reference(ax, idf.CHANCE_GID) == [pytest.approx(10.0)]  # percent
        assert reference(ax, idf.BOUND_GID) == []
        values = np.concatenate([line.get_ydata() for line in data_lines(ax)])
        assert values.max() > 1.0  # shares drawn as percents


def test_end_to_end_is_dashed_beside_the_oracle_box(figure):
    data = table(("oracle_box", "end_to_end"))
    fig = figure(idf.AUC, data)
    assert len(fig.axes) == len(REGIONS) * 3
    blur = next(ax for ax in fig.axes if ax.get_title().startswith("Gaussian blur"))
    styles = {line.get_label().split("/")[1]: line.get_linestyle() for line in data_lines(blur)}
    assert styles == {"oracle_box": "-", "end_to_end": "--"}
    labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert "oracle box" in labels and "end-to-end" in labels and "plain ArcFace" in labels


def test_a_family_at_one_level_in_one_region_joins_that_region_s_shared_panel(figure):
    data = table()
    data = data[~((data["obfuscation"] == "pixelate") & (data["region"] == 1.3) & (data["level"] == 16))]
    fig = figure(idf.AUC, data)
    shared = [ax for ax in fig.axes if ax.get_title() == "families tested at one level"]
    assert [[t.get_text() for t in ax.get_xticklabels()] for ax in shared] == [
        ["black box", "deface\nmask scale 1.3"], ["pixelation\nblock 8 px", "black box", "deface\nmask scale 1.3"]]
    assert len(fig.axes) == 5


def test_nothing_to_plot_gives_a_placeholder(tmp_path):
    paths = idf.draw_identification(table().iloc[0:0], tmp_path, BOUND)
    assert all(path.is_file() for path in paths.values())
    with pytest.raises(ValueError, match="no values of auc"):
        idf.identification_figure(table().iloc[0:0], idf.AUC, BOUND)


def test_report_lists_them_first_where_drawn(tmp_path):
    for _, name in assemble.FIGURES:
        (tmp_path / name.format(protocol="view1")).write_bytes(b"png")
    listed = [file for _, file in assemble.figure_list(["view1"], tmp_path)]
    assert listed[:2] == [idf.AUC_FIGURE, idf.RANK1_FIGURE]
    (tmp_path / idf.AUC_FIGURE).unlink()
    (tmp_path / idf.RANK1_FIGURE).unlink()
    listed = [file for _, file in assemble.figure_list(["view1"], tmp_path)]
    assert idf.AUC_FIGURE not in listed and listed[0] == "auc_vs_level_arcface.png"
    (tmp_path / "gallery.png").unlink()
    with pytest.raises(FileNotFoundError):
        assemble.figure_list(["view1"], tmp_path)
