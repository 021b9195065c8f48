"""report.html in a real browser (headless Chromium through Playwright) at 1280 x 800: no table wider
than its box or the page, every figure loaded, no console error, and nothing of a variant name
rendered as HTML.

Needs the Python package ``playwright`` and Debian's Chromium at /usr/bin/chromium (Playwright's own
browser download is not used). Either missing skips these tests locally; in CI (CI=true) it fails
them: .ci/run installs both.
"""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path

import pytest

from test_verdict_table import make_reproduction, write_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}


def _need_browser():
    """playwright's sync API and the Chromium to drive; skipped when missing, except in CI."""
    if os.environ.get("CI"):
        sync_api = importlib.import_module("playwright.sync_api")
        if not os.access(CHROMIUM, os.X_OK):
            pytest.fail(f"{CHROMIUM} is missing: in CI, apt-get install chromium")
        return sync_api
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    return sync_api


@pytest.fixture(scope="module")
def browser():
    sync_api = _need_browser()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


# Measured in the page: the document's and every table box's overflow, the tables' right edges, the images.
MEASURE = """() => {
  const doc = document.documentElement;
  const tables = [...document.querySelectorAll('table')].map((t, i) => {
    const box = t.parentElement;
    return {i, head: t.rows[0].textContent.slice(0, 60), boxScroll: box.scrollWidth, boxClient: box.clientWidth,
            right: t.getBoundingClientRect().right};
  });
  const images = [...document.images].map(img => ({alt: img.alt, complete: img.complete, w: img.naturalWidth}));
  return {docScroll: doc.scrollWidth, docClient: doc.clientWidth, tables, images,
          htmlInCells: document.querySelectorAll('td *:not(wbr):not(span.nw), th *:not(wbr):not(span.nw)').length};
}"""


def check_report(browser, html: Path, min_tables: int, min_images: int) -> dict:
    page = browser.new_page(viewport=VIEWPORT)
    errors = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
    try:
        page.goto(html.as_uri(), wait_until="load")
        m = page.evaluate(MEASURE)
    finally:
        page.close()
    assert not errors, errors
    assert len(m["tables"]) >= min_tables and len(m["images"]) >= min_images, (len(m["tables"]), len(m["images"]))
    assert m["docScroll"] <= m["docClient"], f"the page scrolls sideways: {m['docScroll']} > {m['docClient']} px"
    wide = [t for t in m["tables"] if t["boxScroll"] > t["boxClient"] or t["right"] > m["docClient"]]
    assert not wide, f"tables wider than their box at {VIEWPORT['width']} px: {wide}"
    broken = [img for img in m["images"] if not img["complete"] or img["w"] == 0]
    assert not broken, broken
    assert m["htmlInCells"] == 0  # a variant named <b>x</b>|y is text, not markup
    return m


@pytest.mark.slow  # ~4 s: 1.7 s to start Chromium, 1 s to write the report
def test_report_html_fits_1280_px_and_loads(browser, tmp_path):
    """Synthetic run folders, nothing trained: a settings table of 13 columns, a 17-column analysis table
    with long headers, variant names with HTML and a long one, figures."""
    root = make_reproduction(tmp_path)
    paths = write_report(root)
    check_report(browser, paths["html"], min_tables=6, min_images=2)


@pytest.mark.slow
def test_a_real_reproduction_report_fits_1280_px(browser, tmp_path):
    """A real (tiny) reproduction of the exercises with the widest tables and longest variant names:
    vanishing_gradients' simulation tables and hyperparameter_study's 27 variants, with their figures."""
    from conftest import dlexp_cmd

    out = tmp_path / "rep"
    done = subprocess.run(dlexp_cmd() + ["reproduce", "vanishing_gradients", "hyperparameter_study", "--seeds", "2",
                                         "--epochs", "1", "--progress", "none", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == f"report: {out / 'report.html'}"
    assert any(line.startswith("sigmoid_gradient_vanishes ") for line in lines)
    assert max(map(len, lines[:-1])) <= 80
    check_report(browser, out / "report.html", min_tables=8, min_images=5)
