"""Imports of real vLLM bench serve, guidellm and AIPerf result files (tests/data/serving/README.md says how
each was produced: against `capplan reference-server --scripted ttft_ms=30,itl_ms=5`, 16-token prompts,
8 output tokens, 12 requests). Figures are the files' own, mapped to capplan's definitions."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness_cli_helper import cli

from capplan.errors import UserError
from capplan.results.io import read_import_file
from capplan.results.serving import ServeSLO, record_slo_attainment

DATA = Path(__file__).parent / "data" / "serving"


def _one(name: str):  # type: ignore[no-untyped-def]
    [record] = read_import_file(DATA / name)
    assert record.kind == "serve" and record.source.value == "imported"
    return record


def test_vllm_completions_result() -> None:
    """vLLM 0.32.0, openai backend, 10 requests/s Poisson capped at 4 in flight. The file: median TTFT
    32.18 ms (30 ms script + client/server overhead), p99 39.76 ms, median TPOT 4.99 ms (script: 5 ms),
    12 completed in 1.268 s = 9.463 requests/s, goodput 8.674 requests/s under its ttft:40 tpot:10."""
    r = _one("vllm-0.32.0-bench-serve-completions.json")
    assert r.metric("ttft_ms").value == pytest.approx(32.1824, abs=1e-4)
    assert r.metric("ttft_ms").stats["p99"] == pytest.approx(39.7574, abs=1e-4)
    assert r.metric("tpot_ms").value == pytest.approx(4.9933, abs=1e-4)
    assert r.metric("request_throughput_rps").value == pytest.approx(12 / 1.2681182750002336)
    assert r.metric("goodput_rps").value == pytest.approx(8.6743, abs=1e-4)
    facts = r.config["facts"]
    assert (facts["load"], facts["rate_rps"], facts["concurrency"]) == ("r10c4", 10.0, 4)
    # per-request arrays (--save-detailed) kept as aligned samples: the plan's SLOs can be re-evaluated
    assert len(r.samples["ttft_ms"]) == 12 and r.samples["output_tokens"] == [8.0] * 12
    assert sorted(r.samples["ttft_ms"])[5:7][0] <= 32.1825 <= sorted(r.samples["ttft_ms"])[5:7][1]
    # under vLLM's own goodput SLO (TTFT <= 40, TPOT <= 10 ms) 11 of 12 requests were good: 11 / 1.268 s
    attainment, goodput = record_slo_attainment(r, ServeSLO(ttft_ms=40, tpot_ms=10))
    assert (attainment, goodput) == (pytest.approx(100 * 11 / 12), pytest.approx(8.6743, abs=1e-4))


def test_vllm_chat_result_notes_that_a_role_chunk_starts_its_ttft() -> None:
    """Against the same script, vLLM's openai-chat client reports a median TTFT of 2.1 ms: it starts at
    the role-only first chunk the server sends at once, not at the first token 30 ms later."""
    r = _one("vllm-0.32.0-bench-serve.json")
    assert r.metric("ttft_ms").value == pytest.approx(2.1186, abs=1e-4)
    assert "role-only first chunk counts as the first token" in r.config["facts"]["definitions"]


def test_guidellm_reports_map_tpot_and_keep_their_own() -> None:
    """guidellm 0.8.1, synchronous: median TTFT 32.09 ms; its inter_token_latency_ms (capplan's TPOT) 4.98
    ms vs the script's 5 ms; its time_per_output_token_ms, e2e / 8 tokens = 67.27 / 8 ms ~ 8.36 ms, keeps
    the first token; request_latency median 0.06727 s = 67.27 ms; 12 requests / 0.854 s = 14.05 req/s."""
    r = _one("guidellm-0.8.1-synchronous.json")
    assert r.metric("ttft_ms").value == pytest.approx(32.0852, abs=1e-4)
    assert r.metric("tpot_ms").value == pytest.approx(4.98, abs=0.01)
    assert r.metric("tpot_incl_first_token_ms").value == pytest.approx(8.36, abs=0.01)
    assert r.metric("e2e_ms").value == pytest.approx(67.2736, abs=1e-3)
    assert r.metric("request_throughput_rps").value == pytest.approx(12 / 0.8539929389953613)
    assert r.metric("itl_ms") is None  # guidellm reports no chunk gaps
    assert r.config["facts"]["load"] == "sync" and "first token" in r.config["facts"]["definitions"]
    poisson = _one("guidellm-0.8.1-poisson.json")
    assert (poisson.config["facts"]["load"], poisson.config["facts"]["arrival"]) == ("r10", "poisson")
    assert record_slo_attainment(poisson, ServeSLO(ttft_ms=50)) is None  # percentiles only, no samples


def test_aiperf_profile_export() -> None:
    """AIPerf 0.13.0, concurrency 2: p50 TTFT 32.24 ms; inter_token_latency (capplan's TPOT) p50 4.96 ms;
    inter_chunk_latency (capplan's ITL) p50 4.98 ms; request_latency p50 67.89 ms; 25.50 requests/s."""
    r = _one("aiperf-0.13.0-profile_export_aiperf.json")
    assert r.metric("ttft_ms").value == pytest.approx(32.2449, abs=1e-4)
    assert r.metric("tpot_ms").value == pytest.approx(4.9599, abs=1e-4)
    assert r.metric("itl_ms").value == pytest.approx(4.9817, abs=1e-4)
    assert r.metric("e2e_ms").value == pytest.approx(67.8936, abs=1e-4)
    assert r.metric("request_throughput_rps").value == pytest.approx(25.5012, abs=1e-4)
    assert r.config["facts"]["load"] == "c2" and r.software == {"aiperf": "0.13.0"}


def test_bench_import_stores_them_and_refuses_broken_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "s.db"
    for f in sorted(DATA.glob("*.json")):
        code, out, err = cli(capsys, "bench", "import", str(f), "--store", str(store))
        assert code == 0 and "imported 1 runs" in out, err
    broken = tmp_path / "vllm.json"
    broken.write_text('{"num_prompts": 3, "request_throughput": 1.0, "total_output_tokens": 9, '
                      '"duration": "x"}')
    with pytest.raises(UserError, match="malformed vLLM bench serve result"):
        read_import_file(broken)
    old = tmp_path / "guidellm.json"
    old.write_text('{"metadata": {"version": 1, "guidellm_version": "0.3"}, "benchmarks": []}')
    with pytest.raises(UserError, match="schema version 1; supported: 2"):
        read_import_file(old)
