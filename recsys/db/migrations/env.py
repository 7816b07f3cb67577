"""Alembic environment, configured in code (no alembic.ini).

`recsys.db.schema.upgrade` passes an open connection in ``config.attributes["connection"]``;
without one, the engine comes from the recsys settings (so `alembic` can still run by hand).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from recsys.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from recsys.config import get_settings
    from recsys.db.engine import make_engine

    engine = make_engine(get_settings())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("recsys migrations run online only: use recsys.db.schema.upgrade(engine)")
run_migrations_online()
