"""Load every dashboard page in headless Chromium, report errors and save full-page screenshots; or open
an HTML plan report (``--report``), check its charts drew without any network request, and capture them.

    .venv/bin/python dashboards/screenshots.py --store URL --out docs/img [--pages overview costs]
    .venv/bin/python dashboards/screenshots.py --report report/report.html --out docs/img

Starts ``capplan dashboard`` on a free local port, waits for Streamlit's health check, visits each
page, waits until the script has finished running, and records browser page errors and Streamlit
exception boxes. Drives Debian's Chromium through Playwright (no browser download).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nav import PAGES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
PAGE_TIMEOUT_MS = 90_000  # a cold first page imports torch (inventory) on a busy 2-core machine


@dataclass
class PageReport:
    """What one page showed in the browser."""

    slug: str
    title: str
    screenshot: Path
    page_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(store_url: str, port: int, log: Path, startup_s: float = 60.0) -> Iterator[str]:
    """Run ``capplan dashboard`` until the block ends; yields the base URL once it is healthy."""
    base = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "capplan", "dashboard", "--store", store_url, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            deadline = time.monotonic() + startup_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"dashboard exited with code {proc.returncode}: {log.read_text()[-2000:]}"
                    )
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:  # noqa: S310 (local URL)
                        if resp.read().decode().strip() == "ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"dashboard not healthy after {startup_s:.0f} s: {log.read_text()[-2000:]}"
                    )
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def capture(
    base: str, out_dir: Path, slugs: list[str] | None = None, plan_file: Path | None = None
) -> list[PageReport]:
    """Visit the pages (all by default) and save ``<slug>.png`` under ``out_dir``; on the Capacity plan
    page upload ``plan_file`` first (the Recommendations page then shows the same plan)."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base, timeout=PAGE_TIMEOUT_MS)
            for slug, title, _icon in PAGES:
                if slugs and slug not in slugs:
                    continue
                errors.clear()
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
                page.wait_for_url(
                    f"{base}/{slug}" if slug != PAGES[0][0] else f"{base}/**", timeout=PAGE_TIMEOUT_MS
                )
                _wait_until_rendered(page, title)
                if slug == "plan" and plan_file is not None:
                    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(plan_file))
                    page.get_by_text("Capacity gap per quarter").or_(
                        page.get_by_test_id("stAlert")
                    ).first.wait_for(timeout=PAGE_TIMEOUT_MS)
                    _wait_until_rendered(page, title)
                shot = out_dir / f"{slug}.png"
                page.screenshot(path=str(shot), full_page=True)
                boxes = page.locator("[data-testid='stException']")
                reports.append(PageReport(slug, title, shot, list(errors),
                                          [boxes.nth(k).inner_text() for k in range(boxes.count())]))
        finally:
            browser.close()
    return reports


@dataclass
class ReportView:
    """What an HTML report showed in the browser."""

    screenshot: Path
    charts: list[dict[str, int | str]]  # per plotly chart: id, traces drawn, width and height in px
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included
    page_errors: list[str] = field(default_factory=list)


_CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(div => {
  const svg = div.querySelector('svg.main-svg');
  return {id: div.id, traces: div.querySelectorAll('g.trace').length,
          width: svg ? Math.round(svg.getBoundingClientRect().width) : 0,
          height: svg ? Math.round(svg.getBoundingClientRect().height) : 0};
})"""


def capture_report(html: Path, png: Path, expected_charts: int = 3) -> ReportView:
    """Open ``html`` from disk, wait until ``expected_charts`` plotly charts have drawn, record every
    request and page error, and screenshot the charts section into ``png``."""
    from playwright.sync_api import sync_playwright

    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            requests: list[str] = []
            errors: list[str] = []
            page.on("request", lambda req: requests.append(req.url))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
            page.wait_for_function(
                "n => document.querySelectorAll('.js-plotly-plot svg.main-svg g.trace').length > 0 && "
                "document.querySelectorAll('.js-plotly-plot').length >= n",
                arg=expected_charts, timeout=PAGE_TIMEOUT_MS,
            )
            charts = page.evaluate(_CHARTS)
            page.locator("#charts").screenshot(path=str(png))
        finally:
            browser.close()
    return ReportView(png, charts, requests, errors)


# Busy while Streamlit shows its running indicator, a spinner, a skeleton or stale elements. The running
# indicator appears only after a short delay, so "done" means: not busy for QUIET_MS in a row.
QUIET_MS = 1000
_SETTLED = """quiet => {
  const busy = ['[data-testid="stStatusWidget"]', '[data-testid="stSpinner"]', '[data-testid="stSkeleton"]',
                '[data-stale="true"]'].some(sel => document.querySelector(sel));
  const now = Date.now();
  if (busy || window.__capplanBusyAt === undefined) { window.__capplanBusyAt = now; return false; }
  return now - window.__capplanBusyAt > quiet;
}"""


def _wait_until_rendered(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for the page's title heading, then until Streamlit has been idle for QUIET_MS."""
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.evaluate("() => { window.__capplanBusyAt = Date.now(); }")
    page.wait_for_function(_SETTLED, arg=QUIET_MS, polling=100, timeout=PAGE_TIMEOUT_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="results store URL or SQLite path (dashboard pages)")
    parser.add_argument("--report", type=Path, help="an HTML plan report: capture its charts instead")
    parser.add_argument("--out", type=Path, default=Path("test-artifacts/dashboard"))
    parser.add_argument("--pages", nargs="*", help="page slugs (default: all)")
    parser.add_argument("--plan", type=Path, help="plan.yaml to upload on the Capacity plan page")
    args = parser.parse_args()
    if args.report is not None:
        view = capture_report(args.report, args.out / "report-charts.png")
        print(f"{view.screenshot}  charts: {view.charts}  requests: {view.requests}  "
              f"errors: {view.page_errors}")
        return
    if args.store is None:
        parser.error("give --store (dashboard pages) or --report (an HTML plan report)")
    with serve(args.store, free_port(), args.out / "server.log") as base:
        reports = capture(base, args.out, args.pages, args.plan)
    for r in reports:
        state = "ok" if not (r.page_errors or r.exceptions) else f"errors: {r.page_errors + r.exceptions}"
        print(f"{r.slug:16} {r.screenshot}  {state}")


if __name__ == "__main__":
    main()
