"""The ASGI app (Starlette) and ``serve``: uvicorn bound to one port, stopped by SIGINT, SIGTERM or SIGHUP.

Routes: GET /v1/models, GET /version, GET /health, POST /v1/completions, POST /v1/chat/completions
(streaming SSE or a plain JSON body). Bad requests get OpenAI-style error bodies with 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from capplan import __version__
from capplan.serving.protocol import (
    SERVER_NAME,
    ChunkWriter,
    Endpoint,
    GenerationRequest,
    error_body,
    token_text,
)
from capplan.serving.scripted import Script, ScriptedServer
from capplan.serving.timer import PreciseTimer

DEFAULT_MAX_TOKENS = (
    16  # when a request gives no max_tokens (vLLM uses the remaining context; kept small here)
)
SERVER_VERSION = f"{SERVER_NAME} {__version__}"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACEFUL_SHUTDOWN_S = 2  # open streams get this long to finish after a stop signal


def _error(message: str, status: int = 400, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(error_body(message, kind, status), status_code=status)


class ReferenceServer:
    """Holds the mode (scripted or the model engine) and answers the routes."""

    def __init__(
        self,
        model_name: str,
        script: Script | None = None,
        size: str = "tiny",
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.model_name = model_name
        self.timer = PreciseTimer()
        self.scripted = ScriptedServer(script, self.timer) if script is not None else None
        self.engine: Any = None
        if self.scripted is None:
            from capplan.serving.engine import ModelEngine

            self.engine = ModelEngine(size=size, seed=seed, threads=threads)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.timer.close()

    @property
    def mode(self) -> str:
        return "scripted" if self.scripted else f"model gpt-{self.engine.size} (random weights, CPU)"

    def app(self) -> Starlette:
        async def models(_: Request) -> Response:
            return JSONResponse(
                {
                    "object": "list",
                    "data": [
                        {"id": self.model_name, "object": "model", "created": 0, "owned_by": SERVER_NAME}
                    ],
                }
            )

        async def version(_: Request) -> Response:
            return JSONResponse({"version": SERVER_VERSION, "mode": self.mode})

        async def health(_: Request) -> Response:
            return Response(status_code=200)

        async def completions(request: Request) -> Response:
            return await self.generate(request, "completions")

        async def chat(request: Request) -> Response:
            return await self.generate(request, "chat")

        routes = [
            Route("/v1/models", models),
            Route("/version", version),
            Route("/health", health),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    async def generate(self, request: Request, endpoint: Endpoint) -> Response:
        arrived = time.perf_counter()
        try:
            req = GenerationRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            err = exc.errors()[0]
            return _error(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}")
        if endpoint == "chat" and not req.messages:
            return _error("messages: required for /v1/chat/completions")
        if endpoint == "completions" and req.prompt is None:
            return _error("prompt: required for /v1/completions")
        if req.model != self.model_name:
            return _error(
                f"model {req.model!r} does not exist; served: {self.model_name}", 404, "NotFoundError"
            )
        writer = ChunkWriter(endpoint, self.model_name)
        headers = {"server": SERVER_VERSION}
        if self.scripted is not None:
            failing = self.scripted.next_fails()
            if failing and self.scripted.script.fail == "status":
                return _error("scripted failure", self.scripted.script.fail_status, "scripted")
            if not req.stream:
                return JSONResponse(await self.scripted.full(req, writer, arrived), headers=headers)
            body = self.scripted.stream(req, writer, arrived, failing)
        else:
            prompt = self.engine.tokenize(req.prompt_text())
            limit = req.output_limit(DEFAULT_MAX_TOKENS)
            if len(prompt) + limit > self.engine.context:
                return _error(
                    f"prompt ({len(prompt)} tokens) + max_tokens ({limit}) exceed the context of "
                    f"{self.engine.context} tokens"
                )
            body = self._model_stream(req, writer, prompt, limit)
            if not req.stream:
                return JSONResponse(await self._collect(body, writer, len(prompt), limit), headers=headers)
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)

    async def _model_stream(
        self, req: GenerationRequest, writer: ChunkWriter, prompt: list[int], limit: int
    ) -> AsyncIterator[bytes]:
        seq = self.engine.submit(prompt, limit)
        try:
            if writer.endpoint == "chat":
                yield writer.role()
            produced = 0
            while (item := await seq.out.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                produced += 1
                yield writer.token(token_text(item), finish="length" if produced == limit else None)
            if req.include_usage:
                yield writer.usage(len(prompt), produced)
            yield writer.done()
        finally:
            seq.cancelled.set()

    async def _collect(
        self, body: AsyncIterator[bytes], writer: ChunkWriter, prompt: int, limit: int
    ) -> dict:
        import json

        text = []
        async for event in body:
            payload = event.removeprefix(b"data: ").strip()
            if payload != b"[DONE]":
                choices = json.loads(payload).get("choices") or [{}]
                text.append(choices[0].get("text") or choices[0].get("delta", {}).get("content") or "")
        return writer.full("".join(text), "", prompt, limit)


def serve(
    port: int,
    *,
    host: str = "127.0.0.1",
    model_name: str = "capplan-gpt-tiny",
    script: Script | None = None,
    size: str = "tiny",
    seed: int = 0,
    threads: int = 1,
    log: Any = print,
) -> int:
    """Serve until SIGINT, SIGTERM or SIGHUP; return the signal number that stopped it (0 if none)."""
    server_state = ReferenceServer(model_name, script, size=size, seed=seed, threads=threads)
    config = uvicorn.Config(
        server_state.app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="off",
        server_header=False,
    )
    server = _StoppableServer(config)
    log(
        f"capplan reference-server: {server_state.mode}, model {model_name!r}, "
        f"http://{host}:{port}/v1 (stop with Ctrl-C, SIGTERM or SIGHUP)"
    )
    try:
        asyncio.run(server.serve())
    finally:
        server_state.close()
    if not server.started:
        return -1
    return server.stopped_by


class _StoppableServer(uvicorn.Server):
    """uvicorn.Server whose signal handling covers SIGHUP too and does not re-raise the signal afterwards
    (the process exits 0 after a clean stop; uvicorn alone handles SIGINT and SIGTERM only)."""

    stopped_by = 0

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopped_by = self.stopped_by or sig
        super().handle_exit(sig, frame)
