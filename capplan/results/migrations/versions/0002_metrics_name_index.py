"""Index metrics by name: dashboards and comparisons select one metric across many runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_metrics_name", "metrics", ["name"])


def downgrade() -> None:
    op.drop_index("ix_metrics_name", table_name="metrics")
