"""Typed LoadGen scenario settings and their translation to ``mlperf_loadgen.TestSettings``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Scenario = Literal["SingleStream", "MultiStream", "Server", "Offline"]
SCENARIOS: tuple[str, ...] = ("SingleStream", "MultiStream", "Server", "Offline")


class ScenarioSettings(BaseModel):
    """How LoadGen drives the system under test. Durations here are far below MLPerf's 600 s
    submission minimum: results are capacity estimates, and LoadGen says INVALID when too few queries
    ran for its early-stopping estimate (that verdict is stored with its reason, not hidden)."""

    model_config = ConfigDict(extra="forbid")

    scenario: Scenario = Field("SingleStream", description="SingleStream, MultiStream, Server or Offline")
    min_duration_ms: int = Field(2000, ge=0, description="LoadGen runs at least this long")
    max_duration_ms: int = Field(0, ge=0, description="LoadGen stops after this long (0: no cap)")
    min_query_count: int = Field(100, ge=1, description="LoadGen issues at least this many queries")
    max_query_count: int = Field(0, ge=0, description="LoadGen issues at most this many queries (0: no cap)")
    target_qps: float = Field(10.0, gt=0, description="Server: Poisson arrival rate; Offline: expected QPS")
    latency_bound_ms: float = Field(200.0, gt=0, description="Server: latency bound at latency_percentile")
    latency_percentile: float = Field(0.99, gt=0, lt=1, description="Server: percentile the bound applies to")
    expected_latency_ms: float = Field(10.0, gt=0, description="Single/MultiStream: expected query latency")
    samples_per_query: int = Field(8, ge=1, description="MultiStream: samples per query")
    seed: int = Field(0, ge=0, description="LoadGen's QSL, sample-index and schedule RNG seeds")


def to_test_settings(s: ScenarioSettings) -> Any:
    """The ``mlperf_loadgen.TestSettings`` for ``s`` (performance mode)."""
    import mlperf_loadgen as lg

    ts = lg.TestSettings()
    ts.scenario = getattr(lg.TestScenario, s.scenario)
    ts.mode = lg.TestMode.PerformanceOnly
    ts.min_duration_ms = s.min_duration_ms
    ts.max_duration_ms = s.max_duration_ms
    ts.min_query_count = s.min_query_count
    ts.max_query_count = s.max_query_count
    ts.qsl_rng_seed = ts.sample_index_rng_seed = ts.schedule_rng_seed = s.seed
    expected_ns = int(s.expected_latency_ms * 1e6)
    if s.scenario == "SingleStream":
        ts.single_stream_expected_latency_ns = expected_ns
    elif s.scenario == "MultiStream":
        ts.multi_stream_expected_latency_ns = expected_ns
        ts.multi_stream_samples_per_query = s.samples_per_query
    elif s.scenario == "Server":
        ts.server_target_qps = s.target_qps
        ts.server_target_latency_ns = int(s.latency_bound_ms * 1e6)
        ts.server_target_latency_percentile = s.latency_percentile
    else:
        ts.offline_expected_qps = s.target_qps
    return ts
