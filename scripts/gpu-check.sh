#!/usr/bin/env bash
# scripts/gpu-check.sh: one command that checks capplan on a machine with an NVIDIA GPU and writes ONE
# summary file (Markdown) with the figures and every failure. Made for GPU machines that are lent for
# minutes and reach no package registry:
#   - installs nothing over the machine's torch: capplan runs from this source tree (PYTHONPATH), and
#     the pure-Python dependencies the machine lacks come from the wheels scripts/gpu-wheels.sh
#     downloaded beforehand (gpu-wheels/), installed with --no-deps into a private folder;
#   - needs no PostgreSQL, Chromium or psycopg;
#   - stays within GPU_CHECK_BUDGET_S (default 465 s, under 8 minutes): a step that no longer fits is
#     recorded as "not run: time budget spent".
# Steps: wheels, imports, `capplan hw`, the GPU suite's validation, the raw-API probe
# (benchmarks/gpu_probe.py), the quick suite on `cuda` and on `cuda:0`, the 18-entry GPU suite,
# `--device cuda:1` (skipped on a 1-GPU host), pytest collection and `pytest -m gpu`, the summary.
# Without CUDA every GPU step reports "skipped: no CUDA" and the rest still runs (the plumbing);
# GPU_CHECK_FORCE=1 runs the GPU steps anyway (their benchmarks and tests then record skips), which
# exercises the summary's whole data path on a CPU machine.
#
#   scripts/gpu-wheels.sh && bash scripts/gpu-check.sh
#   PYTHON=python3.12 GPU_CHECK_SUMMARY=/tmp/summary.md bash scripts/gpu-check.sh
# Exit status: 0 when nothing failed, 1 when a step, a benchmark or a test failed (see the summary).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The machine's Python with its torch: $PYTHON, else python3, else a checkout's .venv (make setup).
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3 "$ROOT/.venv/bin/python"; do
    if "$candidate" -c 'import torch' 2>/dev/null; then PY=$candidate; break; fi
  done
  PY=${PY:-python3}
fi
WHEELS=${GPU_WHEELS_DIR:-$ROOT/gpu-wheels}
SUMMARY=${GPU_CHECK_SUMMARY:-$ROOT/gpu-check-summary.md}
BUDGET_S=${GPU_CHECK_BUDGET_S:-465}
SUMMARY_RESERVE_S=15   # kept back for writing the summary
START_S=$(date +%s)
DEADLINE_S=$((START_S + BUDGET_S))
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/capplan-gpu-check.XXXXXX")
trap '[ -n "${GPU_CHECK_KEEP:-}" ] || rm -rf "$WORK"' EXIT

cd "$ROOT" || exit 1
export PYTHONPATH="$ROOT:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
export CAPPLAN_CACHE_DIR="$WORK/cache"   # ONNX exports and FLOP counts: fresh, and gone afterwards
unset CAPPLAN_STORE
: > "$WORK/steps.tsv"

# step NAME CAP_S EXPECT [--stdout FILE] CMD...: run CMD with a timeout of min(CAP_S, budget left),
# its output in WORK/NAME.log (stdout in FILE when given), one line in steps.tsv.
step() {
  local name=$1 cap=$2 expect=$3 out
  shift 3
  out="$WORK/$name.log"
  if [ "${1:-}" = "--stdout" ]; then out=$2; shift 2; fi
  local left=$((DEADLINE_S - SUMMARY_RESERVE_S - $(date +%s)))
  if [ "$left" -lt 5 ]; then
    record "$name" "not run: time budget spent" "-" 0 "$expect"
    return
  fi
  local limit=$((cap < left ? cap : left)) t0 rc status
  t0=$(date +%s)
  if [ "$out" = "$WORK/$name.log" ]; then
    timeout --kill-after=10 "$limit" "$@" > "$out" 2>&1
  else
    timeout --kill-after=10 "$limit" "$@" > "$out" 2> "$WORK/$name.log"
  fi
  rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status="timed out after ${limit} s" ;;
    *) status="failed" ;;
  esac
  record "$name" "$status" "$rc" $(($(date +%s) - t0)) "$expect"
}

record() {  # NAME STATUS RC SECONDS EXPECT
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$WORK/$1.log" "$5" >> "$WORK/steps.tsv"
  echo "gpu-check: $1: $2 (${4} s)"
}

# gpu_step: as step, or "skipped: no CUDA" on a machine without a CUDA device.
gpu_step() {
  if [ "$HAVE_CUDA" = 1 ]; then step "$@"; else record "$1" "skipped: no CUDA" "-" 0 "$3"; fi
}

bench() {  # NAME CAP EXPECT capplan-bench-run-args...
  local name=$1 cap=$2 expect=$3
  shift 3
  gpu_step "$name" "$cap" "$expect" --stdout "$WORK/$name.json" \
    "$PY" -m capplan bench run --store "$WORK/$name.db" --json "$@"
}

# 1. the carried wheels, into a private folder (never over the machine's packages)
step wheels 120 "carried wheels installed" "$PY" -m pip install --quiet --disable-pip-version-check \
  --no-index --no-deps --find-links "$WHEELS" --target "$WORK/site" -r "$WHEELS/requirements.txt"
if [ -e "$WORK/site/torch" ]; then
  record wheels-torch "failed: torch was installed from the wheels folder" 1 0 "the machine's torch only"
fi
step imports 60 "capplan imports; torch is the machine's" "$PY" -c "
import sys, torch, capplan, capplan.cli, capplan.harness.runner, capplan.harness.launch
print(sys.version); print('torch', torch.__version__, torch.__file__, 'cuda', torch.version.cuda)
print('capplan', capplan.__file__); assert capplan.__file__.startswith('$ROOT'), 'capplan not from the tree'
assert not torch.__file__.startswith('$WORK/site'), 'torch came from the carried wheels'"
HAVE_CUDA=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
[ -n "${GPU_CHECK_FORCE:-}" ] && HAVE_CUDA=1

# 2. inventory and the suite file (plumbing: these run with or without a GPU)
step hw 60 "inventory with NVML GPUs and CUDA devices" --stdout "$WORK/hw.json" "$PY" -m capplan hw --json
step gpu-suite-valid 60 "18 entries load" "$PY" -c "
from capplan.harness.suite import load_suite
n = len(load_suite('gpu').benchmarks); print(n, 'entries'); assert n == 18"

# 3. what the raw APIs say (the probe reports skipped itself without CUDA)
if [ "$HAVE_CUDA" = 1 ]; then
  step probe 90 "bf16 GEMM near the catalog peak; NVML UUIDs found; energy ratio ~1" \
    "$PY" benchmarks/gpu_probe.py --out "$WORK/probe.json"
else
  step probe-plumbing 60 "runs its no-CUDA path" "$PY" benchmarks/gpu_probe.py --out "$WORK/probe.json"
  record probe "skipped: no CUDA" "-" 0 "bf16 GEMM near the catalog peak"
fi

# 4. the harness on the GPU
bench quick-cuda 100 "ok, or skipped with a reason (ORT without onnxruntime-gpu, 2-rank collective)" \
  --suite quick --device cuda
bench quick-cuda0 100 "as quick-cuda" --suite quick --device cuda:0
bench gpu-suite 200 "every kind and dtype ok (ORT skipped without onnxruntime-gpu)" --suite gpu
bench cuda1 40 "skipped on a 1-GPU host (ok with 2+ GPUs)" \
  --suite quick --only gemm-fp32-1024 --only dispatch-add --device cuda:1

# 5. the gpu-marked tests (collection runs everywhere: it proves the tests import without psycopg)
TEST_FILES=$(grep -l "pytest.mark.gpu" tests/test_*.py | tr '\n' ' ')
# shellcheck disable=SC2086  # one word per test file
step pytest-collect 60 "gpu tests collect without PostgreSQL/psycopg" \
  "$PY" -m pytest -p no:cacheprovider -m gpu --collect-only -q $TEST_FILES
# shellcheck disable=SC2086
gpu_step pytest-gpu 240 "every gpu test passes (ORT ones skip without onnxruntime-gpu)" \
  "$PY" -m pytest -p no:cacheprovider -m gpu -q -rs --junitxml "$WORK/pytest.xml" $TEST_FILES

# 6. one summary file
"$PY" benchmarks/gpu_summary.py --work "$WORK" --out "$SUMMARY" --started "$STARTED"
echo "gpu-check: $(($(date +%s) - START_S)) s in all"
grep -q '^## Failures (0)$' "$SUMMARY"
