"""Job workers' presence: who is alive, for which kinds, until when.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_workers",
        sa.Column("worker", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("alive_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("worker", "kind", name="pk_job_workers"),
    )


def downgrade() -> None:
    op.drop_table("job_workers")
