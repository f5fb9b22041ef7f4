"""Published training throughput (tokens/s per GPU) as calibration points for training projections.

``capplan/catalog/data/published_training.csv`` holds NVIDIA's NeMo 24.07 and Megatron-Bridge 25.11 /
26.04.01 performance tables for GPT-3 and Llama models on H100, B200, GB200 and GB300 (each row with its
source file, commit and date). A row becomes a point the way a measured run does: the model's closed
form at the table's sequence length, trained in the table's precision, on the table's GPU count; one
replica holds the model (weights, gradients, Adam state, one micro-batch of activations) on the fewest
devices that divide the count, and processes global batch x shards / count sequences per optimizer
step. Efficiency = measured / roofline, i.e. a model-FLOPs utilisation. Parallelism overheads beyond the
tensor/pipeline collectives of interconnect.py are what the efficiency absorbs.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any

from capplan.catalog import Catalog
from capplan.perfmodel.plan import plan_replica
from capplan.perfmodel.points import CalibrationPoint, make_point
from capplan.perfmodel.workloads import WorkloadDesc, named_workload

TRAINING_FILE = "published_training.csv"


def training_rows() -> list[dict[str, str]]:
    """The shipped training throughput rows, as written."""
    text = (resources.files("capplan.catalog") / "data" / TRAINING_FILE).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def training_desc(row: dict[str, Any], catalog: Catalog) -> WorkloadDesc:
    """The row's model in training at its sequence length, precision and per-replica batch."""
    count = int(row["accelerator_count"])
    desc = named_workload(row["workload"], task="train", dtype=row["dtype"], seq_len=int(row["seq_len"]))
    desc = desc.model_copy(update={"micro_batch": int(row["micro_batch"]), "batch": 1})
    shards = plan_replica(desc, catalog.accelerator(row["accelerator"]), count).shards
    per_replica = max(1, round(int(row["global_batch"]) * shards / count))
    return desc.model_copy(update={"batch": per_replica})


def training_points(catalog: Catalog) -> list[CalibrationPoint]:
    """One point per shipped row whose accelerator the catalog knows with a peak for its precision."""
    points = []
    for number, row in enumerate(training_rows(), start=1):
        acc = catalog.find_accelerator(row["accelerator"])
        if acc is None:
            continue
        desc = training_desc(row, catalog)
        count, seq = int(row["accelerator_count"]), int(row["seq_len"])
        sequences_per_s = float(row["tokens_per_s_per_gpu"]) * count / seq
        point = make_point(
            run_id=f"published-training-{number}",
            origin=(
                f"{row['model']} {row['stage']} on {count} x {row['accelerator_published']} "
                f"({row['precision']}), {row['source']}"
            ),
            benchmark=f"training-{row['workload']}",
            desc=desc,
            acc=acc,
            count=count,
            scenario=None,
            system=f"{row['source']}|{row['system']}|{row['model']}|{count}|{row['precision']}",
            measured_total=sequences_per_s,
            unit="samples/s",
            source_date=row["source_date"],
        )
        if point is not None:
            points.append(point)
    return points
