"""The serving load generator against the project's reference server over real HTTP on 127.0.0.1.

Scripted mode fixes every response's timing, so the client's TTFT, TPOT, ITL and token counts can be
checked against known figures; real mode runs the random-weight GPT behind the same API.
"""

from __future__ import annotations

import json
import signal
import statistics

import httpx
import numpy as np
import pytest
from harness_cli_helper import cli
from refserver import free_port, reference_server
from scipy import stats as sps

from capplan.harness.serve.arrivals import arrival_offsets_s
from capplan.harness.serve.params import ServeParams
from capplan.harness.serve.point import point_result, run_point
from capplan.results.serving import SCHEDULE_LAG_TOLERANCE_MS, min_n_for_percentile, percentile_ci
from capplan.results.store import RunFilter, Store

MODEL = "capplan-gpt-tiny"
TTFT_MS, ITL_MS, CONTENT, REASONING = 60.0, 20.0, 8, 2
SCRIPT = f"ttft_ms={TTFT_MS:g},itl_ms={ITL_MS:g},output_tokens={CONTENT},reasoning_tokens={REASONING}"
REQUESTS = 12


@pytest.fixture(scope="module")
def scripted() -> str:
    with reference_server("--scripted", SCRIPT) as (url, _):
        yield url


def _params(url: str, **kw: object) -> ServeParams:
    return ServeParams.model_validate(
        {"endpoint": url, "model": MODEL, "requests": REQUESTS, "input_tokens": "7"} | kw
    )


def _earliest_within_1ms(late_only: list[float], expected: float) -> bool:
    """For a figure that contention on this shared VM can only make late (a delayed read): the earliest
    value is within 1 ms of ``expected``. A wrong definition moves every value, the earliest included."""
    return abs(min(late_only) - expected) <= 1.0


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_scripted_figures_are_measured_exactly(scripted: str, api: str) -> None:
    """Chat: a role-only chunk at once, then 2 reasoning and 8 content tokens; the first token 60 ms after
    the request arrives, then one every 20 ms. Completions: the 8 content tokens only.

    TTFT counts from the first token (not the role chunk): 60 ms plus the round trip, taken as the run's
    fastest time to the response headers (the server sends them on arrival). TPOT = (e2e - TTFT) / (n - 1)
    = 20 ms (guidellm's e2e / n would give (60 + 9 x 20) / 10 = 24 ms for chat; dividing by n, 18 ms).
    ITL: n - 1 gaps of 20 ms per request. Medians are used for TPOT and ITL (a delayed read lengthens one
    gap and shortens the next); token counts come from the usage report and are exact."""
    load, specs = run_point(_params(scripted, api=api), seed=1)
    assert [r.error for r in load.results] == [None] * REQUESTS
    tokens = REASONING + CONTENT if api == "chat" else CONTENT
    assert {r.output_tokens for r in load.results} == {tokens}  # the server's usage report, exact
    assert {r.prompt_tokens for r in load.results} == {7}  # 7 words = 7 tokens in the reference tokenizer
    assert {r.reasoning_chunks for r in load.results} == {REASONING if api == "chat" else 0}
    rtt_s = min(r.headers_s - r.sent_s for r in load.results)
    assert _earliest_within_1ms([1e3 * (r.first_token_s - r.sent_s - rtt_s) for r in load.results], TTFT_MS)
    e2e = [1e3 * (r.end_s - r.sent_s - rtt_s) for r in load.results]
    assert _earliest_within_1ms(e2e, TTFT_MS + (tokens - 1) * ITL_MS)
    result = point_result(_params(scripted, api=api), load, specs, {})
    assert statistics.median(result.samples["tpot_ms"]) == pytest.approx(ITL_MS, abs=1.0)
    assert len(result.samples["itl_ms"]) == REQUESTS * (tokens - 1)
    assert statistics.median(result.samples["itl_ms"]) == pytest.approx(ITL_MS, abs=1.0)
    assert result.samples["output_tokens"] == [float(tokens)] * REQUESTS
    assert result.samples["input_tokens"] == [7.0] * REQUESTS
    assert result.config["tokens_estimated"] is False
    assert min(result.samples["ttft_ms"]) >= TTFT_MS  # stored TTFT is the client's, round trip included


def test_tokens_are_estimated_and_marked_without_usage() -> None:
    with reference_server("--scripted", "ttft_ms=5,itl_ms=1,output_tokens=6,usage=false") as (url, _):
        load, specs = run_point(_params(url, requests=3), seed=0)
        result = point_result(_params(url, requests=3), load, specs, {})
    assert result.config["tokens_estimated"] is True and "estimated" in result.config["token_counts"]
    assert result.samples["output_tokens"] == [6.0] * 3  # one token per content chunk
    assert result.samples["input_tokens"] == [7.0] * 3  # the intended synthetic length


def test_poisson_arrivals_pass_a_ks_test() -> None:
    """2000 gaps at 50 requests/s against Exp(mean 20 ms); gamma with shape 0.5 against its own law."""
    gaps = np.diff(arrival_offsets_s(2001, 50.0, "poisson", seed=3))
    assert sps.kstest(gaps, "expon", args=(0, 1 / 50)).pvalue > 0.01
    assert sps.kstest(gaps, "expon", args=(0, 1 / 25)).pvalue < 1e-6  # the test can tell a wrong rate
    bursty = np.diff(arrival_offsets_s(2001, 50.0, "gamma", burstiness=0.5, seed=3))
    assert sps.kstest(bursty, "gamma", args=(0.5, 0, 1 / 50 / 0.5)).pvalue > 0.01
    assert np.allclose(np.diff(arrival_offsets_s(5, 4.0, "constant")), 0.25)


def test_poisson_sends_over_http_follow_the_schedule_and_report_lag() -> None:
    """150 requests at 20/s (mean gap 50 ms): the actual sends' gaps are still exponential (KS), and the
    dispatch lag (actual - scheduled send) is reported per request."""
    with reference_server("--scripted", "ttft_ms=2,itl_ms=1,output_tokens=2") as (url, _):
        params = _params(url, mode="rate", rate_rps=20.0, requests=150, api="completions")
        load, specs = run_point(params, seed=5)
    sent = np.sort([r.sent_s for r in load.results])
    assert sps.kstest(np.diff(sent), "expon", args=(0, 1 / 20)).pvalue > 0.001
    assert [r.scheduled_s for r in load.results] == arrival_offsets_s(150, 20.0, "poisson", seed=6)
    result = point_result(params, load, specs, {})
    lag = next(m for m in result.metrics if m.name == "dispatch_lag_ms")
    assert lag.stats["n"] == 150 and lag.stats["min"] >= 0
    assert len(result.samples["dispatch_lag_ms"]) == 150
    assert isinstance(result.config["schedule_kept"], bool)


def test_a_concurrency_cap_that_holds_requests_back_is_flagged(scripted: str) -> None:
    """200 requests/s with one request in flight at a time, each taking ~120 ms: the client cannot keep
    the schedule; the lag shows it and the record says so (no coordinated omission)."""
    params = _params(scripted, mode="rate", rate_rps=200.0, concurrency=1, requests=6, api="completions")
    load, specs = run_point(params, seed=0)
    result = point_result(params, load, specs, {})
    assert result.config["schedule_kept"] is False
    assert max(result.samples["dispatch_lag_ms"]) > SCHEDULE_LAG_TOLERANCE_MS * 10


def test_percentiles_need_enough_values_for_a_confidence_interval() -> None:
    """Both CI bounds must be order statistics of the sample: for the q-quantile the upper one needs
    1 - q^n >= 0.975, i.e. p50: 0.5^6 = 0.016 <= 0.025 -> n = 6; p90: 1 - 0.9^36 = 0.977 -> 36;
    p99: 0.99^367 = 0.02502 > 0.025, 0.99^368 = 0.02477 -> 368."""
    assert [min_n_for_percentile(q) for q in (50, 90, 99)] == [6, 36, 368]
    assert percentile_ci(range(5), 50) is None
    value, low, high = percentile_ci(range(1, 101), 90)
    assert low <= value <= high and (low, high) != (1, 100)


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("fail=status,fail_status=503", "HTTP 503: scripted failure"),
        ("fail=malformed,fail_after=2", "malformed SSE event"),
        ("fail=drop,fail_after=3", "server closed the stream mid-response"),
        ("ttft_ms=5000", "timed out after 0.5 s"),
    ],
)
def test_bad_responses_are_recorded_as_errors(script: str, needle: str) -> None:
    with reference_server("--scripted", f"ttft_ms=5,itl_ms=1,output_tokens=4,{script}") as (url, _):
        load, _specs = run_point(_params(url, requests=2, request_timeout_s=0.5, warmup_requests=0), seed=0)
    assert len(load.results) == 2 and all(needle in (r.error or "") for r in load.results), load.results


def test_errors_count_as_slo_misses(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Every 2nd request gets HTTP 500: 6 of 12 succeed, all within the SLO, so attainment is 50 %."""
    store = tmp_path / "s.db"
    with reference_server("--scripted", "ttft_ms=5,itl_ms=1,output_tokens=4,fail=status,fail_every=2") as (
        url,
        _,
    ):
        code, out, err = cli(
            capsys,
            "bench",
            "serve",
            "--endpoint",
            url,
            "--model",
            MODEL,
            "--requests",
            "12",
            "--warmup",
            "0",
            "--slo-ttft-ms",
            "1000",
            "--store",
            str(store),
            "--json",
        )
    assert code == 0, err
    [run] = json.loads(out)["runs"]
    assert (run["completed"], run["failed"]) == (6, 6)
    assert run["metrics"]["slo_attainment_pct"]["value"] == 50.0
    assert run["metrics"]["error_rate_pct"]["value"] == 50.0


def test_bench_serve_sweep_against_the_real_model_lands_in_the_store(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Real mode (random-weight gpt-tiny on CPU): a concurrency sweep 1, 2 stores one run per point with
    the server's token counts (16 prompt words = 16 tokens; exactly 8 generated)."""
    store = tmp_path / "s.db"
    with reference_server() as (url, _):
        code, out, err = cli(
            capsys,
            "bench",
            "serve",
            "--endpoint",
            url,
            "--model",
            MODEL,
            "--concurrency",
            "1,2",
            "--requests",
            "6",
            "--input-tokens",
            "16",
            "--output-tokens",
            "8",
            "--slo-ttft-ms",
            "5000",
            "--slo-tpot-ms",
            "1000",
            "--store",
            str(store),
        )
    assert code == 0, err
    records = Store(str(store), create=False).query(RunFilter(kind="serve"))
    assert sorted(r.config["facts"]["load"] for r in records) == ["c1", "c2"]
    for r in records:
        facts = r.config["facts"]
        assert r.status.value == "ok" and r.suite == "serve"
        assert facts["server_version"].startswith("capplan-reference") and facts["model"] == MODEL
        assert r.samples["input_tokens"] == [16.0] * 6 and r.samples["output_tokens"] == [8.0] * 6
        assert {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "goodput_rps", "output_tokens_per_s"} <= {
            m.name for m in r.metrics
        }
        assert len({r.tags["sweep_id"] for r in records}) == 1


def test_bench_serve_refuses_bad_input_in_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "s.db"
    dead = f"http://127.0.0.1:{free_port()}/v1"
    for args, needle in [
        (["--endpoint", dead], "--endpoint: cannot reach"),
        (["--endpoint", dead, "--rate", "fast"], "--rate: 'fast' is not a positive number"),
        (["--endpoint", "ftp://x/v1"], "--endpoint: "),
        (["--endpoint", dead, "--input-tokens", "uniform:9:2"], "--input-tokens: "),
    ]:
        code, _out, err = cli(capsys, "bench", "serve", "--model", MODEL, "--store", str(store), *args)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not store.exists()  # refused before the store was touched


def test_all_requests_failing_is_stored_as_failed_and_exits_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "s.db"
    with reference_server("--scripted", "fail=status,fail_status=429") as (url, _):
        code, _out, err = cli(
            capsys,
            "bench",
            "serve",
            "--endpoint",
            url,
            "--model",
            MODEL,
            "--requests",
            "3",
            "--warmup",
            "0",
            "--store",
            str(store),
        )
        wrong_model = cli(
            capsys, "bench", "serve", "--endpoint", url, "--model", "nope", "--store", str(store)
        )
    assert code == 2 and "all 3 requests failed: HTTP 429" in err
    [record] = Store(str(store), create=False).query(RunFilter(kind="serve"))
    assert record.status.value == "failed" and not record.metrics
    assert wrong_model[0] == 2 and "--model: 'nope' is not served" in wrong_model[2]


def test_search_with_no_passing_rate_stores_no_zero(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """TTFT is always 40 ms, the SLO 10 ms: no rate passes. The search says so and stores no 0 rate."""
    store = tmp_path / "s.db"
    with reference_server("--scripted", "ttft_ms=40,itl_ms=1,output_tokens=2") as (url, _):
        code, _out, err = cli(
            capsys,
            "bench",
            "serve",
            "--endpoint",
            url,
            "--model",
            MODEL,
            "--search",
            "--search-max-runs",
            "3",
            "--slo-ttft-ms",
            "10",
            "--requests",
            "4",
            "--warmup",
            "0",
            "--store",
            str(store),
        )
    assert code == 2 and "no rate met the SLOs" in err
    records = Store(str(store), create=False).query(RunFilter(kind="serve"))
    summary = [r for r in records if r.tags.get("search") == "result"]
    assert len(summary) == 1 and summary[0].status.value == "failed"
    assert not any(r.metric("max_rate_meeting_slo_rps") for r in records)
    assert all(r.metric("slo_attainment_pct").value == 0.0 for r in records if r.status.value == "ok")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_reference_server_stops_on_signal_and_frees_its_port(sig: signal.Signals) -> None:
    with reference_server("--scripted", "ttft_ms=1") as (url, proc):
        proc.send_signal(sig)
        assert proc.wait(5) == 0  # stopped, port freed, within 5 s (as a supervisor expects)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url.removesuffix("/v1") + "/health", timeout=2.0)


def test_ctrl_c_keeps_what_was_measured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGINT during a 60-second point: the CLI stops sending, stores the requests that finished (marked
    interrupted) and exits 130."""
    import os
    import select
    import subprocess
    import sys
    import time

    from refserver import ROOT

    store = tmp_path / "s.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with reference_server("--scripted", "ttft_ms=5,itl_ms=1,output_tokens=2") as (url, _):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "capplan",
                "bench",
                "serve",
                "--endpoint",
                url,
                "--model",
                MODEL,
                "--rate",
                "5",
                "--requests",
                "300",
                "--store",
                str(store),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline, seen = time.monotonic() + 90, ""
            while "Ctrl-C stops" not in seen:
                assert time.monotonic() < deadline and proc.poll() is None, seen
                ready, _, _ = select.select([proc.stderr], [], [], 1.0)
                if ready:
                    seen += proc.stderr.readline()
            time.sleep(2.0)
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    [record] = Store(str(store), create=False).query(RunFilter(kind="serve"))
    facts = record.config["facts"]
    assert record.tags.get("interrupted") == "true" and facts["interrupted"] is True
    assert 0 < facts["completed_requests"] < 300


def test_serve_kind_runs_from_a_suite_in_its_own_subprocess(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The serve kind is a registered kind like any other: a suite entry runs it through the runner."""
    store = tmp_path / "s.db"
    with reference_server("--scripted", "ttft_ms=5,itl_ms=1,output_tokens=3") as (url, _):
        suite = tmp_path / "serve.yaml"
        suite.write_text(
            "suite: serve-check\nbenchmarks:\n"
            f"  - {{name: serve-c2, kind: serve, params: {{endpoint: '{url}', model: {MODEL}, "
            "mode: concurrency, concurrency: 2, requests: 8, input_tokens: '5', output_tokens: '3'}}\n"
        )
        code, _out, err = cli(capsys, "bench", "run", "--suite", str(suite), "--store", str(store))
    assert code == 0, err
    [record] = Store(str(store), create=False).query(RunFilter(kind="serve"))
    assert record.status.value == "ok" and record.config["kind_meta"]["task"] == "serve"
    assert record.samples["output_tokens"] == [3.0] * 8 and record.config["facts"]["load"] == "c2"
