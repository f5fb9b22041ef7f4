"""Benchmark kinds. Each module holds one kind; capplan.harness.registry maps names to them."""
