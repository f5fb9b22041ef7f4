"""Autoregressive generation with the GPT workload's KV cache: time to first token (prefill), inter-token
latency (decode), prefill and decode tokens/s, over prompt- and output-length sweeps.

A generation is: prefill the prompt into a fresh cache and pick the first token (greedy), then one
decode step per further token. Each phase is timed with the harness timer (device synchronised before
every clock read); every generation's TTFT and every decode step's latency are kept raw.
"""

from __future__ import annotations

import time
from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, Field, model_validator

from capplan.harness.backends import place_model
from capplan.harness.device import device_sync
from capplan.harness.kinds.model_common import PeakMemory, setup_model
from capplan.harness.metrics import add_metric
from capplan.harness.spec import BenchmarkSpec, KindResult, Role, RunContext, Task
from capplan.harness.timing import PerfCounterTimer
from capplan.results.schema import Metric
from capplan.workloads import WorkloadParams
from capplan.workloads.gpt import PRESETS, Gpt
from capplan.workloads.transformer import random_tokens

WARMUP_GENERATIONS = 1  # the first generation per shape pays allocator growth and kernel selection


class GenerateParams(WorkloadParams):
    model: Literal["gpt"] = Field("gpt", description="generation needs a decoder: gpt")
    prompt_lens: list[int] = Field(
        default_factory=lambda: [32, 128], min_length=1, description="prompt tokens"
    )
    output_lens: list[int] = Field(default_factory=lambda: [16], min_length=1, description="generated tokens")
    batch: int = Field(1, ge=1, description="sequences generated together")
    min_generations: int = Field(3, ge=1, description="timed generations per (prompt, output) pair at least")

    @model_validator(mode="after")
    def _fits_context(self) -> GenerateParams:
        context = PRESETS[self.size].max_positions
        longest = max(self.prompt_lens) + max(self.output_lens)
        if longest > context:
            raise ValueError(
                f"prompt_lens + output_lens reach {longest} tokens; gpt-{self.size} context is {context}"
            )
        if min(self.prompt_lens) < 1 or min(self.output_lens) < 1:
            raise ValueError("prompt_lens and output_lens must be >= 1")
        return self


def generate_once(
    model: Gpt, prompt: torch.Tensor, new_tokens: int, timer: PerfCounterTimer
) -> tuple[float, list[float]]:
    """Greedy generation of ``new_tokens``: (TTFT seconds, decode-step seconds)."""
    cache = model.new_cache(prompt.shape[0], prompt.shape[1] + new_tokens)
    with torch.inference_mode():
        timer.start()
        token = model(prompt, cache)[:, -1].argmax(-1, keepdim=True)
        ttft = timer.stop()
        steps = []
        for _ in range(new_tokens - 1):
            timer.start()
            token = model(token, cache)[:, -1].argmax(-1, keepdim=True)
            steps.append(timer.stop())
    return ttft, steps


class GenerateKind:
    name: ClassVar[str] = "generate"
    task: ClassVar[Task] = "generate"
    role: ClassVar[Role] = "model"
    Params: ClassVar[type[BaseModel]] = GenerateParams
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "tf32", "bf16", "fp16")
    backends: ClassVar[tuple[str, ...]] = ("eager",)

    def run(self, spec: BenchmarkSpec, params: GenerateParams, ctx: RunContext) -> KindResult:  # type: ignore[override]
        memory = PeakMemory(spec.device)
        memory.baseline()
        setup = setup_model(spec, params, batch=params.batch, prompt_lens=params.prompt_lens,
                            output_lens=params.output_lens, decoding="greedy")
        place_model(setup.workload, spec.device, spec.dtype)
        model = setup.workload.model
        assert isinstance(model, Gpt)
        timer = PerfCounterTimer(device_sync(spec.device))
        g = torch.Generator().manual_seed(spec.seed + 2)
        result = KindResult(metrics=[], config=setup.config)
        memory.reset()
        first = f"p{params.prompt_lens[0]}_o{params.output_lens[0]}"
        for p in params.prompt_lens:
            for o in params.output_lens:
                prompt = random_tokens(model.shape, params.batch, p, g).to(spec.device)
                ctx.log(f"{spec.name}: prompt {p}, output {o}")
                ttfts, steps = self._sweep_point(
                    model, prompt, o, timer, spec.budget.max_time_s, params.min_generations
                )
                self._add_point(result, f"p{p}_o{o}", ttfts, steps, params.batch * p, params.batch)
        # Headline: the first (prompt, output) pair under plain names (ttft_ms, itl_ms, ...).
        headline = [m.model_copy(update={"name": m.name.removesuffix("_" + first)})
                    for m in result.metrics if m.name.endswith("_" + first)]
        result.metrics = headline + result.metrics
        result.metrics.append(
            Metric(name="peak_mem_mb", value=memory.peak_mb(), unit="MB", higher_is_better=False)
        )
        result.config["peak_mem_source"] = memory.source
        return result

    @staticmethod
    def _sweep_point(
        model: Gpt,
        prompt: torch.Tensor,
        new_tokens: int,
        timer: PerfCounterTimer,
        max_time_s: float,
        min_generations: int,
    ) -> tuple[list[float], list[float]]:
        for _ in range(WARMUP_GENERATIONS):
            generate_once(model, prompt, new_tokens, timer)
        ttfts: list[float] = []
        steps: list[float] = []
        deadline = time.perf_counter() + max_time_s
        while len(ttfts) < min_generations or (
            time.perf_counter() < deadline and len(ttfts) < 10 * min_generations
        ):
            ttft, decode = generate_once(model, prompt, new_tokens, timer)
            ttfts.append(ttft)
            steps.extend(decode)
        return ttfts, steps

    @staticmethod
    def _add_point(result: KindResult, point: str, ttfts: list[float], steps: list[float], prompt_tokens: int,
                   batch: int) -> None:
        add_metric(result, f"ttft_ms_{point}", ttfts, "ms", scale=1e3, higher_is_better=False)
        add_metric(
            result, f"prefill_tokens_per_s_{point}", ttfts, "tokens/s", scale=prompt_tokens, invert=True
        )
        if steps:  # output length 1 has no decode step
            add_metric(result, f"itl_ms_{point}", steps, "ms", scale=1e3, higher_is_better=False)
            add_metric(result, f"decode_tokens_per_s_{point}", steps, "tokens/s", scale=batch, invert=True)

