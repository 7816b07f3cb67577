"""Librarians' curation: rules, reading lists and the curation version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "curation_rules",
        sa.Column("rule_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("book_id", ID, nullable=False),
        sa.Column("anchor_id", ID, nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("factor", sa.Float(), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("library_id", ID, nullable=True),
        sa.Column("audience", sa.String(16), nullable=True),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("removed_at", sa.BigInteger(), nullable=True),
        sa.Column("removed_by", sa.String(64), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
    )
    op.create_table(
        "reading_lists",
        sa.Column("list_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("audience", sa.String(16), nullable=True),
        sa.Column("library_id", ID, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("removed_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "reading_list_books",
        sa.Column(
            "list_id", sa.String(64), sa.ForeignKey("reading_lists.list_id"), primary_key=True
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("book_id", ID, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_table(
        "curation_state",
        sa.Column("state_id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO curation_state (state_id, version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("curation_state")
    op.drop_table("reading_list_books")
    op.drop_table("reading_lists")
    op.drop_table("curation_rules")
