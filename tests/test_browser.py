"""The pages a reader opens, checked in a real browser (headless Chromium, network blocked).

- ``plots/report.html``: every image decoded and not blank.
- The page ``dvc plots diff`` writes with this repo's DVC config (``.dvc/config`` -> the offline template
  ``.dvc/plots/offline.html``), for two revisions of a tiny synthetic DVC repo: every vega figure drew
  (non-blank canvas), and both revisions are in its legend.
- ``dvc plots show`` of this project's own plots (dvc.yaml over plots/data/*.csv), as a clone has them.
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

import numpy as np
import pytest
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
    expected = len(re.findall(r"<img ", report.read_text(encoding="utf-8")))
    assert expected > 0 and len(page["images"]) == expected
    for image in page["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, f"image not decoded: {image['alt']}"
        assert image["shownWidth"] > 0, f"image not shown: {image['alt']}"
        assert image["std"] > 2 and image["ink"] > 0.001, f"blank image: {image['alt']} {image}"


# --- dvc plots diff ------------------------------------------------------------------------------

# The project's two plot templates (.dvc/plots/flup_series.json, flup_roc.json), as dvc.yaml uses them.
DVC_YAML = """\
plots:
  - auc_vs_level:
      template: flup_series
      x: level
      y:
        curves.csv: auc
      title: AUC vs level
  - roc:
      template: flup_roc
      x: fpr
      y:
        roc.csv: tpr
      title: ROC curves
"""
SERIES = ("arcface/end_to_end", "arcface/oracle_box")


def _curves(shift: float) -> str:
    rows = ["dataset,protocol,series,obfuscation,level,auc"]
    for k, series in enumerate(SERIES):
        for obfuscation, levels in (("blur", (0, 4, 8, 12)), ("pixelate", (4, 8, 16))):
            for i, level in enumerate(levels):
                auc = max(0.5, 1.0 - (0.12 + shift) * i - 0.03 * k)
                rows.append(f"lfw,view1,{series},{obfuscation},{level},{auc:.4f}")
    return "\n".join(rows) + "\n"


def _roc(shift: float) -> str:
    rows = ["dataset,protocol,series,obfuscation,level,fpr,tpr"]
    for k, series in enumerate(SERIES):
        for level in (0, 8):
            power = 0.1 + 0.3 * level / 8 + shift + 0.05 * k
            rows += [f"lfw,view1,{series},blur,{level},{f:.2f},{f ** power:.4f}" for f in np.linspace(0, 1, 11)]
    return "\n".join(rows) + "\n"


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def plots_diff_page(tmp_path) -> tuple[Path, tuple[str, str]]:
    """``dvc plots diff`` of two tagged revisions of a tiny repo that uses this repo's DVC config and templates."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run([sys.executable, "-m", "dvc", "init", "-q"], repo)
    shutil.copy2(REPO / ".dvc" / "config", repo / ".dvc" / "config")
    shutil.copytree(REPO / ".dvc" / "plots", repo / ".dvc" / "plots", dirs_exist_ok=True)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    revisions = ("weak-blur", "strong-blur")
    for shift, tag in zip((0.0, 0.1), revisions, strict=True):
        (repo / "curves.csv").write_text(_curves(shift))
        (repo / "roc.csv").write_text(_roc(shift))
        _run(["git", "add", "-A"], repo)
        _run(["git", "commit", "-q", "-m", tag], repo)
        _run(["git", "tag", tag], repo)
    out = tmp_path / "diff"
    _run([sys.executable, "-m", "dvc", "plots", "diff", *revisions, "--out", str(out)], repo)
    return out / "index.html", revisions


def test_dvc_plots_diff_draws_offline(chromium, plots_diff_page, tmp_path):
    index, revisions = plots_diff_page
    html = index.read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in html and 'data-package="vega@' in html  # the offline template was used
    page = open_page(index, tmp_path / "profile", screenshots(("plots_diff.png", None)))
    assert_offline(page)
    assert not page["embedErrors"], page["embedErrors"]
    # vega-embed replaces each plot's <div> content (its <script> included), so count the calls in the file.
    assert len(re.findall(r"vegaEmbed\('#", html)) == 2 and page["embedCalls"] == 2 and len(page["figures"]) == 2
    for figure in page["figures"]:
        assert figure["canvas"] and figure["width"] > 100 and figure["height"] > 100, figure
        assert figure["ink"] > 0.005 and figure["std"] > 5, f"figure {figure['id']} is blank: {figure}"
        assert figure["marks"] > 10, figure
        for revision in revisions:
            assert revision in figure["texts"], f"revision {revision} missing from figure {figure['id']}"


# --- this project's own plots page ---------------------------------------------------------------


@pytest.fixture(scope="module")
def project_plots_page(tmp_path_factory) -> Path:
    """``dvc plots show`` of this project as a fresh clone has it (dvc.yaml, params.yaml, plots/data/, the models'
    committed training curves under dvclive/, the DVC config and templates), in a copy, so no lock of the working
    checkout is taken."""
    repo = tmp_path_factory.mktemp("project")
    _run(["git", "init", "-q"], repo)
    _run([sys.executable, "-m", "dvc", "init", "-q"], repo)
    for name in ("dvc.yaml", "params.yaml", "plots/data", "dvclive", ".dvc/plots", ".dvc/config"):
        source, target = REPO / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    out = repo / "page"
    subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--out", str(out)], cwd=repo, capture_output=True,
                   check=False, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    return out / "index.html"


@pytest.fixture(scope="module")
def project_page(project_plots_page, tmp_path_factory) -> dict:
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    return open_page(project_plots_page, tmp_path_factory.mktemp("profile") / "p")


def test_project_plots_draw_offline(chromium, project_page):
    """The plots dvc.yaml defines over plots/data/*.csv draw, offline."""
    assert_offline(project_page)
    assert not project_page["embedErrors"], project_page["embedErrors"]
    drawn = {f["id"]: f for f in project_page["figures"]}
    for name in ("auc_vs_level", "mean_cosine_same_vs_level", "detection_rate_vs_level", "roc"):
        assert drawn[name]["ink"] > 0.005 and drawn[name]["marks"] > 10, f"{name} is blank: {drawn[name]}"


def test_every_project_plot_draws(chromium, project_page):
    blank = [f["id"] for f in project_page["figures"] if not f["canvas"] or f["ink"] <= 0.005]
    assert blank == []
