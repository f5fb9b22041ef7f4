"""The async client: stream one request over SSE and drive many under a load mode.

Every request has a deadline (``timeout_s``, connect included); an unreachable endpoint, an HTTP error
status, a malformed SSE event, an error object in the stream, or a stream that stops before ``[DONE]``
is recorded as that request's error. Times are ``time.perf_counter()`` seconds from the run's start.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from capplan.harness.serve.workload import RequestSpec

ERROR_TEXT_CHARS = 200  # of a server's error body kept in a record


@dataclass
class RequestResult:
    """Everything the client saw of one request (times in s from the run's start)."""

    index: int
    scheduled_s: float | None  # when an open-loop schedule wanted it sent (None in closed loop)
    sent_s: float = 0.0
    headers_s: float | None = None  # response headers arrived (a round trip plus the server's admission)
    first_token_s: float | None = None
    chunk_s: list[float] = field(default_factory=list)  # every chunk carrying content or reasoning tokens
    end_s: float | None = None
    status: int | None = None
    prompt_tokens: int | None = None  # from the server's usage report
    output_tokens: int | None = None
    reasoning_chunks: int = 0
    text_chars: int = 0
    error: str | None = None
    interrupted: bool = False
    started: bool = False
    finished_s: float | None = None  # when the client was done with it (success or error)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

    @property
    def lag_ms(self) -> float | None:
        return None if self.scheduled_s is None else 1e3 * (self.sent_s - self.scheduled_s)


@dataclass
class Target:
    """Where and how to send: the endpoint's base URL (ending in /v1), API flavour, model, auth."""

    base_url: str
    api: str  # "completions" or "chat"
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    ignore_eos: bool = True

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + ("/chat/completions" if self.api == "chat" else "/completions")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text


def _tokens_in(chunk: dict[str, Any]) -> tuple[str, bool]:
    """(text, is_reasoning) carried by one chunk's first choice; ("", False) for role-only/usage chunks."""
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return "", False
    choice = choices[0]
    if "text" in choice:
        return choice.get("text") or "", False
    delta = choice.get("delta") or {}
    reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
    return (delta.get("content") or "") or reasoning, bool(reasoning and not delta.get("content"))


async def stream_request(
    client: httpx.AsyncClient, target: Target, spec: RequestSpec, result: RequestResult, t0: float
) -> None:
    """Send ``spec`` and fill ``result``; never raises for what the server or network does."""
    body = spec.body(target.api, target.model, ignore_eos=target.ignore_eos)
    result.sent_s = time.perf_counter() - t0
    result.started = True
    done = False
    try:
        async with asyncio.timeout(target.timeout_s):
            async with client.stream("POST", target.url, json=body, headers=target.headers()) as response:
                result.headers_s = time.perf_counter() - t0
                result.status = response.status_code
                if response.status_code >= 400:
                    text = (await response.aread()).decode(errors="replace")
                    result.error = f"HTTP {response.status_code}: {_error_message(text)}"
                    return
                async for line in response.aiter_lines():
                    now = time.perf_counter() - t0
                    if not line.startswith("data:"):
                        continue  # blank separators, comments (":"), event:/id: fields
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError:
                        result.error = f"malformed SSE event: {payload[:80]!r}"
                        return
                    if not isinstance(chunk, dict):
                        result.error = f"malformed SSE event (not an object): {payload[:80]!r}"
                        return
                    if "error" in chunk:
                        result.error = f"error in stream: {_error_message(json.dumps(chunk))}"
                        return
                    text, reasoning = _tokens_in(chunk)
                    if text:
                        if result.first_token_s is None:
                            result.first_token_s = now
                        result.chunk_s.append(now)
                        result.reasoning_chunks += reasoning
                        result.text_chars += len(text)
                    usage = chunk.get("usage")
                    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                        result.prompt_tokens = _int_or_none(usage.get("prompt_tokens"))
                        result.output_tokens = _int_or_none(usage.get("completion_tokens"))
                result.end_s = time.perf_counter() - t0
    except TimeoutError:
        result.error = f"timed out after {target.timeout_s:g} s"
    except httpx.ConnectError as exc:
        result.error = f"cannot connect to {target.url} ({_first_line(exc)})"
    except httpx.RemoteProtocolError as exc:
        result.error = f"server closed the stream mid-response ({_first_line(exc)})"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {_first_line(exc)}"
    except asyncio.CancelledError:
        result.interrupted = True
        raise
    finally:
        result.finished_s = time.perf_counter() - t0
        if result.error:
            result.error = target.redact(result.error)
    if result.error is None and not done:
        result.error = "stream ended before [DONE]"
    elif result.error is None and result.first_token_s is None:
        result.error = "stream carried no tokens"


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:ERROR_TEXT_CHARS]


def _error_message(text: str) -> str:
    try:
        doc = json.loads(text)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        message = err.get("message", err) if isinstance(err, dict) else err
        text = str(message)
    except ValueError:
        pass
    return " ".join(text.split())[:ERROR_TEXT_CHARS] or "(empty body)"


@dataclass
class LoadResult:
    """All requests of one load point and its wall-clock span."""

    results: list[RequestResult]
    t_first_send_s: float
    t_last_end_s: float
    interrupted: bool

    @property
    def duration_s(self) -> float:
        return max(self.t_last_end_s - self.t_first_send_s, 1e-9)


def client_limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


async def run_load(
    target: Target,
    requests: Sequence[RequestSpec],
    *,
    offsets_s: Sequence[float] | None,
    concurrency: int | None,
    on_done: Callable[[RequestResult], None] | None = None,
    stop: asyncio.Event | None = None,
    warmup: Sequence[RequestSpec] = (),
) -> LoadResult:
    """Send ``requests``: open loop at ``offsets_s`` (optionally capped at ``concurrency`` in flight), or
    closed loop with ``concurrency`` workers each sending back to back when ``offsets_s`` is None.
    The ``warmup`` requests go first, one at a time, and are not recorded. Setting ``stop`` ends the run:
    nothing more is sent and requests in flight are cancelled (marked interrupted)."""
    cap = concurrency or len(requests) or 1
    stop = stop or asyncio.Event()
    notify = on_done or (lambda _r: None)
    timeout = httpx.Timeout(target.timeout_s)
    async with httpx.AsyncClient(timeout=timeout, limits=client_limits(cap), trust_env=False) as client:
        for spec in warmup:
            await stream_request(client, target, spec, RequestResult(-1, None), time.perf_counter())
        results = [
            RequestResult(i, None if offsets_s is None else offsets_s[i]) for i in range(len(requests))
        ]
        t0 = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []

        async def one(i: int) -> None:
            await stream_request(client, target, requests[i], results[i], t0)
            notify(results[i])

        if offsets_s is None:
            queue = iter(range(len(requests)))

            async def worker() -> None:
                for i in queue:
                    if stop.is_set():
                        return
                    await one(i)

            tasks = [asyncio.create_task(worker()) for _ in range(min(cap, len(requests)))]
        else:
            slots = asyncio.Semaphore(cap)

            async def capped(i: int) -> None:
                async with slots:  # waiting for a slot delays the send: the lag shows the cap's queueing
                    await one(i)

            for i, offset in enumerate(offsets_s):
                delay = t0 + offset - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stop.is_set():
                    break
                tasks.append(asyncio.create_task(capped(i)))
        stopper = asyncio.create_task(stop.wait())
        pending = set(tasks)
        while pending and not stop.is_set():
            _, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopper)
        stopper.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    sent = [r for r in results if r.started]  # requests never sent (the run was stopped) are not results
    ends = [r.finished_s for r in sent if r.finished_s is not None and not r.interrupted]
    return LoadResult(
        results=sent,
        t_first_send_s=min((r.sent_s for r in sent), default=0.0),
        t_last_end_s=max(ends, default=0.0),
        interrupted=stop.is_set(),
    )
