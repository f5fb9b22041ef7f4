"""report.pdf: headless Chromium prints report.html (charts included) to PDF.

The browser is the one the project's browser tests use (Debian's ``chromium``, installed by
``scripts/sysdeps.sh``), or the executable named by ``$CAPPLAN_CHROMIUM``. Without one the PDF is skipped
with a message; the other report files are written regardless.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from capplan.errors import UserError

CHROMIUM_ENV = "CAPPLAN_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PRINT_TIMEOUT_S = 120.0  # a cold Chromium start plus layout of ~5 MB of inlined plotly.js on 2 busy cores
# Let the page's scripts (plotly drawing the charts) finish before printing; virtual time runs as fast as
# the page allows, so this is an upper bound, not a wait.
VIRTUAL_TIME_BUDGET_MS = 10_000
# The page is laid out at this window width, then scaled onto the A4 page (report.html's @page): the charts
# fill the page width and text prints at about 8-9 pt.
WINDOW = "1000,1400"


def find_chromium() -> str | None:
    """Path of a Chromium to print with: $CAPPLAN_CHROMIUM (which must exist), else the first of
    CHROMIUM_NAMES on PATH, else None."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        if not Path(named).is_file():
            raise UserError(f"${CHROMIUM_ENV}={named}: no such file; name a Chromium executable or unset it")
        return named
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless ``chromium``; UserError when printing fails."""
    with tempfile.TemporaryDirectory(prefix="capplan-chromium-") as profile:
        argv = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-pdf-header-footer", f"--user-data-dir={profile}", f"--window-size={WINDOW}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise UserError(
                f"report.pdf: {chromium} did not finish printing within {PRINT_TIMEOUT_S:.0f} s"
            ) from exc
        except OSError as exc:
            raise UserError(f"report.pdf: cannot start {chromium} ({exc.strerror or exc})") from exc
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"report.pdf: {chromium} exited with code {proc.returncode}: {last[:200]}")
    return pdf_path
