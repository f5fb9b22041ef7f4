"""Run only by tests/test_leak_check.py: a test that leaves a setsid process behind on purpose."""

import subprocess
from pathlib import Path


def test_leaves_a_sleeper_behind(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (Path(__file__).parent.parent.parent / "test-artifacts").mkdir(exist_ok=True)
    (Path(__file__).parent.parent.parent / "test-artifacts" / "leak_probe.pid").write_text(str(proc.pid))
