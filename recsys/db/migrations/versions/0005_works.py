"""Works: each record's work evidence and derived work, and librarians' splits and merges.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "book_works",
        sa.Column("book_id", ID, primary_key=True),
        sa.Column("title_key", sa.Text(), nullable=False),
        sa.Column("main_title_key", sa.Text(), nullable=True),
        sa.Column("uniform_title_key", sa.Text(), nullable=True),
        sa.Column("author_key", sa.Text(), nullable=True),
        sa.Column("series_key", sa.Text(), nullable=True),
        sa.Column("identifiers", sa.Text(), nullable=True),
        sa.Column("work_key", ID, nullable=True),
    )
    op.create_table(
        "work_overrides",
        sa.Column("book_id", ID, primary_key=True),
        sa.Column("work_id", ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_work_overrides_work_id", "work_overrides", ["work_id"])


def downgrade() -> None:
    op.drop_index("ix_work_overrides_work_id", table_name="work_overrides")
    op.drop_table("work_overrides")
    op.drop_table("book_works")
