"""module:Class kinds run code on import: refused in one line unless --allow-code or the allow-list
trusts them; the module is never imported before that decision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from capplan.errors import UserError
from capplan.harness.suite import load_suite
from capplan.harness.trust import ALLOWED_KINDS_ENV

MARKER_MODULE = "capplan_trust_probe"  # a module whose import leaves a file behind


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module on sys.path that writes ``imported`` when imported; no allow-list in effect."""
    (tmp_path / f"{MARKER_MODULE}.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(tmp_path / 'imported')!r}).write_text('ran')\n"
        "from harness_fixture_kinds import OkKind as ProbeKind\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(ALLOWED_KINDS_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no allowed-kinds.txt of the real user
    suite = tmp_path / "shared.yaml"
    suite.write_text(
        yaml.safe_dump({"benchmarks": [{"name": "probe", "kind": f"{MARKER_MODULE}:ProbeKind"}]})
    )
    return suite


def test_untrusted_kind_is_refused_without_importing_it(probe: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"benchmark 'probe': kind: 'capplan_trust_probe:ProbeKind' imports and runs "
        r"code .*--allow-code",
    ):
        load_suite(str(probe))
    assert not (probe.parent / "imported").exists()


def test_allow_code_and_allow_list_trust_it(probe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert [b.spec.name for b in load_suite(str(probe), allow_code=True).benchmarks] == ["probe"]
    monkeypatch.setenv(ALLOWED_KINDS_ENV, f"other.module, {MARKER_MODULE}")
    assert load_suite(str(probe)).benchmarks
    monkeypatch.delenv(ALLOWED_KINDS_ENV)
    allow_file = probe.parent / "config" / "capplan" / "allowed-kinds.txt"
    allow_file.parent.mkdir(parents=True)
    allow_file.write_text(f"# kinds our team wrote\n{MARKER_MODULE}:ProbeKind\n")
    assert load_suite(str(probe)).benchmarks


def test_cli_refuses_in_one_line_and_exit_2(probe: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != ALLOWED_KINDS_ENV}
    env |= {
        "PYTHONPATH": f"{probe.parent}:{Path(__file__).parent}",
        "XDG_CONFIG_HOME": str(probe.parent / "config"),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "capplan",
            "bench",
            "run",
            "--suite",
            str(probe),
            "--store",
            str(probe.parent / "runs.db"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "--allow-code" in out.stderr and not (probe.parent / "imported").exists()
    assert not (probe.parent / "runs.db").exists()
