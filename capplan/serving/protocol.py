"""The slice of the OpenAI API the reference server speaks: request bodies and streamed chunk bodies.

Requests keep unknown fields (clients send many: temperature, top_p, ...); what the server uses is
validated. Chunks follow the OpenAI/vLLM layout: completions stream ``choices[0].text``; chat streams a
role-only first delta, then ``delta.reasoning_content`` / ``delta.content``; with
``stream_options.include_usage`` a last chunk has empty ``choices`` and the ``usage`` object.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SERVER_NAME = "capplan-reference"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(part.get("text", "")) for part in self.content)
        return self.content or ""


class GenerationRequest(BaseModel):
    """Body of /v1/completions (``prompt``) or /v1/chat/completions (``messages``)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    prompt: str | list[str] | None = None
    messages: list[Message] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    def prompt_text(self) -> str:
        if self.messages is not None:
            return " ".join(m.text() for m in self.messages)
        return " ".join(self.prompt) if isinstance(self.prompt, list) else (self.prompt or "")

    def output_limit(self, default: int) -> int:
        return self.max_completion_tokens or self.max_tokens or default

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)


def prompt_token_ids(text: str, vocab: int) -> list[int]:
    """The reference tokenizer: one token per whitespace-separated word, id = crc32(word) mod vocab.
    Crude, but deterministic and shared by the scripted and real modes (usage counts agree)."""
    return [zlib.crc32(word.encode()) % vocab for word in text.split()]


def token_text(token_id: int) -> str:
    """Text of one generated token (one word, so a client that counts words counts tokens)."""
    return f" t{token_id}"


Endpoint = Literal["completions", "chat"]


class ChunkWriter:
    """Builds the SSE events of one streamed response."""

    def __init__(self, endpoint: Endpoint, model: str) -> None:
        self.endpoint = endpoint
        self.model = model
        self.id = ("chatcmpl-" if endpoint == "chat" else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    def _event(self, body: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    def _base(self) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.endpoint == "chat" else "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def role(self) -> bytes:
        """The chat role-only first chunk (no content: it must not count as the first token)."""
        return self._event(
            self._base()
            | {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            }
        )

    def token(self, text: str, *, reasoning: bool = False, finish: str | None = None) -> bytes:
        if self.endpoint == "chat":
            delta = {"reasoning_content": text} if reasoning else {"content": text}
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"index": 0, "text": text}
        return self._event(self._base() | {"choices": [choice | {"logprobs": None, "finish_reason": finish}]})

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return self._event(
            self._base() | {"choices": [], "usage": usage_body(prompt_tokens, completion_tokens)}
        )

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"

    def full(self, text: str, reasoning: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """A non-streamed response body."""
        if self.endpoint == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if reasoning:
                message["reasoning_content"] = reasoning
            choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "length"}
            obj = "chat.completion"
        else:
            choice, obj = {"index": 0, "text": text, "finish_reason": "length"}, "text_completion"
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage_body(prompt_tokens, completion_tokens),
        }


def usage_body(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def error_body(message: str, kind: str = "invalid_request_error", code: int = 400) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code}}
