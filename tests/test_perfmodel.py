"""Projection: closed-form counts vs torch's flop counter and published sizes, roofline phases, memory fit,
calibrated bands, CPU records projected onto GPUs, leave-one-out validation, and the CLI."""

from __future__ import annotations

import json

import pytest

from capplan.catalog import load_catalog
from capplan.cli import main
from capplan.errors import UserError
from capplan.perfmodel import named_workload, project
from capplan.perfmodel.calibration import point_from_record
from capplan.perfmodel.memory import USABLE_MEMORY_FRACTION, memory_fit
from capplan.perfmodel.roofline import phase_times
from capplan.perfmodel.workloads import resnet, transformer
from capplan.results.schema import Metric, RunRecord
from capplan.results.store import Store


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog(user_dir=False)


def test_closed_forms_match_torch_flop_counter() -> None:
    """The closed forms count what torch.utils.flop_counter counts on the harness's own models."""
    from torch import Generator

    from capplan.workloads import bert, gpt
    from capplan.workloads import resnet as harness_resnet
    from capplan.workloads.flops import COUNT_BATCH, forward_flops, param_count

    cases = [
        (
            gpt.build("tiny"),
            transformer(
                "g",
                "gpt",
                layers=2,
                d_model=128,
                d_ff=512,
                vocab=1000,
                positions=512,
                seq_len=64,
                lm_head=True,
                source="test",
            ),
        ),
        (
            bert.build("tiny"),
            transformer(
                "b",
                "bert",
                layers=2,
                d_model=128,
                d_ff=512,
                vocab=1000,
                positions=512,
                seq_len=64,
                source="test",
            ),
        ),
        (
            harness_resnet.build("tiny"),
            resnet("r", blocks=(1, 1, 1, 1), stem=16, side=32, classes=10, source="test"),
        ),
    ]
    for workload, closed in cases:
        inputs = workload.make_inputs(COUNT_BATCH, Generator().manual_seed(0))
        measured = forward_flops(workload.model, inputs) / COUNT_BATCH
        assert closed.flops_per_sample == pytest.approx(measured, rel=0.01), workload.name
        # Closed forms skip biases and norms: a few percent of a tiny model, less of a real one.
        assert closed.param_count == pytest.approx(param_count(workload.model), rel=0.05), workload.name


@pytest.mark.parametrize(
    ("name", "params", "rel"),
    [
        ("bert-base", 110e6, 0.03),
        ("bert-large", 340e6, 0.03),
        ("gpt2", 124e6, 0.02),
        ("gpt2-medium", 355e6, 0.02),
        ("llama-7b", 6.74e9, 0.01),
        ("llama-70b", 68.98e9, 0.01),
        ("resnet50", 25.6e6, 0.01),
        ("resnet101", 44.5e6, 0.01),
    ],
)
def test_named_workloads_match_published_sizes(name: str, params: float, rel: float) -> None:
    """Parameter counts as the model papers / model cards publish them."""
    assert named_workload(name).param_count == pytest.approx(params, rel=rel)


def test_resnet50_flops_match_published_macs() -> None:
    """ResNet-50 v1.5 is ~4.1 GMACs per 224x224 image (torchvision model card): 8.2 GFLOPs."""
    assert named_workload("resnet50").flops_per_sample == pytest.approx(8.2e9, rel=0.01)


def test_decode_is_memory_bound_and_prefill_compute_bound(catalog) -> None:  # type: ignore[no-untyped-def]
    desc = named_workload("llama-7b", task="generate", dtype="bf16", batch=1, seq_len=1024)
    prefill, decode = phase_times(desc, catalog.accelerator("H100"))
    assert prefill.bound == "compute"
    assert decode.bound == "memory"
    # Training one step costs about 3 forward passes of FLOPs.
    train = phase_times(desc.model_copy(update={"task": "train"}), catalog.accelerator("H100"))[0]
    assert train.flops == pytest.approx(3 * prefill.flops)


def test_memory_fit_needs_several_devices_for_a_big_model(catalog) -> None:  # type: ignore[no-untyped-def]
    desc = named_workload("llama-70b", task="generate", dtype="bf16", batch=1, seq_len=1024)
    h100 = catalog.accelerator("H100")
    fit = memory_fit(desc, h100)
    assert fit.weights_bytes == pytest.approx(2 * desc.param_count)
    assert fit.min_devices >= 2
    usable = h100.memory_gib * 2**30 * USABLE_MEMORY_FRACTION
    assert (fit.min_devices - 1) * usable < fit.required_bytes <= fit.min_devices * usable
    too_few = project(desc, "H100", count=fit.min_devices - 1, catalog=catalog, points=[])
    assert not too_few.fits and too_few.throughput_per_s == 0 and "does not fit" in too_few.notes[0]
    enough = project(desc, "H100", count=fit.min_devices, catalog=catalog, points=[])
    assert enough.fits and enough.throughput_per_s > 0
    # Training keeps gradients and optimizer state too: more memory than inference.
    assert memory_fit(desc.model_copy(update={"task": "train"}), h100).required_bytes > fit.required_bytes


def cpu_record(model: str, size: str, flops: float, params: int, throughput: float) -> RunRecord:
    """A record laid out as the runner stores the harness's infer kind on this CPU: the spec's fields and
    ``params`` at the top of config, the kind's facts (setup_model) under ``facts``."""
    return RunRecord(
        benchmark=f"infer-{model}-{size}", kind="infer",
        config={"device": "cpu", "dtype": "fp32", "backend": "eager",
                "params": {"model": model, "size": size, "batches": [1, 8]},
                "facts": {"model": model, "size": size, "dtype": "fp32", "device": "cpu",
                          "seq_len": 128 if model == "bert" else None, "flops_per_sample": flops,
                          "train_flops_per_sample": 3 * flops, "param_count": params,
                          "activation_bytes_per_sample": 4e6, "batches": [1, 8]}},
        inventory={"cpu": {"model": "AMD EPYC"}},
        metrics=[Metric(name="throughput_samples_per_s", value=throughput, unit="samples/s")],
    )


@pytest.mark.parametrize(("model", "size", "flops", "params"), [
    ("bert", "base", 22.4e9, 109_000_000), ("resnet", "base", 8.18e9, 25_557_032),
])
def test_cpu_record_projects_onto_h100_and_l4_with_band_and_points(
    catalog,
    model: str,
    size: str,
    flops: float,  # type: ignore[no-untyped-def]
    params: int,
) -> None:
    record = cpu_record(model, size, flops, params, throughput=40.0)
    results = {acc: project(record, acc, dtype="bf16", catalog=catalog) for acc in ("H100", "L4")}
    for proj in results.values():
        assert proj.band_low < proj.throughput_per_s <= proj.band_high
        assert proj.latency_low_ms <= proj.latency_ms < proj.latency_high_ms
        assert proj.efficiency <= 1  # never beyond the roofline
        assert proj.calibration_points, "published MLPerf results calibrate bert and resnet"
        assert all(p.device_kind == "gpu" and p.family == model for p in proj.calibration_points)
        assert any("measured on CPU" in n for n in proj.notes)
        assert proj.throughput_unit == "samples/s" and proj.batch == 8
    assert results["H100"].throughput_per_s > results["L4"].throughput_per_s
    # Two H100s without sharding: two replicas, twice the throughput (linear-scaling assumption).
    two = project(record, "H100", count=2, dtype="bf16", catalog=catalog)
    assert two.replicas == 2 and two.throughput_per_s == pytest.approx(2 * results["H100"].throughput_per_s)


def test_local_gpu_record_becomes_a_calibration_point(catalog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A stored run on a catalog GPU (named by NVML in the inventory) calibrates projections onto that GPU."""
    record = RunRecord(
        benchmark="infer-resnet-base",
        kind="infer",
        config={
            "model": "resnet",
            "size": "base",
            "dtype": "fp16",
            "device": "cuda:0",
            "flops_per_sample": 8.18e9,
            "param_count": 25_557_032,
            "activation_bytes_per_sample": 40e6,
            "best_batch": 64,
        },
        inventory={"gpus": [{"name": "NVIDIA L4"}]},
        metrics=[Metric(name="throughput_samples_per_s", value=3000.0, unit="samples/s")],
    )
    point = point_from_record(record, catalog)
    assert point is not None and point.accelerator == "NVIDIA L4" and 0 < point.efficiency
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.add(record)
    proj = project("resnet50", "L4", dtype="fp16", batch=64, catalog=catalog, store=store)
    assert proj.calibration_tier == "same workload, same accelerator"
    # The published L4 point is int8; within the tier the fp16 point measured here is preferred.
    assert [p.run_id for p in proj.calibration_points] == [record.run_id]


def test_uncalibrated_projection_says_so(catalog) -> None:  # type: ignore[no-untyped-def]
    proj = project("gpt2", "MI300X", task="generate", dtype="bf16", catalog=catalog, points=[])
    assert proj.calibration_tier.startswith("uncalibrated")
    assert any("default efficiency" in n for n in proj.notes)
    assert proj.throughput_unit == "tokens/s" and proj.bound == "memory"


def test_bad_inputs_raise_user_errors(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match="workload 'bert-huge' is unknown.*bert-base"):
        project("bert-huge", "H100", catalog=catalog)
    with pytest.raises(UserError, match="no cited bf16 peak"):
        project("bert-base", "T4", dtype="bf16", catalog=catalog)
    with pytest.raises(UserError, match="needs a decoder"):
        project("bert-base", "H100", task="generate", catalog=catalog)
    with pytest.raises(UserError, match="--dtype: 'fp64' is not supported"):
        project("bert-base", "H100", dtype="fp64", catalog=catalog)


def test_cli_project_and_validate(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    store = ["--store", str(tmp_path / "r.db")]
    Store(str(tmp_path / "r.db")).close()  # project only reads: a named store must exist

    def cli(argv: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(argv + store)
        out = capsys.readouterr()
        return int(exc.value.code or 0), out.out, out.err

    code, out, _ = cli(["project", "validate"])
    assert code == 0 and "median absolute error" in out
    code, out, _ = cli(["project", "resnet50", "--to", "L4", "--dtype", "int8", "--batch", "32", "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["accelerator"] == "NVIDIA L4" and doc["calibration_points"]
    assert doc["band_low"] <= doc["throughput_per_s"] <= doc["band_high"]
    code, _, err = cli(["project", "resnet50", "--to", "H110"])
    assert code == 2 and "close matches" in err
    code, _, err = cli(["project", "resnet50"])
    assert code == 2 and "--to" in err


def test_micro_benchmark_records_are_not_workloads() -> None:
    """A membw run in fp64 (no model, no FLOP count) is not a projectable workload, not an error."""
    from capplan.perfmodel.workloads import describe_record

    config = {"dtype": "fp64", "params": {"ops": ["triad"]}, "facts": {"array_bytes": 134217728}}
    assert describe_record(config, "micro") is None
    assert describe_record(config, None) is None  # a kind that declares nothing describes no workload


def test_tensor_parallel_collectives_follow_the_ring_formula(catalog) -> None:  # type: ignore[no-untyped-def]
    """Megatron tensor parallelism all-reduces tokens x d_model 16-bit activations twice per layer; a
    ring moves 2 (tp - 1) / tp of the message each way; each collective also costs 10 us (assumed).
    llama2-70b decode at batch 64 over 2 H100s (NVLink 900 GB/s both ways, 450 each way)."""
    from capplan.perfmodel.interconnect import Parallelism

    desc = named_workload("llama2-70b", dtype="fp8", batch=64)
    decode = phase_times(desc, catalog.accelerator("H100"), parallel=Parallelism(tp=2))[1]
    per_collective = 10e-6 + 2 * (2 - 1) / 2 * 64 * 8192 * 2 / 450e9
    assert decode.comm_ms == pytest.approx(1e3 * 2 * 80 * per_collective)
    # Over PCIe Gen 4 (L40S has no NVLink): 32 GB/s each way, so collectives cost more.
    l40s = phase_times(desc, catalog.accelerator("L40S"), parallel=Parallelism(tp=2))[1]
    assert l40s.comm_ms == pytest.approx(1e3 * 2 * 80 * (10e-6 + 64 * 8192 * 2 / 32e9))
    # One device: no collectives. A replica over 16 devices spans two nodes: 2 pipeline stages of 8.
    assert phase_times(desc, catalog.accelerator("H100"))[1].comm_ms == 0
    assert Parallelism.for_devices(16) == Parallelism(tp=8, pp=2)
    assert Parallelism.for_devices(36) == Parallelism(tp=6, pp=6)


def test_max_concurrent_sequences_fills_memory_left_by_the_weights(catalog) -> None:  # type: ignore[no-untyped-def]
    """Usable memory (90%) less the fp8 weights and one prompt's activations, over 163,840 bytes of
    fp8 KV cache per token (80 layers x K,V x 8 heads x 128) x 806 tokens per sequence."""
    from capplan.perfmodel.memory import max_concurrent_sequences

    desc = named_workload("llama2-70b", dtype="fp8")
    h200 = catalog.accelerator("H200")
    free = 2 * 141 * 2**30 * 0.9 - desc.param_count - desc.live_elems_per_sample
    assert max_concurrent_sequences(desc, h200, 2, 806) == int(free // (806 * 163_840))
    assert max_concurrent_sequences(desc, catalog.accelerator("L4"), 1, 806) == 0  # weights alone do not fit


def test_training_projection_is_calibrated_on_published_tables(catalog) -> None:  # type: ignore[no-untyped-def]
    """Llama 3 70B pre-training, fp8, 64 x H100 at 8192 tokens: NVIDIA publishes 1602 (Megatron-Bridge 25.11)
    and 1664 (26.04.01) tokens/s per GPU, 1524 with NeMo 24.07. The projection, calibrated on those
    rows, lands inside their range; per device it is the same on 64 or 128 GPUs (data parallel)."""
    desc = named_workload("llama3-70b", task="train", dtype="fp8", seq_len=8192)
    proj = project(desc, "H100", count=64, catalog=catalog)
    tokens_per_gpu = proj.throughput_per_s * 8192 / 64
    assert 1524 <= tokens_per_gpu <= 1664
    assert proj.calibration_tier == "same workload, same accelerator" and proj.task == "train"
    double = project(desc, "H100", count=128, catalog=catalog)
    assert double.throughput_per_s == pytest.approx(2 * proj.throughput_per_s)
