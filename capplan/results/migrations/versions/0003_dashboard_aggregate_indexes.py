"""Index what the dashboard aggregates: suite/host/benchmark for the latest suite, the newest local
run, the imported count, and kinds.

The Overview and Benchmarks pages count, group and list distinct values in SQL
(capplan.results.aggregates); with these indexes those queries read index entries, never the
runs' record JSON.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# name -> columns; kept equal to the Index() definitions in capplan/results/store.py
INDEXES = {
    "ix_runs_suite_host_source_benchmark_started": [
        "suite",
        "host_fingerprint",
        "source",
        "benchmark",
        "started_utc",
    ],
    "ix_runs_source_started": ["source", "started_utc"],
    "ix_runs_kind": ["kind"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "runs", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="runs")
