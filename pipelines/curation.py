"""`recsys curation ...` and `recsys reading-list ...`: librarians' rules and reading lists.

Thin wiring of `recsys.curation.manage`: every change records who made it (`--by`, the login
name by default) and why (`--reason`), and a running service applies it within
`RECSYS_CURATION_POLL_SECONDS` without retraining.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from recsys.config import Settings
from recsys.curation import manage
from recsys.curation.rules import RULE_KINDS
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.exceptions import InputFormatError
from recsys.lists.render import write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    curation = subparsers.add_parser(
        "curation", help="librarians' rules: pin, boost, bury, suppress, never pair, staff pick"
    )
    commands = curation.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = commands.add_parser("add", help="make a rule (it applies to every list at once)")
    add.add_argument("kind", choices=RULE_KINDS)
    add.add_argument("book_id", help="the book the rule is about")
    add.add_argument(
        "--anchor", help="pin: the book whose per-book list holds it; never_pair: the other book"
    )
    add.add_argument("--position", type=int, help="pin, staff_pick: the slot, 1 = top")
    add.add_argument("--factor", type=float, help="boost (> 1) or bury (between 0 and 1)")
    add.add_argument("--label", help="staff_pick: the label shown beside it")
    add.add_argument("--library", help="only lists asked for this branch")
    add.add_argument("--audience", help="only lists asked for this audience")
    add.add_argument("--starts", help="ISO 8601 date or datetime (default: now)")
    add.add_argument("--expires", help="ISO 8601 date or datetime (default: never)")
    _who_and_why(add)
    add.set_defaults(handler=run_add)

    listing = commands.add_parser("list", help="the rules in force (with --all, every rule)")
    listing.add_argument("--all", action="store_true", help="also removed and expired rules")
    listing.set_defaults(handler=run_list)

    remove = commands.add_parser("remove", help="end a rule now (it stays in the audit trail)")
    remove.add_argument("rule_id", type=int)
    _who_and_why(remove)
    remove.set_defaults(handler=run_remove)

    bulk = commands.add_parser("import", help="make the rules of a CSV file (all or none)")
    bulk.add_argument("file", type=Path, help=f"CSV with columns {', '.join(manage.RULE_COLUMNS)}")
    bulk.add_argument("--by", default=_login(), help="who makes them (default: your login)")
    bulk.set_defaults(handler=run_import)

    export = commands.add_parser("export", help="the rules as CSV (standard output or --out)")
    export.add_argument("--all", action="store_true", help="also removed rules")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.set_defaults(handler=run_export)

    reading = subparsers.add_parser("reading-list", help="publish and withdraw reading lists")
    actions = reading.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = actions.add_parser("publish", help="publish or replace a reading list")
    publish.add_argument("list_id", help="short id for URLs: lowercase letters, digits, hyphens")
    publish.add_argument("--title", required=True)
    publish.add_argument("--description")
    publish.add_argument("--audience")
    publish.add_argument("--library")
    publish.add_argument(
        "--books", type=Path, required=True, help="CSV with book_id and an optional note column"
    )
    publish.add_argument("--by", default=_login(), help="who publishes it (default: your login)")
    publish.set_defaults(handler=run_publish_list)
    shown = actions.add_parser("list", help="the published reading lists")
    shown.set_defaults(handler=run_show_lists)
    withdraw = actions.add_parser("withdraw", help="withdraw a reading list")
    withdraw.add_argument("list_id")
    withdraw.set_defaults(handler=run_withdraw_list)


def _who_and_why(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    parser.add_argument("--by", default=_login(), help="who (default: your login)")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


def _engine(settings: Settings) -> Engine:
    engine = make_engine(settings)
    upgrade(engine)
    return engine


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    rule = manage.add_rule(
        _engine(settings),
        kind=args.kind,
        book_id=args.book_id,
        anchor_id=args.anchor,
        position=args.position,
        factor=args.factor,
        label=args.label,
        library_id=args.library,
        audience=args.audience,
        starts_at=manage.parse_when("--starts", args.starts),
        expires_at=manage.parse_when("--expires", args.expires),
        created_by=args.by,
        reason=args.reason,
    )
    print(f"rule {rule.id} made: {rule.summary()}")
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    found = manage.rules(_engine(settings), include_removed=args.all)
    for rule in found:
        print(f"{rule.id:>5}  {rule.summary()}  (by {rule.created_by}: {rule.reason})")
    print(f"{len(found)} rule(s)", file=sys.stderr)
    return 0


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    manage.remove_rule(_engine(settings), args.rule_id, removed_by=args.by, reason=args.reason)
    print(f"rule {args.rule_id} removed")
    return 0


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    frame = _read_csv(args.file)
    ids = manage.import_rules(_engine(settings), frame, created_by=args.by)
    print(f"{len(ids)} rule(s) made from {args.file}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    frame = manage.export_rules(_engine(settings), include_removed=args.all)
    write_csv(frame, args.out if args.out is not None else sys.stdout)
    return 0


def run_publish_list(args: argparse.Namespace, settings: Settings) -> int:
    frame = _read_csv(args.books)
    if "book_id" not in frame.columns:
        raise InputFormatError(f"{args.books} has no book_id column")
    notes = frame["note"] if "note" in frame.columns else pd.Series([None] * len(frame))
    books = [
        (str(book).strip(), None if pd.isna(note) else str(note))
        for book, note in zip(frame["book_id"], notes, strict=True)
    ]
    manage.save_reading_list(
        _engine(settings),
        list_id=args.list_id,
        title=args.title,
        description=args.description,
        audience=args.audience,
        library_id=args.library,
        books=books,
        created_by=args.by,
    )
    print(f"reading list {args.list_id!r} published with {len(books)} books")
    return 0


def run_show_lists(args: argparse.Namespace, settings: Settings) -> int:
    for found in manage.reading_lists(_engine(settings)):
        where = ", ".join(x for x in (found.library_id, found.audience) if x) or "everyone"
        print(f"{found.list_id}  {found.title!r}  {len(found.books)} books  ({where})")
    return 0


def run_withdraw_list(args: argparse.Namespace, settings: Settings) -> int:
    manage.remove_reading_list(_engine(settings), args.list_id)
    print(f"reading list {args.list_id!r} withdrawn")
    return 0


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InputFormatError(f"cannot read {path} as CSV: {error}") from None
