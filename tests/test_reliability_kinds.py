"""Benchmark kinds for the reliability tests, addressed from suites as ``test_reliability_kinds:Name``.

Kept free of pytest/hypothesis imports: every benchmark child imports this module.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from harness_fixture_kinds import OkKind
from pydantic import BaseModel, ConfigDict

from capplan.harness.spec import BenchmarkSpec, KindResult, RunContext

BENCHMARK_S = 0.4  # SlowOkKind's run time: a 5-benchmark suite outlasts any kill moment even on an idle host


class SlowOkKind(OkKind):
    """OkKind that takes BENCHMARK_S, so no trial can finish the suite before its kill."""

    def run(self, spec: BenchmarkSpec, params: BaseModel, ctx: RunContext) -> KindResult:
        time.sleep(BENCHMARK_S)
        return super().run(spec, params, ctx)


class BigOkKind(SlowOkKind):
    """SlowOkKind whose record carries ``megabytes`` of raw samples (JSON), so that storing it takes long
    enough for a kill to land while it is being written."""

    def run(self, spec: BenchmarkSpec, params: BaseModel, ctx: RunContext) -> KindResult:
        result = super().run(spec, params, ctx)
        count = int(params.megabytes * 1e6 / 19)  # ~19 bytes per float in JSON
        result.samples["payload"] = [1.0 + i * 1e-7 for i in range(count)]
        return result


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pid_file: str | None = None


class SegfaultKind:
    name: ClassVar[str] = "segfault"
    task: ClassVar[str] = "micro"
    role: ClassVar[str] = "micro"
    Params: ClassVar[type[BaseModel]] = _Params

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
        raise AssertionError("unreachable")


class SilentExitKind(SegfaultKind):
    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        os._exit(0)


class SelfKillKind(SegfaultKind):
    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class WrongResultKind(SegfaultKind):
    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        return {"metrics": "not a list"}  # type: ignore[return-value]


class BinaryFloodKind(OkKind):
    """50 MB of invalid UTF-8 on stdout, then a normal result."""

    def run(self, spec: BenchmarkSpec, params: BaseModel, ctx: RunContext) -> KindResult:
        chunk = b"\xff\xfe\x00garbage" * 100_000
        for _ in range(50 * 2**20 // len(chunk) + 1):
            os.write(1, chunk)
        return super().run(spec, OkKind.Params(), ctx)


class EscapeKind(SegfaultKind):
    """Leaves a grandchild in its own session (out of reach of the process-group kill), then returns."""

    def run(self, spec: BenchmarkSpec, params: _Params, ctx: RunContext) -> KindResult:
        helper = subprocess.Popen(["sleep", "30"], start_new_session=True)
        Path(params.pid_file or "/dev/null").write_text(str(helper.pid))
        raise RuntimeError("left a session-leader grandchild behind")


