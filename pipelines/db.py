"""`recsys db-upgrade`: create the store's tables or migrate them to the newest revision."""

from __future__ import annotations

import argparse

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db-upgrade", help="create or migrate the database schema (safe to repeat)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"database {engine.url.render_as_string(hide_password=True)} is at the newest revision")
    return 0
