"""Initial schema: mirrors recsys/db/tables.py as first written.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)
PSEUDONYM = sa.String(64)


def _big_pk(name: str) -> sa.Column:
    # INTEGER on SQLite makes the column an alias of the rowid (auto-increment, fast inserts).
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _file_fk(nullable: bool = True) -> sa.Column:
    return sa.Column(
        "file_id", sa.Integer(), sa.ForeignKey("ingested_files.file_id"), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "ingested_files",
        sa.Column("file_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("file_name", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_accepted", sa.BigInteger(), nullable=False),
        sa.Column("rows_quarantined", sa.BigInteger(), nullable=False),
        sa.Column("ingested_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("kind", "sha256", name="uq_ingested_files_kind_sha256"),
    )
    op.create_table(
        "loans",
        _big_pk("loan_id"),
        sa.Column("reader_id", PSEUDONYM, nullable=False),
        sa.Column("book_id", ID, nullable=False),
        sa.Column("borrowed_at", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("library_id", ID, nullable=True),
        sa.Column("copy_id", ID, nullable=True),
        _file_fk(),
        sa.UniqueConstraint("reader_id", "book_id", "borrowed_at", "event", name="uq_loans_event"),
    )
    op.create_index("ix_loans_borrowed_at", "loans", ["borrowed_at"])
    op.create_index("ix_loans_book_id", "loans", ["book_id"])
    op.create_table(
        "views",
        _big_pk("view_id"),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("book_id", ID, nullable=False),
        sa.Column("viewed_at", sa.BigInteger(), nullable=False),
        sa.Column("reader_id", PSEUDONYM, nullable=True),
        _file_fk(),
        sa.UniqueConstraint("session_id", "book_id", "viewed_at", name="uq_views_event"),
    )
    op.create_index("ix_views_viewed_at", "views", ["viewed_at"])
    op.create_index("ix_views_reader_id", "views", ["reader_id"])
    op.create_table(
        "catalog",
        sa.Column("book_id", ID, primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("subjects", sa.Text(), nullable=True),
        sa.Column("isbn", sa.String(256), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("audience", sa.String(16), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("work_id", ID, nullable=True),
        sa.Column("format", sa.String(32), nullable=True),
        _file_fk(),
    )
    op.create_index("ix_catalog_work_id", "catalog", ["work_id"])
    op.create_table(
        "holdings",
        sa.Column("book_id", ID, primary_key=True),
        sa.Column("library_id", ID, primary_key=True),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        _file_fk(),
    )
    op.create_table(
        "quarantine",
        _big_pk("quarantine_id"),
        _file_fk(nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("line_number", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_quarantine_file_id", "quarantine", ["file_id"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
    )
    op.create_table(
        "consent",
        sa.Column("reader_id", PSEUDONYM, primary_key=True),
        sa.Column("consented", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "privacy_events",
        sa.Column("event_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "privacy_events",
        "consent",
        "runs",
        "quarantine",
        "holdings",
        "catalog",
        "views",
        "loans",
        "ingested_files",
    ):
        op.drop_table(table)
