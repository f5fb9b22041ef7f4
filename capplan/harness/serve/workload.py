"""What the load generator sends: synthetic prompts at given token lengths, or prompts from a JSONL file.

Lengths are ``N`` (fixed), ``uniform:LOW:HIGH`` or ``normal:MEAN:SD`` (rounded, at least 1). A synthetic
prompt is N words drawn from short common English words, most of which are one token in BPE vocabularies
and exactly one in the reference server's; the token counts that matter are the server's usage report.
A JSONL line is ``{"prompt": "..."}`` or ``{"messages": [...]}``, optionally with ``"output_tokens": N``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from capplan.errors import UserError

WORDS = (
    "the of and to in is it you that he was for on are with as his they be at one have this from "
    "or had by not word but what some we can out other were all there when up use your how said an "
    "each she which do their time if will way about many then them write would like so these her long "
    "make thing see him two has look more day could go come did number sound no most people my over "
    "know water than call first who may down side been now find"
).split()
_LENGTH = re.compile(r"^(?:(\d+)|uniform:(\d+):(\d+)|normal:(\d+(?:\.\d+)?):(\d+(?:\.\d+)?))$")
CHARS_PER_TOKEN = 4.0  # estimate of prompt tokens when the server reports no usage (OpenAI's rule of thumb)


def parse_length(spec: str) -> str:
    """Validate a length spec; ValueError saying what is allowed otherwise."""
    m = _LENGTH.match(str(spec).strip())
    if (
        not m
        or (m.group(1) is not None and int(m.group(1)) < 1)
        or (m.group(2) is not None and not 1 <= int(m.group(2)) <= int(m.group(3)))
    ):
        raise ValueError(f"{spec!r}; allowed: N (>= 1), uniform:LOW:HIGH or normal:MEAN:SD")
    return str(spec).strip()


def sample_lengths(spec: str, n: int, rng: np.random.Generator) -> list[int]:
    m = _LENGTH.match(spec.strip())
    assert m is not None, spec
    if m.group(1) is not None:
        return [int(m.group(1))] * n
    if m.group(2) is not None:
        return rng.integers(int(m.group(2)), int(m.group(3)) + 1, n).tolist()
    values = rng.normal(float(m.group(4)), float(m.group(5)), n)
    return [max(1, round(v)) for v in values]


@dataclass
class RequestSpec:
    """One request: a prompt (or chat messages), the output tokens asked for, the input length intended."""

    prompt: str | None
    messages: list[dict[str, Any]] | None
    max_tokens: int
    intended_input_tokens: int | None

    def body(self, api: str, model: str, *, ignore_eos: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if ignore_eos:  # vLLM/SGLang extensions: generate exactly max_tokens (ignored by other servers)
            body |= {"ignore_eos": True, "min_tokens": self.max_tokens}
        if api == "chat":
            body["messages"] = self.messages or [{"role": "user", "content": self.prompt or ""}]
        else:
            body["prompt"] = self.prompt if self.prompt is not None else _flatten(self.messages or [])
        return body

    def estimated_input_tokens(self) -> int:
        if self.intended_input_tokens is not None:
            return self.intended_input_tokens
        text = self.prompt if self.prompt is not None else _flatten(self.messages or [])
        return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _flatten(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages)


def synthetic_requests(n: int, input_tokens: str, output_tokens: str, seed: int) -> list[RequestSpec]:
    rng = np.random.default_rng(seed)
    ins, outs = sample_lengths(input_tokens, n, rng), sample_lengths(output_tokens, n, rng)
    out = []
    for k, (i, o) in enumerate(zip(ins, outs, strict=True)):
        # A distinct first word per request keeps servers' prefix caches from serving every prompt.
        words = [f"r{seed}x{k}", *rng.choice(WORDS, size=i - 1).tolist()]
        out.append(RequestSpec(" ".join(words[:i]), None, o, i))
    return out


def jsonl_requests(path: Path, n: int, output_tokens: str, seed: int) -> list[RequestSpec]:
    """``n`` requests cycling through the file's prompts; UserError naming the line of a bad one."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--prompts: cannot read {path} ({exc})") from exc
    if not lines:
        raise UserError(f"--prompts: {path} has no prompts")
    rng = np.random.default_rng(seed)
    outs = sample_lengths(output_tokens, n, rng)
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise UserError(f"--prompts: {path}:{number}: not JSON ({exc})") from exc
        ok_prompt = isinstance(doc, dict) and isinstance(doc.get("prompt"), str)
        ok_messages = (
            isinstance(doc, dict)
            and isinstance(doc.get("messages"), list)
            and all(isinstance(m, dict) and "role" in m for m in doc["messages"])
        )
        if not (ok_prompt or ok_messages):
            raise UserError(f'--prompts: {path}:{number}: needs "prompt" (a string) or "messages" (a list)')
        fixed = doc.get("output_tokens")
        if fixed is not None and not (isinstance(fixed, int) and fixed >= 1):
            raise UserError(f"--prompts: {path}:{number}: output_tokens must be an integer >= 1")
        parsed.append(doc)
    return [
        RequestSpec(
            doc.get("prompt") if "prompt" in doc else None,
            doc.get("messages"),
            doc.get("output_tokens") or outs[k],
            None,
        )
        for k, doc in ((k, parsed[k % len(parsed)]) for k in range(n))
    ]
