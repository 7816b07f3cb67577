"""Table definitions (SQLAlchemy Core). Alembic migrations in `recsys/db/migrations` mirror these.

Times are stored as Unix seconds (UTC, BIGINT): portable between SQLite and PostgreSQL and fast to
bulk-load. `reader_id` columns only ever hold pseudonyms (see `recsys.privacy`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from recsys.data.schemas import MAX_ID_LENGTH

metadata = MetaData()

ID = String(MAX_ID_LENGTH)
PSEUDONYM = String(64)

ingested_files = Table(
    "ingested_files",
    metadata,
    Column("file_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("file_name", String(512), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows_read", BigInteger, nullable=False, default=0),
    Column("rows_accepted", BigInteger, nullable=False, default=0),
    Column("rows_quarantined", BigInteger, nullable=False, default=0),
    Column("ingested_at", BigInteger, nullable=False),
    UniqueConstraint("kind", "sha256", name="uq_ingested_files_kind_sha256"),
)

loans = Table(
    "loans",
    metadata,
    Column("loan_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("reader_id", PSEUDONYM, nullable=False),
    Column("book_id", ID, nullable=False),
    Column("borrowed_at", BigInteger, nullable=False),
    Column("event", String(16), nullable=False),
    Column("library_id", ID, nullable=True),
    Column("copy_id", ID, nullable=True),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=True),
    UniqueConstraint("reader_id", "book_id", "borrowed_at", "event", name="uq_loans_event"),
    Index("ix_loans_borrowed_at", "borrowed_at"),
    Index("ix_loans_book_id", "book_id"),
)

views = Table(
    "views",
    metadata,
    Column("view_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("session_id", ID, nullable=False),
    Column("book_id", ID, nullable=False),
    Column("viewed_at", BigInteger, nullable=False),
    Column("reader_id", PSEUDONYM, nullable=True),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=True),
    UniqueConstraint("session_id", "book_id", "viewed_at", name="uq_views_event"),
    Index("ix_views_viewed_at", "viewed_at"),
    Index("ix_views_reader_id", "reader_id"),
)

catalog = Table(
    "catalog",
    metadata,
    Column("book_id", ID, primary_key=True),
    Column("title", Text, nullable=False),
    Column("author", Text, nullable=True),
    Column("subjects", Text, nullable=True),
    Column("isbn", String(256), nullable=True),
    Column("language", String(16), nullable=True),
    Column("audience", String(16), nullable=True),
    Column("year", Integer, nullable=True),
    Column("work_id", ID, nullable=True),
    Column("format", String(32), nullable=True),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=True),
    Index("ix_catalog_work_id", "work_id"),
)

holdings = Table(
    "holdings",
    metadata,
    Column("book_id", ID, primary_key=True),
    Column("library_id", ID, primary_key=True),
    Column("copies", Integer, nullable=False, default=1),
    Column("available", Integer, nullable=False, default=1),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=True),
)

#: Which record each copy (item) belongs to, from the ILS's items export; no reader data.
items = Table(
    "items",
    metadata,
    Column("copy_id", ID, primary_key=True),
    Column("book_id", ID, nullable=False),
    Column("library_id", ID, nullable=True),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=True),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("line_number", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_quarantine_file_id", "file_id"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("decision", String(32), nullable=True),
    Column("summary", Text, nullable=True),
)

consent = Table(
    "consent",
    metadata,
    Column("reader_id", PSEUDONYM, primary_key=True),
    Column("consented", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

privacy_events = Table(
    "privacy_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("count", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
)

# Librarians' curation: rules and reading lists are never deleted, only marked removed, so the
# tables are their audit trail; every change bumps `curation_state.version` in its transaction.
curation_rules = Table(
    "curation_rules",
    metadata,
    Column("rule_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("book_id", ID, nullable=False),
    Column("anchor_id", ID, nullable=True),
    Column("position", Integer, nullable=True),
    Column("factor", Float, nullable=True),
    Column("label", String(200), nullable=True),
    Column("library_id", ID, nullable=True),
    Column("audience", String(16), nullable=True),
    Column("starts_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("removed_at", BigInteger, nullable=True),
    Column("removed_by", String(64), nullable=True),
    Column("removal_reason", Text, nullable=True),
)

reading_lists = Table(
    "reading_lists",
    metadata,
    Column("list_id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("audience", String(16), nullable=True),
    Column("library_id", ID, nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("removed_at", BigInteger, nullable=True),
)

reading_list_books = Table(
    "reading_list_books",
    metadata,
    Column("list_id", String(64), ForeignKey("reading_lists.list_id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("book_id", ID, nullable=False),
    Column("note", Text, nullable=True),
)

curation_state = Table(
    "curation_state",
    metadata,
    Column("state_id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

pseudonym_key = Table(
    "pseudonym_key",
    metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
)

#: Each catalog record's work evidence (recsys.data.works) and the work derived from it; the
#: catalog row itself keeps the fields as received. Rewritten after every catalog ingest.
book_works = Table(
    "book_works",
    metadata,
    Column("book_id", ID, primary_key=True),
    Column("title_key", Text, nullable=False),
    Column("main_title_key", Text, nullable=True),
    Column("uniform_title_key", Text, nullable=True),
    Column("author_key", Text, nullable=True),
    Column("series_key", Text, nullable=True),
    Column("identifiers", Text, nullable=True),
    Column("work_key", ID, nullable=True),
)

#: Librarians' splits and merges (`recsys works`): they win over the catalog and the derived key.
work_overrides = Table(
    "work_overrides",
    metadata,
    Column("book_id", ID, primary_key=True),
    Column("work_id", ID, nullable=False),
    Column("action", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("note", Text, nullable=True),
    Index("ix_work_overrides_work_id", "work_id"),
)
