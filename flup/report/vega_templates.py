"""The vega-lite templates of ``dvc plots`` (``.dvc/plots/flup_*.json``), generated from the family registry.

One template per figure kind (metric vs level, ROC) and recogniser kind (``RECOGNIZER_KINDS``): each keeps the rows
of its kind (the evaluate stage's ``recognizer_kind`` column), so a panel holds a few series, and a ``dvc plots diff``
draws each revision with its own dash.

Panels are one wrapped facet (``facet`` + ``columns``) over a single ``panel`` field, never crossed ``row`` x
``column`` facets: vega-lite 5.2 (the version DVC's page loads) lays the cells of a crossed facet with a custom sort
out in another order than its headers whenever a row lacks a column (view2 holds blur only), so the data of one
heading is drawn under another. A wrapped facet also has no empty panels. Each panel's position comes from
``panel_order``, a dense rank over (dataset, protocol, region, family[, level]), the same key for cells and headers.

Levels are drawn in the family's unit (bottom axis) and in face widths (top axis: ``level_per_face`` of the evaluate
stage, on a zero-based scale so both axes line up).

``python -m flup.report.vega_templates --write`` rewrites the files; without ``--write`` it checks them
(``tests/test_families.py`` does too).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flup.obfuscation import families
from flup.report.naming import PROTOCOL_ORDER, RECOGNIZER_KINDS

TEMPLATE_DIR = Path(".dvc/plots")
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
SERIES_COLUMNS = 6  # panels per row: the six families of the default study
ROC_COLUMNS = 6
FACE_WIDTHS = "face widths"


def _choice(field: str, cases: dict[str, str], otherwise: str) -> str:
    """A vega expression: ``cases[datum[field]]`` (expressions), else ``otherwise``."""
    expression = otherwise
    for key, value in reversed(list(cases.items())):
        expression = f"datum.{field} === {json.dumps(key)} ? {value} : ({expression})"
    return expression


def _number(field: str) -> str:
    return f"toNumber(datum.{field})"


def family_title_expression(unit: bool) -> str:
    """The family's panel title ("Gaussian blur"), with its level ``unit`` ("Gaussian blur, σ (px)"); an unknown
    kind as it is."""
    titles = {k: json.dumps(f.title + (f", {f.axis_label}" if unit and f.axis_label else "")) for k, f in
              families.FAMILIES.items()}
    return _choice("obfuscation", titles, "datum.obfuscation")


def level_text_expression() -> str:
    """The level as ``families.level_text`` writes it ("σ = 8 px", "sharp (σ = 0)", "4 cells across")."""
    level = _number("level")
    cases = {}
    for kind, family in families.FAMILIES.items():
        text = json.dumps(family.short).replace("{v}", f'" + {level} + "').replace(
            "{cells}", f'" + round(1 / {level}) + "')
        if family.identity is not None and family.identity_short:
            text = f"{level} === {family.identity:g} ? {json.dumps(family.identity_short)} : {text}"
        cases[kind] = text
    return _choice("obfuscation", cases, f"datum.obfuscation + ' ' + {level}")


def _rank(name: str, values: list[str] | tuple[str, ...], field: str) -> dict:
    """A calculate transform: the index of ``datum[field]`` in ``values``, the others after them."""
    return {"calculate": f"indexof({json.dumps(list(values))}, datum.{field}) < 0 ? {len(values)} : "
                         f"indexof({json.dumps(list(values))}, datum.{field})", "as": name}


def _common_transforms(kind: str, with_level: bool) -> list[dict]:
    """Keep ``kind``'s rows; name each panel and give it its place (``panel``, ``panel_order``)."""
    region = f"{_number('region')} + '× face box'"
    head = ("(datum.datasets > 1 ? datum.dataset + ' · ' : '') + datum.protocol + ' · ' + " + region)
    family = "datum.family_title"
    tail = f"{family} + ' · ' + datum.level_text" if with_level else family
    order = [{"field": "dataset_rank"}, {"field": "dataset"}, {"field": "protocol_rank"}, {"field": "protocol"},
             {"field": "region_number"}, {"field": "family_rank"}, {"field": "obfuscation"}]
    if with_level:
        order.append({"field": "level_number"})
    return [
        {"filter": f"datum.recognizer_kind === {json.dumps(kind)}"},
        {"calculate": _number("region"), "as": "region_number"},
        {"calculate": _number("level"), "as": "level_number"},
        {"calculate": _number("level_per_face"), "as": "level_face_widths"},
        {"calculate": "datum.dataset === 'lfw' ? 0 : 1", "as": "dataset_rank"},
        _rank("protocol_rank", PROTOCOL_ORDER, "protocol"),
        _rank("family_rank", families.ORDER, "obfuscation"),
        {"calculate": family_title_expression(unit=not with_level), "as": "family_title"},
        {"calculate": level_text_expression(), "as": "level_text"},
        {"joinaggregate": [{"op": "distinct", "field": "dataset", "as": "datasets"}]},
        # Two lines: where (dataset, protocol, region), then what (family, unit or level).
        {"calculate": f"[{head}, {tail}]", "as": "panel_lines"},
        {"calculate": "join(datum.panel_lines, ' | ')", "as": "panel"},
        {"window": [{"op": "dense_rank", "as": "panel_order"}], "sort": order},
    ]


def _facet(columns: int) -> dict:
    return {
        "facet": {"field": "panel", "type": "nominal", "title": None,
                  "sort": {"field": "panel_order", "op": "min"},
                  "header": {"labelExpr": "split(datum.label, ' | ')", "labelFontSize": 11}},
        "columns": columns,
    }


def _colour_and_dash() -> dict:
    return {
        "color": {"field": "series", "type": "nominal", "title": "recognizer/mode", "legend": {"orient": "top"}},
        "strokeDash": {"field": "rev", "type": "nominal", "title": "revision", "sort": [],
                       "legend": {"orient": "top", "symbolType": "stroke", "symbolStrokeWidth": 2}},
        "detail": {"field": "dataset", "type": "nominal"},
    }


def series_template(kind: str) -> dict:
    """One metric vs level, ``kind``'s series: a panel per (dataset, protocol, region, family)."""
    title = RECOGNIZER_KINDS[kind]
    level_scale = {"zero": True, "nice": False}
    return {
        "$schema": SCHEMA,
        "description": f"flup: one metric vs obfuscation level, {title} (generated by flup/report/vega_templates.py: "
                       "do not edit). A panel per dataset, protocol, region and family; colour: series; dash: "
                       "revision (dvc plots diff); top axis: the level in face widths.",
        "data": {"values": "<DVC_METRIC_DATA>"},
        "title": {"text": "<DVC_METRIC_TITLE>", "subtitle": title, "anchor": "middle"},
        "transform": _common_transforms(kind, with_level=False),
        **_facet(SERIES_COLUMNS),
        "spec": {
            "width": 165,
            "height": 130,
            "layer": [
                {
                    "mark": {"type": "line", "point": True, "tooltip": {"content": "data"}},
                    "encoding": {
                        "x": {"field": "<DVC_METRIC_X>", "type": "quantitative", "title": "<DVC_METRIC_X_LABEL>",
                              "scale": level_scale},
                        "y": {"field": "<DVC_METRIC_Y>", "type": "quantitative", "title": "<DVC_METRIC_Y_LABEL>",
                              "scale": {"zero": False}},
                        **_colour_and_dash(),
                    },
                },
                {
                    "mark": {"type": "point", "opacity": 0},
                    "encoding": {
                        "x": {"field": "level_face_widths", "type": "quantitative", "scale": level_scale,
                              "axis": {"orient": "top", "title": FACE_WIDTHS, "grid": False}},
                        "y": {"field": "<DVC_METRIC_Y>", "type": "quantitative"},
                    },
                },
            ],
            "resolve": {"scale": {"x": "independent"}},
        },
        "resolve": {"scale": {"x": "independent"}},
    }


def roc_template(kind: str) -> dict:
    """ROC curves, ``kind``'s series: a panel per (dataset, protocol, region, family, level) of evaluate.roc_levels."""
    title = RECOGNIZER_KINDS[kind]
    axis_scale = {"domain": [0, 1]}
    return {
        "$schema": SCHEMA,
        "description": f"flup: ROC curves, {title} (generated by flup/report/vega_templates.py: do not edit). A panel "
                       "per dataset, protocol, region, family and level of evaluate.roc_levels; colour: series; "
                       "dash: revision (dvc plots diff). Points are joined in ROC order (fpr + tpr rises along "
                       "the curve).",
        "data": {"values": "<DVC_METRIC_DATA>"},
        "title": {"text": "<DVC_METRIC_TITLE>", "subtitle": title, "anchor": "middle"},
        "transform": [*_common_transforms(kind, with_level=True),
                      {"calculate": "toNumber(datum.fpr) + toNumber(datum.tpr)", "as": "roc_path"}],
        **_facet(ROC_COLUMNS),
        "spec": {
            "width": 130,
            "height": 130,
            "mark": {"type": "line", "tooltip": {"content": "data"}},
            "encoding": {
                "x": {"field": "<DVC_METRIC_X>", "type": "quantitative", "title": "<DVC_METRIC_X_LABEL>",
                      "scale": axis_scale},
                "y": {"field": "<DVC_METRIC_Y>", "type": "quantitative", "title": "<DVC_METRIC_Y_LABEL>",
                      "scale": axis_scale},
                "order": {"field": "roc_path", "type": "quantitative"},
                **_colour_and_dash(),
            },
        },
    }


def templates() -> dict[str, dict]:
    """Every template by file name (``flup_series_<kind>.json``, ``flup_roc_<kind>.json``)."""
    out = {}
    for kind in RECOGNIZER_KINDS:
        out[f"flup_series_{kind}.json"] = series_template(kind)
        out[f"flup_roc_{kind}.json"] = roc_template(kind)
    return out


def text(template: dict) -> str:
    return json.dumps(template, indent=1, ensure_ascii=False) + "\n"


def stale(folder: Path = TEMPLATE_DIR) -> list[str]:
    """The template files in ``folder`` that differ from (or lack) the generated ones."""
    return [name for name, template in templates().items()
            if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text(template)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the templates in .dvc/plots/")
    args = parser.parse_args(argv)
    if args.write:
        for name, template in templates().items():
            (TEMPLATE_DIR / name).write_text(text(template), encoding="utf-8")
        return 0
    outdated = stale()
    if outdated:
        print(f"out of date in {TEMPLATE_DIR}: {', '.join(outdated)} (python -m flup.report.vega_templates --write)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
