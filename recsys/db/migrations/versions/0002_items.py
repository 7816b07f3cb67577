"""Items: which record each copy belongs to, so item-level loan exports (Koha itemnumber,
Evergreen copies, FOLIO items) can be mapped to books at ingest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-08-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("copy_id", ID, primary_key=True),
        sa.Column("book_id", ID, nullable=False),
        sa.Column("library_id", ID, nullable=True),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("ingested_files.file_id"), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("items")
