"""Real mode: the project's GPT-like decoder (random weights, CPU) behind an iteration-level scheduler.

One scheduler thread owns the model. Each iteration it admits at most one waiting request (prefill of
its prompt into a fresh KV cache, emitting the first token), then decodes one token for every running
sequence and streams it. This is continuous batching's scheduling (requests join and leave between
iterations) without fused batch kernels: sequences are stepped one after another, so TTFT grows with
queueing and inter-token latency with the number of running sequences, as on a real server. Decoding
is greedy and never stops early (like vLLM's ``ignore_eos``): a request gets exactly max_tokens tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from capplan.serving.protocol import prompt_token_ids

END = None  # pushed after the last token of a sequence
DEFAULT_SIZE = "tiny"


@dataclass
class Sequence:
    prompt_ids: list[int]
    max_tokens: int
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue[Any]
    cancelled: threading.Event = field(default_factory=threading.Event)
    cache: Any = None
    last: Any = None
    produced: int = 0

    def emit(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under us (server stopping)
            self.loop.call_soon_threadsafe(self.out.put_nowait, item)


class ModelEngine:
    """The decoder plus its scheduler thread. ``submit`` returns a Sequence whose queue yields token
    ids, then END (or an Exception)."""

    def __init__(self, size: str = DEFAULT_SIZE, seed: int = 0, threads: int = 1) -> None:
        import torch

        from capplan.workloads.gpt import PRESETS, Gpt

        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        self.size = size
        self.shape = PRESETS[size]
        self.model = Gpt(self.shape).eval()
        self._waiting: queue.Queue[Sequence | None] = queue.Queue()
        self._running: list[Sequence] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="capplan-reference-engine", daemon=True)
        self._thread.start()

    @property
    def context(self) -> int:
        return self.shape.max_positions

    def tokenize(self, text: str) -> list[int]:
        return prompt_token_ids(text, self.shape.vocab) or [0]

    def submit(self, prompt_ids: list[int], max_tokens: int) -> Sequence:
        seq = Sequence(prompt_ids, max_tokens, asyncio.get_running_loop(), asyncio.Queue())
        self._waiting.put(seq)
        return seq

    def close(self) -> None:
        self._stop.set()
        self._waiting.put(None)
        self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        import torch

        with torch.inference_mode():
            while not self._stop.is_set():
                try:
                    seq = self._waiting.get(block=not self._running, timeout=None if not self._running else 0)
                except queue.Empty:
                    seq = None
                if seq is not None and not seq.cancelled.is_set():
                    self._step(seq, prefill=True)
                for running in list(self._running):
                    if running.cancelled.is_set():
                        self._running.remove(running)
                    elif running is not seq:
                        self._step(running, prefill=False)

    def _step(self, seq: Sequence, *, prefill: bool) -> None:
        import torch

        try:
            if prefill:
                seq.cache = self.model.new_cache(1, len(seq.prompt_ids) + seq.max_tokens)
                ids = torch.tensor([seq.prompt_ids])
            else:
                ids = seq.last
            seq.last = self.model(ids, seq.cache)[:, -1].argmax(-1, keepdim=True)
        except Exception as exc:  # a failure of one request is that request's error, never the server's
            seq.emit(exc)
            if seq in self._running:
                self._running.remove(seq)
            return
        seq.produced += 1
        seq.emit(int(seq.last.item()))
        done = seq.produced >= seq.max_tokens
        if done:
            seq.emit(END)
            seq.cache = None
            if seq in self._running:
                self._running.remove(seq)
        elif prefill:
            self._running.append(seq)
