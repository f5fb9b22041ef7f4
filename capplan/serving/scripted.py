"""Scripted mode: every response is a fixed script, so a client's measurements can be checked exactly.

A script gives the TTFT and inter-token gap, how many reasoning and content tokens to stream, whether a
role-only first chunk and a trailing usage chunk are sent, and a failure to inject (an HTTP status,
a malformed SSE line, or a connection dropped mid-stream) on every ``fail_every``-th request.
Token k (reasoning first, then content; k = 0, 1, ...) is sent at request arrival + ttft_ms + k *
itl_ms, on absolute deadlines (capplan.serving.timer), so the gaps do not drift.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from capplan.errors import UserError
from capplan.serving.protocol import ChunkWriter, GenerationRequest, prompt_token_ids, token_text
from capplan.serving.timer import PreciseTimer

SCRIPT_VOCAB = 50_000  # ids of scripted tokens and of the reference tokenizer in scripted mode


class Script(BaseModel):
    """What every scripted response does (``--scripted key=value,...``)."""

    model_config = ConfigDict(extra="forbid")

    ttft_ms: float = Field(50.0, ge=0, le=600_000, description="request arrival to the first token chunk")
    itl_ms: float = Field(10.0, ge=0, le=600_000, description="gap between successive token chunks")
    output_tokens: int | None = Field(
        None, ge=1, le=100_000, description="content tokens (default: the request's max_tokens, else 16)"
    )
    reasoning_tokens: int = Field(
        0, ge=0, le=100_000, description="reasoning tokens before the content (chat)"
    )
    role_chunk: bool = Field(True, description="chat: send a role-only first chunk at once")
    usage: bool = Field(True, description="honour stream_options.include_usage with a trailing usage chunk")
    fail: Literal["none", "status", "malformed", "drop"] = Field(
        "none",
        description="status: answer fail_status; malformed: a non-JSON data line; drop: close mid-stream",
    )
    fail_status: int = Field(500, ge=400, le=599, description="HTTP status of fail=status")
    fail_after: int = Field(1, ge=0, description="malformed/drop: after this many token chunks")
    fail_every: int = Field(1, ge=1, description="inject the failure on every n-th request (1 = all)")


def parse_script(spec: str) -> Script:
    """``key=value,key=value`` (e.g. ``ttft_ms=40,itl_ms=5,output_tokens=8``) -> Script; UserError
    otherwise."""
    fields: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--scripted: {item!r} is not key=value; keys: {', '.join(Script.model_fields)}")
        fields[key.strip()] = value.strip()
    try:
        return Script.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "script"
        if err["type"] == "extra_forbidden":
            raise UserError(
                f"--scripted: unknown key {key!r}; allowed: {', '.join(Script.model_fields)}"
            ) from exc
        raise UserError(f"--scripted: {key}: {err['msg']}") from exc


class ScriptedFailure(Exception):
    """Raised inside a stream to make the server drop the connection mid-response."""


class ScriptedServer:
    """Produces the scripted responses; counts requests to decide which ones fail."""

    def __init__(self, script: Script, timer: PreciseTimer) -> None:
        self.script = script
        self.timer = timer
        self._count = itertools.count(1)

    def next_fails(self) -> bool:
        return self.script.fail != "none" and next(self._count) % self.script.fail_every == 0

    def counts(self, req: GenerationRequest, chat: bool) -> tuple[int, int, int]:
        """(prompt tokens, reasoning tokens, content tokens) of the response to ``req``."""
        s = self.script
        reasoning = s.reasoning_tokens if chat else 0
        return (
            len(prompt_token_ids(req.prompt_text(), SCRIPT_VOCAB)),
            reasoning,
            s.output_tokens or req.output_limit(16),
        )

    async def stream(
        self, req: GenerationRequest, writer: ChunkWriter, arrived: float, failing: bool
    ) -> AsyncIterator[bytes]:
        s = self.script
        chat = writer.endpoint == "chat"
        prompt, reasoning, content = self.counts(req, chat)
        if chat and s.role_chunk:
            yield writer.role()
        for k in range(reasoning + content):
            if failing and k == s.fail_after:
                if s.fail == "malformed":
                    yield b"data: {not json\n\n"
                    continue
                raise ScriptedFailure(f"scripted drop after {k} tokens")
            await self.timer.sleep_until(arrived + (s.ttft_ms + k * s.itl_ms) / 1e3)
            last = k == reasoning + content - 1
            yield writer.token(
                token_text(k % SCRIPT_VOCAB), reasoning=k < reasoning, finish="length" if last else None
            )
        if s.usage and req.include_usage:
            yield writer.usage(prompt, reasoning + content)
        yield writer.done()

    async def full(self, req: GenerationRequest, writer: ChunkWriter, arrived: float) -> dict:
        prompt, reasoning, content = self.counts(req, writer.endpoint == "chat")
        total = reasoning + content
        await self.timer.sleep_until(
            arrived + (self.script.ttft_ms + max(total - 1, 0) * self.script.itl_ms) / 1e3
        )
        text = "".join(token_text(k) for k in range(reasoning, total))
        return writer.full(text, "".join(token_text(k) for k in range(reasoning)), prompt, total)


def now() -> float:
    return time.perf_counter()
