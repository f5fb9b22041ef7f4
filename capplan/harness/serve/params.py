"""Parameters of one serving load point (the serve kind's ``Params``; ``capplan bench serve`` builds them)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from capplan.harness.serve.arrivals import Arrival
from capplan.harness.serve.workload import parse_length
from capplan.results.serving import ServeSLO

Mode = Literal["synchronous", "concurrency", "rate"]
MODES: tuple[str, ...] = ("synchronous", "concurrency", "rate")


def clean_endpoint(url: str) -> str:
    """The endpoint as stored: scheme, host, port and path only (no user:password, query or fragment)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class ServeParams(BaseModel):
    """One load point against an OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(description="base URL of the OpenAI API, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(min_length=1, description="model name sent in every request")
    api: Literal["completions", "chat"] = Field(
        "completions", description="/v1/completions or /v1/chat/completions"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="environment variable holding the API key (never stored)"
    )
    mode: Mode = Field(
        "synchronous",
        description="synchronous (one at a time), concurrency (N workers back to "
        "back), rate (open-loop arrivals at rate_rps)",
    )
    concurrency: int | None = Field(
        None, ge=1, le=10_000, description="concurrency: workers; rate: cap in flight"
    )
    rate_rps: float | None = Field(None, gt=0, le=1e6, description="rate mode: mean arrivals per second")
    arrival: Arrival = Field("poisson", description="rate mode: constant, poisson or gamma gaps")
    burstiness: float = Field(1.0, gt=0, le=100, description="gamma shape (1 = Poisson, < 1 burstier)")
    requests: int = Field(50, ge=1, le=1_000_000, description="measured requests")
    warmup_requests: int = Field(
        1, ge=0, le=1000, description="requests sent first, one at a time, not measured"
    )
    input_tokens: str = Field("128", description="prompt tokens: N, uniform:LOW:HIGH or normal:MEAN:SD")
    output_tokens: str = Field(
        "32", description="max_tokens per request: N, uniform:LOW:HIGH or normal:MEAN:SD"
    )
    prompts_file: str | None = Field(None, description="JSONL of prompts instead of synthetic ones")
    ignore_eos: bool = Field(
        True, description="ask vLLM/SGLang for exactly max_tokens (ignore_eos, min_tokens)"
    )
    request_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="each request's deadline, connect included"
    )
    slo_ttft_ms: float | None = Field(None, gt=0, description="SLO on TTFT (ms)")
    slo_tpot_ms: float | None = Field(None, gt=0, description="SLO on TPOT (ms)")
    slo_e2e_ms: float | None = Field(None, gt=0, description="SLO on end-to-end latency (ms)")
    slo_attainment_pct: float = Field(
        99.0, gt=0, le=100, description="share of requests that must meet the SLOs"
    )
    search: bool = Field(False, description="search the highest Poisson rate whose SLO attainment is met")
    search_start_rps: float | None = Field(None, gt=0, description="first rate tried (default: measured)")
    search_rel_tol: float = Field(0.1, gt=0, lt=1, description="stop when the bracket is this narrow")
    search_max_runs: int = Field(8, ge=2, le=50, description="load points the search may spend")

    @field_validator("endpoint")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as http://127.0.0.1:8000/v1")
        return value.strip()

    @field_validator("input_tokens", "output_tokens")
    @classmethod
    def _length(cls, value: str) -> str:
        return parse_length(str(value))

    @model_validator(mode="after")
    def _consistent(self) -> ServeParams:
        if self.search:
            if not self.slo.given:
                raise ValueError("search needs at least one SLO (slo_ttft_ms, slo_tpot_ms or slo_e2e_ms)")
        elif self.mode == "rate" and self.rate_rps is None:
            raise ValueError("mode rate needs rate_rps")
        if self.mode == "concurrency" and self.concurrency is None:
            raise ValueError("mode concurrency needs concurrency")
        return self

    @property
    def slo(self) -> ServeSLO:
        return ServeSLO(self.slo_ttft_ms, self.slo_tpot_ms, self.slo_e2e_ms, self.slo_attainment_pct)

    def load_label(self) -> str:
        """Short name of the load point: sync, c8, r4 (rate), r4c8 (rate with a cap)."""
        if self.mode == "synchronous":
            return "sync"
        if self.mode == "concurrency":
            return f"c{self.concurrency}"
        return f"r{self.rate_rps:.4g}" + (f"c{self.concurrency}" if self.concurrency else "")
