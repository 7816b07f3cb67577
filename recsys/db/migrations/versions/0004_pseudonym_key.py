"""The store remembers which pseudonym key chain it is keyed with; consent times are never later
than when they were recorded.

Adds `pseudonym_key` (one row: a fingerprint of the key chain, never the key; see
`recsys.store_key`) and sets consent answers dated in the future to the time of this migration,
so that an answer with a future date cannot outrank a later objection (see `recsys.consent`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pseudonym_key",
        sa.Column("key_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    )
    consent = sa.table("consent", sa.column("updated_at", sa.BigInteger()))
    now = int(time.time())
    op.execute(consent.update().where(consent.c.updated_at > now).values(updated_at=now))


def downgrade() -> None:
    op.drop_table("pseudonym_key")
