"""Benchmark kinds that misbehave on purpose, for the runner's status tests.

Suites name them as ``harness_fixture_kinds:RaiseKind`` (the registry's module:Class form); the
tests directory is on sys.path under pytest, and the CLI tests add it to PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSpec, KindResult, RunContext


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = 0.0
    megabytes: int = 0
    pid_file: str | None = None
    setsid: bool = False  # start the helper in a new session (it leaves the benchmark's process group)
    value: float = 1.0
    flood_mb: int = 0


class _Base:
    task: ClassVar[str] = "micro"
    role: ClassVar[str] = "micro"
    Params: ClassVar[type[BaseModel]] = _Params


class OkKind(_Base):
    """Returns a metric from fixed samples around ``value`` (cheap stand-in for a real kind)."""

    name: ClassVar[str] = "ok"

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        result = KindResult(metrics=[])
        add_metric(result, "value_units", [params.value * (1 + 0.001 * i) for i in range(-5, 6)], "units")
        return result


class RaiseKind(_Base):
    name: ClassVar[str] = "raise"

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        raise ValueError("boom from the fixture kind")


class SleepKind(_Base):
    """Starts a grandchild `sleep` (pid written to pid_file; in its own session with ``setsid``), then
    sleeps ``seconds``."""

    name: ClassVar[str] = "sleep"

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        if params.pid_file:
            helper = subprocess.Popen(
                ["sleep", str(max(params.seconds, 120))], start_new_session=params.setsid
            )
            Path(params.pid_file).write_text(str(helper.pid))
        time.sleep(params.seconds)
        return KindResult(metrics=[])


class AllocKind(_Base):
    """Allocates and touches ``megabytes`` MB with torch."""

    name: ClassVar[str] = "alloc"

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        import torch

        block = torch.ones(params.megabytes * 2**20, dtype=torch.uint8)
        return KindResult(metrics=[], config={"bytes": int(block.numel())})


class AbortKind(_Base):
    name: ClassVar[str] = "abort"

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        sys.stderr.write("about to abort\n")
        sys.stderr.flush()
        os.abort()


class FloodKind(OkKind):
    """Writes ``flood_mb`` MB to stdout, then succeeds."""

    name: ClassVar[str] = "flood"

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        line = "x" * 1023 + "\n"
        for _ in range(params.flood_mb * 1024):
            sys.stdout.write(line)
        sys.stdout.write("LAST LINE\n")
        return super().run(spec, params, ctx)
