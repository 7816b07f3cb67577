"""Readers' voice: feedback on books, exclusions from what feeds their lists, reader categories.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
PSEUDONYM = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "reader_feedback",
        sa.Column("reader_id", PSEUDONYM, primary_key=True),
        sa.Column("book_id", ID, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("given_at", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("ingested_files.file_id"), nullable=True),
    )
    op.create_index("ix_reader_feedback_given_at", "reader_feedback", ["given_at"])
    op.create_table(
        "reader_exclusions",
        sa.Column("reader_id", PSEUDONYM, primary_key=True),
        sa.Column("book_id", ID, primary_key=True),
        sa.Column("excluded_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "reader_categories",
        sa.Column("reader_id", PSEUDONYM, primary_key=True),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reader_categories")
    op.drop_table("reader_exclusions")
    op.drop_index("ix_reader_feedback_given_at", table_name="reader_feedback")
    op.drop_table("reader_feedback")
