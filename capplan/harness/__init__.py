"""Benchmark harness: suites, runner, timing, statistics and the benchmark kinds."""
