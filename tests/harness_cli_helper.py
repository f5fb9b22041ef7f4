"""Runs capplan's real CLI entry point in the test process (no interpreter start per call)."""

from __future__ import annotations

import pytest

from capplan.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``capplan ARGS``."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err
