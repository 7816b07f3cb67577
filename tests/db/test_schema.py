"""The Alembic migrations build exactly the tables of recsys.db.tables, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from recsys.db.schema import alembic_config, upgrade
from recsys.db.tables import metadata


def test_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent_and_reaches_head(engine: Engine) -> None:
    upgrade(engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
