"""The file-to-link bot's files (one per file_unique_id) and their owners' links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "filelink_files",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.String(), nullable=False),
        sa.Column("file_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("mime", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_filelink_files"),
        sa.UniqueConstraint("unique_id", name="uq_filelink_files_unique_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "filelink_links",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("file_id", _SERIAL, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["filelink_files.id"],
            name="fk_filelink_links_file_id_filelink_files",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_filelink_links"),
        sa.UniqueConstraint("file_id", "owner_id", name="uq_filelink_links_file_id_owner_id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_filelink_links_owner_id_revoked_id", "filelink_links", ["owner_id", "revoked", "id"]
    )


def downgrade() -> None:
    op.drop_table("filelink_links")
    op.drop_table("filelink_files")
