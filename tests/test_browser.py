"""The pages a reader opens, checked in a real browser (headless Chromium, network blocked).

- ``plots/report.html``: every image decoded and not blank.
- The page ``dvc plots diff`` writes with this repo's DVC config (``.dvc/config`` -> the offline template
  ``.dvc/plots/offline.html``), for the committed study's plots/data beside an experiment derived from it: every
  vega figure drew (non-blank canvas), both revisions are in its legend.
- ``dvc plots show`` of this project's own plots (dvc.yaml over plots/data/*.csv), as a clone has them.
- On both pages, each facet cell's data read back from the vega view's scenegraph sits under its own heading
  (protocol, region, family, ROC level), no panel is empty and every panel of the data is drawn once (issue 29).
- No page makes a request other than to ``file:``/``data:`` URLs (every request the page issues is
  seen through the DevTools protocol's Network domain; name resolution is blocked as well), and no
  script error is raised.

Chromium is driven over ``--remote-debugging-pipe`` (the DevTools protocol on fds 3 and 4), so no
extra Python package is needed. A screenshot of each page is written to ``docs/screenshots/`` when
``FLUP_SCREENSHOTS=1``. Install Chromium with ``apt-get install -y chromium`` (``.ci/run`` does).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

pytestmark = pytest.mark.slow  # headless Chromium and dvc plots

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / ".dvc" / "plots" / "offline.html"
SCREENSHOTS = REPO / "docs" / "screenshots"
BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
TIMEOUT = 60.0

# Runs before any page script: keep every vegaEmbed(...) result, so the checks can reach the vega views.
HOOK_VEGA_EMBED = """
(() => {
  const embeds = [];
  let wrapped;
  window.__flupEmbeds = embeds;
  Object.defineProperty(window, "vegaEmbed", {
    configurable: true,
    get() { return wrapped; },
    set(real) {
      wrapped = (...args) => { const result = real(...args); embeds.push(result); return result; };
      Object.assign(wrapped, real);
    },
  });
})();
"""

# Evaluated in the page once it has loaded; returns what the assertions need.
INSPECT_PAGE = """
(async () => {
  // Share of pixels with ink (neither transparent nor near-white) and the luminance spread.
  const ink = (ctx, w, h) => {
    if (!w || !h) return {ink: 0, std: 0};
    const d = ctx.getImageData(0, 0, w, h).data;
    let inked = 0, sum = 0, sum2 = 0;
    for (let i = 0; i < d.length; i += 4) {
      const y = d[i + 3] === 0 ? 255 : 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      if (d[i + 3] > 0 && y < 235) inked++;
      sum += y; sum2 += y * y;
    }
    const n = d.length / 4;
    return {ink: n ? inked / n : 0, std: n ? Math.sqrt(Math.max(0, sum2 / n - (sum / n) ** 2)) : 0};
  };
  // A group item's title text (vega draws a group title as a child mark of role "title"); multi-line joined by " | ".
  const titleOf = (item) => {
    const lines = [];
    for (const mark of item.items || []) {
      if (mark.role !== "title") continue;
      for (const group of mark.items || []) {
        for (const text of group.items || []) {
          if (text.role !== "title-text") continue;
          for (const t of text.items || []) lines.push(...[].concat(t.text ?? []).map(String));
        }
      }
    }
    return lines.join(" | ");
  };
  // What each facet cell draws, read from the view's scenegraph: the cell's own title (a wrapped facet), the row and
  // column headers at its position (a crossed facet), and the distinct data keys of its data marks.
  const KEYS = ["dataset", "protocol", "recognizer_kind", "series", "obfuscation", "region", "level", "rev"];
  const facetCells = (view) => {
    const cells = [], rows = [], columns = [];
    const walk = (mark, x0, y0) => {
      for (const item of mark.items || []) {
        const x = x0 + (item.x || 0), y = y0 + (item.y || 0);
        if (mark.role === "row-header") rows.push({y: Math.round(y), text: titleOf(item)});
        else if (mark.role === "column-header") columns.push({x: Math.round(x), text: titleOf(item)});
        else if (mark.name === "cell") {
          const keys = new Map();
          const collect = (m) => {
            if (["axis", "legend", "title", "frame"].includes(m.role)) return;
            for (const it of m.items || []) {
              if (m.marktype === "group") { for (const child of it.items || []) collect(child); continue; }
              const d = it.datum;
              if (!d || !("obfuscation" in d)) continue;
              const key = KEYS.map(k => d[k] === undefined || d[k] === null ? "" : String(d[k])).join("\u001f");
              keys.set(key, (keys.get(key) || 0) + 1);
            }
          };
          for (const child of item.items || []) collect(child);
          cells.push({x: Math.round(x), y: Math.round(y), title: titleOf(item), keys: [...keys.keys()]});
          continue;
        }
        if (mark.marktype === "group") for (const child of item.items || []) walk(child, x, y);
      }
    };
    walk(view.scenegraph().root, 0, 0);
    for (const cell of cells) {
      cell.headers = [cell.title, ...rows.filter(r => r.y === cell.y).map(r => r.text),
                      ...columns.filter(c => c.x === cell.x).map(c => c.text)].filter(Boolean);
    }
    return cells;
  };
  const out = {figures: [], images: [], embedErrors: [], embedCalls: 0};
  const embeds = await Promise.allSettled(window.__flupEmbeds || []);
  out.embedCalls = embeds.length;
  for (const settled of embeds) {
    if (settled.status === "rejected") { out.embedErrors.push(String(settled.reason)); continue; }
    const view = settled.value.view;
    await view.runAsync();
    const container = view.container();
    const canvas = container && container.querySelector("canvas");
    const figure = {id: container ? (container.closest("[id]") || {}).id : null, canvas: !!canvas};
    if (canvas) {
      Object.assign(figure, {width: canvas.width, height: canvas.height},
                    ink(canvas.getContext("2d"), canvas.width, canvas.height));
    }
    const svg = new DOMParser().parseFromString(await view.toSVG(), "image/svg+xml");
    figure.texts = [...svg.querySelectorAll("text")].map(t => t.textContent);
    figure.marks = svg.querySelectorAll("path, line, rect, circle").length;
    figure.cells = facetCells(view);
    out.figures.push(figure);
  }
  for (const img of document.images) {
    const item = {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
                  naturalHeight: img.naturalHeight, shownWidth: img.getBoundingClientRect().width};
    if (img.complete && img.naturalWidth > 0) {
      const scale = Math.min(1, 600 / img.naturalWidth);
      const w = Math.max(1, Math.round(img.naturalWidth * scale));
      const h = Math.max(1, Math.round(img.naturalHeight * scale));
      const c = document.createElement("canvas");
      c.width = w; c.height = h;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0, w, h);
      Object.assign(item, ink(ctx, w, h));
    }
    out.images.push(item);
  }
  out.resources = performance.getEntriesByType("resource").map(e => e.name);
  out.title = document.title;
  return out;
})()
"""


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe (null-separated JSON)."""

    def __init__(self, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds():  # the child's fd 3 reads commands, fd 4 writes replies
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self._log = open(profile.parent / f"{profile.name}.log", "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
             "--proxy-server=http://127.0.0.1:9", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--mute-audio", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            pass_fds=(3, 4), preexec_fn=wire_fds,  # noqa: PLW1509 (single-threaded test process)
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._messages: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if reply is None:
                raise RuntimeError(f"Chromium exited (see {self._log.name})")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError, queue.Empty):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self._log.close()


def open_page(path: Path, profile: Path, screenshots: Sequence[tuple[Path, str | None]] = (), width: int = 1280,
              screenshot_height: int = 1600) -> dict:
    """Load ``path`` in a fresh headless Chromium; return the page inspection, the requests and errors.

    ``screenshots``: (PNG path, JavaScript giving the element to start at, or None for the top) each.
    """
    browser = Chromium(profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Page", "Runtime"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        browser.send("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK_VEGA_EMBED}, session)
        url = path.resolve().as_uri()
        browser.send("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + TIMEOUT
        state = {"expression": "location.href + ' ' + document.readyState", "returnByValue": True}
        while browser.send("Runtime.evaluate", state, session)["result"]["value"] != f"{url} complete":
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not finish loading in {TIMEOUT:g} s")
            time.sleep(0.05)
        result = browser.send("Runtime.evaluate", {"expression": INSPECT_PAGE, "awaitPromise": True,
                                                   "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise AssertionError(f"page inspection failed: {result['exceptionDetails']}")
        page = result["result"]["value"]
        page_height = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"]
        for screenshot, start in screenshots:
            top = 0.0
            if start is not None:
                where = {"expression": f"({start}).getBoundingClientRect().top + scrollY", "returnByValue": True}
                top = browser.send("Runtime.evaluate", where, session)["result"]["value"]
            height = min(page_height - top, screenshot_height)
            shot = browser.send("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1}}, session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(io.BytesIO(base64.b64decode(shot["data"]))) as image:  # 256 colours: a third the size
                image.convert("RGB").quantize(256).save(screenshot, optimize=True)
        events = [e for e in browser.events if e.get("sessionId") == session]
    finally:
        browser.close()
    page["requests"] = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    page["failed"] = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
    page["errors"] = [e["params"]["exceptionDetails"] for e in events if e["method"] == "Runtime.exceptionThrown"]
    page["errors"] += [e["params"] for e in events
                       if e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")]
    return page


def assert_offline(page: dict) -> None:
    assert page["requests"], "the DevTools protocol reported no request at all (not even the page)"
    remote = [u for u in page["requests"] + page["resources"] if not u.startswith(LOCAL_SCHEMES)]
    assert not remote, f"the page requested {remote}"
    assert not page["failed"], f"failed loads: {page['failed']}"
    assert not page["errors"], f"script errors: {page['errors']}"


def screenshots(*shots: tuple[str, str | None]) -> list[tuple[Path, str | None]]:
    """Screenshots to keep under docs/screenshots/, when FLUP_SCREENSHOTS=1."""
    return [(SCREENSHOTS / name, start) for name, start in shots] if os.environ.get("FLUP_SCREENSHOTS") == "1" else []


@pytest.fixture
def chromium() -> str:
    """The browser; skips where it is not installed (FLUP_REQUIRE_CHROMIUM=1, as .ci/run sets, fails instead)."""
    if BROWSER is None:
        reason = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("FLUP_REQUIRE_CHROMIUM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return BROWSER


# --- the offline template ------------------------------------------------------------------------


def test_offline_template_inlines_pinned_vega_builds():
    """The template holds the three npm builds verbatim (sha256 as recorded), loads nothing, and DVC uses it."""
    text = TEMPLATE.read_text(encoding="utf-8")
    scripts = re.findall(r'<script data-package="([^"]+)" data-file="([^"]+)" data-sha256="([0-9a-f]{64})">(.*?)'
                         r"</script>", text, flags=re.DOTALL)
    assert [s[0].rsplit("@", 1)[0] for s in scripts] == ["vega", "vega-lite", "vega-embed"]
    for package, file, digest, body in scripts:
        assert hashlib.sha256(body.encode("utf-8")).hexdigest() == digest, f"{package} {file} was altered"
    readme = (TEMPLATE.parent / "README.md").read_text()
    for package, _, digest, _ in scripts:
        assert package in readme and digest in readme, f"{package} is not recorded in .dvc/plots/README.md"
    assert "{plot_divs}" in text and "{scripts}" not in text  # {scripts} would bring the CDN tags back
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    config = (REPO / ".dvc" / "config").read_text()
    assert re.search(r"^\[plots\]\s*\n\s*html_template\s*=\s*plots/offline\.html\s*$", config, flags=re.MULTILINE)


# --- the report ----------------------------------------------------------------------------------


def test_report_html_draws_offline(chromium, tmp_path):
    report = REPO / "plots" / "report.html"
    figures_heading = '[...document.querySelectorAll("h2")].find(h => h.textContent === "Figures")'
    page = open_page(report, tmp_path / "profile",
                     screenshots(("report.png", None), ("report_figures.png", figures_heading)))
    assert_offline(page)
    html = report.read_text(encoding="utf-8")
    # the first screen is the identification answer (screenshot report.png), the verification view after it
    assert 0 < html.index("Which setting hides a face (identification)") < html.index("The answer: how strong")
    expected = len(re.findall(r"<img ", html))
    assert expected > 0 and len(page["images"]) == expected
    for image in page["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, f"image not decoded: {image['alt']}"
        assert image["shownWidth"] > 0, f"image not shown: {image['alt']}"
        assert image["std"] > 2 and image["ink"] > 0.001, f"blank image: {image['alt']} {image}"


@pytest.mark.parametrize("audit", sorted(yaml.safe_load((REPO / "params.yaml").read_text())["audits"]))
def test_audit_pages_draw_offline(chromium, tmp_path, audit):
    # each audit of params.yaml has its committed page (docs/audit.md): a verdict a person reads, every image drawn
    page_path = REPO / "audits" / audit / "audit.html"
    assert page_path.is_file(), f"{page_path}: params.yaml audits {audit}, but its page is not committed"
    page = open_page(page_path, tmp_path / "profile", screenshots((f"audit_{audit}.png", None)))
    assert_offline(page)
    html = page_path.read_text(encoding="utf-8")
    assert re.search(r"<h1>Audit of <code>[^<]+</code>: (Private|Leaks|Undecided)</h1>", html)
    assert "right person" in html
    expected = len(re.findall(r"<img ", html))
    assert len(page["images"]) == expected
    for image in page["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, f"image not decoded: {image['alt']}"
        assert image["std"] > 2, f"blank image: {image['alt']} {image}"


# --- this project's dvc plots: each panel's data under its own heading ---------------------------


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _project_repo(repo: Path) -> None:
    """A git + DVC repo holding what ``dvc plots`` reads of this project, as a clone has it (dvc.yaml, params.yaml,
    plots/data/, the models' committed training curves under dvclive/, the DVC config and templates); a copy, so
    no lock of the working checkout is taken."""
    _run(["git", "init", "-q"], repo)
    _run([sys.executable, "-m", "dvc", "init", "-q"], repo)
    for name in ("dvc.yaml", "params.yaml", "plots/data", "dvclive", ".dvc/plots", ".dvc/config"):
        source, target = REPO / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)


def study_figures() -> dict[str, dict]:
    """dvc.yaml's plots drawn with this project's templates (flup_*), by name: {"kind", "roc", "file"}."""
    import yaml

    figures = {}
    for entry in yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]:
        (name, spec), = entry.items()
        template = spec.get("template", "")
        if template.startswith("flup_"):
            (file, _), = spec["y"].items()
            figures[name] = {"kind": template.rsplit("_", 1)[1], "roc": template.startswith("flup_roc_"),
                             "file": file}
    return figures


def _heading_parts(cell: dict) -> set[str]:
    return {part for header in cell["headers"] for line in header.split(" | ") for part in line.split(" · ")}


def check_facets(figure: dict, kind: str, roc: bool, tables: dict[str, pd.DataFrame]) -> None:
    """Every facet cell of ``figure`` draws data, only data of the protocol, region, family (and, for ROC, level)
    its heading names; together the cells draw every panel of ``kind``'s rows of ``tables`` (by revision), each
    once. Fails on crossed row x column facets that vega-lite 5.2 lays out against their headers (issue 29)."""
    from flup.obfuscation import families

    cells = figure["cells"]
    assert cells, f"{figure['id']}: no facet cells found in the scenegraph"
    drawn: dict[tuple, str] = {}
    for cell in cells:
        assert cell["headers"], f"{figure['id']}: a cell without a heading at ({cell['x']}, {cell['y']})"
        assert cell["keys"], f"{figure['id']}: the panel headed {cell['headers']} is empty"
        parts = _heading_parts(cell)
        panels = set()
        for key in cell["keys"]:
            dataset, protocol, recognizer_kind, _, obfuscation, region, level, rev = key.split("\u001f")
            family = families.family(obfuscation)
            wanted = {protocol, f"{float(region):g}× face box"}
            if roc:
                wanted |= {family.title, families.level_text(obfuscation, float(level))}
            where = f"{figure['id']}: {rev} {protocol} {obfuscation} level {level} region {region}"
            assert recognizer_kind == kind, f"{where} is a {recognizer_kind} series"
            assert wanted <= parts, f"{where} drawn under {cell['headers']}"
            if not roc:
                assert any(p == family.title or p.startswith(f"{family.title}, ") for p in parts), (
                    f"{where} drawn under {cell['headers']}")
            panels.add((dataset, protocol, obfuscation, float(region), float(level) if roc else None))
        assert len(panels) == 1, f"{figure['id']}: one panel {cell['headers']} mixes {sorted(panels)}"
        panel = panels.pop()
        assert panel not in drawn, f"{figure['id']}: {panel} drawn twice ({drawn.get(panel)}, {cell['headers']})"
        drawn[panel] = cell["headers"]
    expected = set()
    for table in tables.values():
        rows = table[table["recognizer_kind"] == kind]
        for dataset, protocol, obfuscation, region, level in zip(
                rows["dataset"], rows["protocol"], rows["obfuscation"], rows["region"], rows["level"], strict=True):
            expected.add((dataset, protocol, obfuscation, float(region), float(level) if roc else None))
    assert set(drawn) == expected, (f"{figure['id']}: panels missing {sorted(expected - set(drawn))}, "
                                    f"not in the data {sorted(set(drawn) - expected)}")


def check_revisions(figure: dict, revisions: dict[str, pd.DataFrame], kind: str, roc: bool) -> None:
    """Each panel draws the rows of every revision that has them, labelled with that revision."""
    keys = ["dataset", "protocol", "obfuscation", "region"] + (["level"] if roc else [])
    for cell in figure["cells"]:
        fields = cell["keys"][0].split("\u001f")
        panel = dict(zip(["dataset", "protocol", "obfuscation", "region", "level"],
                         [fields[0], fields[1], fields[4], float(fields[5]), float(fields[6])], strict=True))
        drawn = {key.split("\u001f")[7] for key in cell["keys"]}
        having = set()
        for rev, table in revisions.items():
            rows = table[table["recognizer_kind"] == kind]
            for column in keys:
                rows = rows[rows[column].astype(float if column in ("region", "level") else str) == panel[column]]
            if len(rows):
                having.add(rev)
        assert drawn == having, f"{figure['id']} {cell['headers']}: revisions drawn {drawn}, with data {having}"


@pytest.fixture(scope="module")
def project_plots_page(tmp_path_factory) -> Path:
    """``dvc plots show`` of this project as a fresh clone has it."""
    repo = tmp_path_factory.mktemp("project")
    _project_repo(repo)
    out = repo / "page"
    subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--out", str(out)], cwd=repo, capture_output=True,
                   check=False, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    return out / "index.html"


@pytest.fixture(scope="module")
def project_page(project_plots_page, tmp_path_factory) -> dict:
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    return open_page(project_plots_page, tmp_path_factory.mktemp("profile") / "p",
                     screenshots(("plots_show.png", None)))


def test_project_plots_draw_offline(chromium, project_page):
    """The plots dvc.yaml defines over plots/data/*.csv draw, offline."""
    assert_offline(project_page)
    assert not project_page["embedErrors"], project_page["embedErrors"]
    drawn = {f["id"]: f for f in project_page["figures"]}
    for name in study_figures():
        assert drawn[name]["ink"] > 0.005 and drawn[name]["marks"] > 10, f"{name} is blank: {drawn[name]}"


def test_every_project_plot_draws(chromium, project_page):
    blank = [f["id"] for f in project_page["figures"] if not f["canvas"] or f["ink"] <= 0.005]
    assert blank == []


def test_project_plots_draw_each_panel_under_its_heading(chromium, project_page):
    """The committed study's plots/data, read back from each vega view: every panel holds only the data its heading
    names, and every panel of the data is drawn once (issue 29: crossed facets drew view1's data under view2)."""
    drawn = {f["id"]: f for f in project_page["figures"]}
    for name, figure in study_figures().items():
        table = pd.read_csv(REPO / figure["file"])
        check_facets(drawn[name], figure["kind"], figure["roc"], {"workspace": table})


# --- dvc plots diff: the committed study beside an experiment --------------------------------------

EXPERIMENT = "experiment"
STUDY = "study"


def experiment_tables() -> dict[str, pd.DataFrame]:
    """The committed study's tables as an experiment beside it would change them: render.regions [1.3] only (a
    panel set of its own), blur's levels above 32 px dropped, every AUC and cosine 0.05 lower."""
    tables = {}
    for name in ("curves.csv", "roc.csv"):
        table = pd.read_csv(REPO / "plots" / "data" / name)
        table = table[(table["region"] == 1.3) & ~((table["obfuscation"] == "blur") & (table["level"] > 32))].copy()
        for column in ("auc", "mean_cos_same"):
            if column in table:
                table[column] = (table[column] - 0.05).round(6)
        tables[name] = table
    return tables


@pytest.fixture(scope="module")
def plots_diff_page(tmp_path_factory) -> tuple[Path, dict[str, dict[str, pd.DataFrame]]]:
    """``dvc plots diff`` of two revisions of this project's plots: the committed study and an experiment beside it
    (:func:`experiment_tables`), with this repo's dvc.yaml, DVC config and templates."""
    repo = tmp_path_factory.mktemp("diff")
    _project_repo(repo)
    revisions = {STUDY: {n: pd.read_csv(REPO / "plots" / "data" / n) for n in ("curves.csv", "roc.csv")},
                 EXPERIMENT: experiment_tables()}
    for tag, tables in revisions.items():
        for name, table in tables.items():
            table.to_csv(repo / "plots" / "data" / name, index=False)
        _run(["git", "add", "-A"], repo)
        _run(["git", "commit", "-q", "-m", tag], repo)
        _run(["git", "tag", tag], repo)
    out = repo / "page"
    _run([sys.executable, "-m", "dvc", "plots", "diff", *revisions, "--out", str(out)], repo)
    return out / "index.html", revisions


@pytest.fixture(scope="module")
def diff_page(plots_diff_page, tmp_path_factory) -> dict:
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    profile = tmp_path_factory.mktemp("profile") / "p"
    return open_page(plots_diff_page[0], profile, screenshots(("plots_diff.png", None)))


def test_dvc_plots_diff_draws_offline(chromium, plots_diff_page, diff_page):
    index, revisions = plots_diff_page
    html = index.read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in html and 'data-package="vega@' in html  # the offline template was used
    assert_offline(diff_page)
    assert not diff_page["embedErrors"], diff_page["embedErrors"]
    figures = study_figures()
    # vega-embed replaces each plot's <div> content (its <script> included), so count the calls in the file.
    assert len(re.findall(r"vegaEmbed\('#", html)) == diff_page["embedCalls"]
    drawn = {f["id"]: f for f in diff_page["figures"]}
    assert set(figures) <= set(drawn)
    for figure in (drawn[name] for name in figures):
        assert figure["canvas"] and figure["width"] > 100 and figure["height"] > 100, figure
        assert figure["ink"] > 0.005 and figure["std"] > 5, f"figure {figure['id']} is blank: {figure}"
        assert figure["marks"] > 10, figure
        for revision in revisions:
            assert revision in figure["texts"], f"revision {revision} missing from figure {figure['id']}"


def test_dvc_plots_diff_draws_each_panel_under_its_heading(chromium, plots_diff_page, diff_page):
    """Both revisions' panels (the experiment has region 1.3 only), each under its heading, each revision drawn
    where it has data."""
    _, revisions = plots_diff_page
    drawn = {f["id"]: f for f in diff_page["figures"]}
    for name, figure in study_figures().items():
        tables = {rev: tables[Path(figure["file"]).name] for rev, tables in revisions.items()}
        check_facets(drawn[name], figure["kind"], figure["roc"], tables)
        check_revisions(drawn[name], tables, figure["kind"], figure["roc"])
