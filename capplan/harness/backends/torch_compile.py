"""torch.compile (Inductor): eager semantics, compiled graph; compile time is reported, not timed."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from capplan.harness.backends.base import LoadRequest
from capplan.harness.backends.torch_eager import EagerBackend


class CompileBackend(EagerBackend):
    name: ClassVar[str] = "compile"
    # Inductor compiles once per input shape (dynamic=False keeps shapes static, as serving engines
    # do): the first call compiles, the second confirms no recompilation is pending.
    warmup_calls: ClassVar[int] = 2

    def load(self, request: LoadRequest) -> dict[str, Any]:
        super().load(request)
        torch._dynamo.reset()
        self.fn = torch.compile(request.workload.model, dynamic=False)
        return {"compile_mode": "default", "compile_dynamic": False}

    def teardown(self) -> None:
        super().teardown()
        torch._dynamo.reset()
