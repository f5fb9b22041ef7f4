"""End to end: `capplan dashboard` as a real server, every page loaded in headless Chromium.

Fails on any browser page error or Streamlit exception box; screenshots go to test-artifacts/dashboard/.
Needs Debian's chromium (scripts/sysdeps.sh installs it): skipped without it, failed under CI=true.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dashboards"))
import screenshots  # noqa: E402  (lives next to the app it drives)
from nav import PAGES  # noqa: E402

from capplan.results.store import Store  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"


def test_every_page_renders_in_chromium(tmp_path, chromium):
    from test_dashboard_pages import PLAN_YAML, _bench_module

    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    _bench_module().seed_store(url, 60)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN_YAML)
    with screenshots.serve(url, screenshots.free_port(), ARTIFACTS.parent / "dashboard-server.log") as base:
        reports = screenshots.capture(base, ARTIFACTS, plan_file=plan)
    assert [r.slug for r in reports] == [slug for slug, _t, _i in PAGES]
    for r in reports:
        assert not r.page_errors, f"{r.slug}: browser errors {r.page_errors}"
        assert not r.exceptions, f"{r.slug}: Streamlit exception {r.exceptions}"
        assert r.screenshot.stat().st_size > 10_000  # a real rendered page, not a blank
    assert Store(url).count() == 60  # the dashboard only reads
