"""The store: SQLAlchemy 2 tables, engine and queries (SQLite by default, PostgreSQL too)."""
