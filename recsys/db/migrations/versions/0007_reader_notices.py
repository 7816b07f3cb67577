"""PostgreSQL only: notices of changed readers, so the service may keep a reader's state
(consent, category, loans, feedback, exclusions) between requests (`recsys.db.reader_changes`).

A transaction that inserts, updates or deletes rows of a table the service reads per reader
(`loans`, `consent`, `reader_categories`, `reader_feedback`, `reader_exclusions`) sends, when it
commits, one notice per reader it touched on the channel ``recsys_readers:<schema>`` (the
payload is the reader's pseudonym); past `NAMED_READERS` readers (a bulk ingest, retention, a
key rotation) it sends one notice ``*`` instead and names no more, as does a TRUNCATE. The
service's workers listen on that channel and drop what they kept of those readers.

The triggers fire per row, because the ingest writes row by row (`executemany`); a transaction
counts its notices in a transaction-local setting, so once it has said ``*`` each further row
costs one comparison. A further table the service reads per reader on every request needs the
same triggers. SQLite has no notices: the service reads those rows on every request there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("loans", "consent", "reader_categories", "reader_feedback", "reader_exclusions")
ROW_FUNCTION = "recsys_reader_changed"
ALL_FUNCTION = "recsys_readers_truncated"
#: A transaction touching more readers than this sends one notice "*" instead of naming them.
NAMED_READERS = 100

_ROW_SQL = f"""
CREATE FUNCTION {ROW_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    channel text := left('recsys_readers:' || TG_TABLE_SCHEMA, 63);
    named integer := coalesce(nullif(current_setting('recsys.named_readers', true), ''), '0');
    last text := current_setting('recsys.last_reader', true);
    reader text;
BEGIN
    IF named > {NAMED_READERS} THEN
        RETURN NULL;
    END IF;
    FOREACH reader IN ARRAY ARRAY[
        CASE WHEN TG_OP <> 'DELETE' THEN NEW.reader_id END,
        CASE WHEN TG_OP <> 'INSERT' THEN OLD.reader_id END
    ] LOOP
        CONTINUE WHEN reader IS NULL OR reader IS NOT DISTINCT FROM last OR named > {NAMED_READERS};
        named := named + 1;
        last := reader;
        PERFORM pg_notify(channel, CASE WHEN named > {NAMED_READERS} THEN '*' ELSE reader END);
    END LOOP;
    PERFORM set_config('recsys.named_readers', named::text, true);
    PERFORM set_config('recsys.last_reader', last, true);
    RETURN NULL;
END
$body$
"""

_ALL_SQL = f"""
CREATE FUNCTION {ALL_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM pg_notify(left('recsys_readers:' || TG_TABLE_SCHEMA, 63), '*');
    RETURN NULL;
END
$body$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ROW_SQL)
    op.execute(_ALL_SQL)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {ROW_FUNCTION} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {ROW_FUNCTION}()"
        )
        op.execute(
            f"CREATE TRIGGER {ALL_FUNCTION} AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {ALL_FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {ROW_FUNCTION} ON {table}")
        op.execute(f"DROP TRIGGER {ALL_FUNCTION} ON {table}")
    op.execute(f"DROP FUNCTION {ROW_FUNCTION}()")
    op.execute(f"DROP FUNCTION {ALL_FUNCTION}()")
