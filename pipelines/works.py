"""`recsys works ...`: check how catalog records are grouped into works, and correct it.

report    the largest works and the borderline decisions (optionally every row as CSV)
show      the records of one record's work
merge     make the works of two or more records one work
split     take records out of their work into one of their own
unset     forget the overrides of records (back to the catalog's or the derived work)
overrides list the librarians' overrides
regroup   derive the works of the stored catalog again (ingest does it after every catalog)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from recsys.config import Settings
from recsys.data.works_report import CHECK_ORDER
from recsys.db import works
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.display import readable

TOP = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("works", help="check and correct how records form works")
    commands = parser.add_subparsers(dest="works_command", required=True, metavar="ACTION")
    report = commands.add_parser("report", help="largest works and borderline decisions")
    report.add_argument("--top", type=_rows, default=TOP, help=f"rows per table (default {TOP})")
    report.add_argument("--out", type=Path, help="also write every row as CSV into this folder")
    report.set_defaults(handler=run_report)
    show = commands.add_parser("show", help="the records of a record's work")
    show.add_argument("book_id")
    show.set_defaults(handler=run_show)
    merge = commands.add_parser("merge", help="make the works of these records one work")
    merge.add_argument("book_ids", nargs="+", metavar="BOOK_ID", help="two or more records")
    split = commands.add_parser("split", help="take these records out into a work of their own")
    split.add_argument("book_ids", nargs="+", metavar="BOOK_ID")
    for action, handler in ((merge, run_merge), (split, run_split)):
        action.add_argument("--note", help="why (kept with the override)")
        action.set_defaults(handler=handler)
    unset = commands.add_parser("unset", help="forget the overrides of these records")
    unset.add_argument("book_ids", nargs="+", metavar="BOOK_ID")
    unset.set_defaults(handler=run_unset)
    commands.add_parser("overrides", help="list the overrides").set_defaults(handler=run_list)
    commands.add_parser("regroup", help="derive the works again").set_defaults(handler=run_regroup)


@contextmanager
def _store(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine:
        report = works.load_report(engine)
    print(report.summary.to_string())
    print(f"\nLargest works (top {args.top}):")
    print(_table(report.largest.drop(columns="book_ids").head(args.top)))
    for check in CHECK_ORDER:
        rows = report.borderline.loc[report.borderline["check"] == check]
        print(f"\n{check}: {len(rows)} (first {min(len(rows), args.top)})")
        print(_table(rows.drop(columns="check").head(args.top)))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        report.largest.to_csv(args.out / "works-largest.csv", index=False)
        report.borderline.to_csv(args.out / "works-borderline.csv", index=False)
        print(f"\nevery row: {args.out / 'works-largest.csv'}, {args.out / 'works-borderline.csv'}")
    return 0


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine:
        members = works.work_of(engine, book_id=args.book_id)
    print(_table(readable(members)))
    return 0


def run_merge(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine:
        work = works.merge_works(engine, book_ids=args.book_ids, note=args.note)
        members = works.work_of(engine, book_id=args.book_ids[0])
    print(f"merged into work {work}: {len(members)} records")
    print(_table(readable(members)))
    return 0


def run_split(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine:
        work = works.split_works(engine, book_ids=args.book_ids, note=args.note)
    print(f"{len(set(args.book_ids))} record(s) now form work {work}")
    return 0


def run_unset(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine:
        removed = works.remove_overrides(engine, book_ids=args.book_ids)
    print(f"{removed} override(s) removed")
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine:
        overrides = works.load_overrides(engine)
    print(_table(overrides) if len(overrides) else "no overrides")
    return 0


def run_regroup(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as engine, engine.begin() as connection:
        changed = works.regroup(connection)
    print(f"works derived again: {changed} records changed work")
    return 0


def _rows(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--top must be a positive number of rows; got {value}")
    return value


def _table(frame: pd.DataFrame) -> str:
    return frame.fillna("").to_string(index=False, max_colwidth=60) if len(frame) else "(none)"
