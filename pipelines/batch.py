"""`recsys recommend` and `recsys similar`: CSV lists from the published model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from recsys import artifacts
from recsys.artifacts import Bundle
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.erasure import latest_erasure
from recsys.exceptions import InputFormatError
from recsys.lists.batch import (
    recommend_group,
    recommend_readers,
    serve_for_batch,
    similar_for_books,
)
from recsys.lists.render import write_csv
from recsys.lists.served import ServedModel
from recsys.privacy import Pseudonymizer


def register(subparsers: argparse._SubParsersAction) -> None:
    recommend = subparsers.add_parser(
        "recommend",
        help="reader_id,rank,book_id,score,title,author,reason for each raw reader id in FILE",
    )
    recommend.add_argument(
        "--readers",
        type=Path,
        required=True,
        help="one raw reader id per line, as in the loan exports",
    )
    _common(recommend)
    recommend.set_defaults(handler=run_recommend)
    similar = subparsers.add_parser(
        "similar",
        help="book_id,rank,similar_book_id,score,title,author,reason for each book id in FILE",
    )
    similar.add_argument("--books", type=Path, required=True, help="one book id per line")
    _common(similar)
    similar.set_defaults(handler=run_similar)

    group = subparsers.add_parser(
        "recommend-group",
        help="rank,book_id,score,title,author,reason for a book club (none of it read them)",
    )
    group.add_argument("--readers", type=Path, help="the members' raw reader ids, one a line")
    group.add_argument("--past-reads", type=Path, help="book ids the group read, one a line")
    group.add_argument(
        "--min-copies", type=_positive, default=1, help="copies a branch must hold (default 1)"
    )
    group.add_argument("--library", help="the branch that lends the copies (default: any)")
    _common(group)
    group.set_defaults(handler=run_group)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=_positive, default=10, help="list length (default: 10)")
    parser.add_argument("--format", choices=["csv"], default="csv", help="output format")
    parser.add_argument("--out", type=Path, help="output file (default: standard output)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--k must be a positive integer; got {value}")
    return value


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputFormatError(f"cannot read ids from {path}: {error}") from error


def _write(frame: pd.DataFrame, out: Path | None) -> None:
    write_csv(frame, out if out is not None else sys.stdout)


def _published(settings: Settings, engine: Engine) -> tuple[Bundle, ServedModel]:
    """The published bundle (refused if it misses an erasure), ready to make lists."""
    bundle = artifacts.load_current(
        Path(settings.models_dir), latest_erasure=latest_erasure(engine)
    )
    return bundle, serve_for_batch(bundle, engine, settings)


def run_recommend(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        bundle, served = _published(settings, engine)
        frame = recommend_readers(
            served,
            engine,
            settings,
            Pseudonymizer(settings.pseudonym_key_bytes()),
            _lines(args.readers),
            k=args.k,
        )
    finally:
        engine.dispose()
    _write(frame, args.out)
    print(
        f"recommend: {frame['reader_id'].nunique()} readers, {len(frame)} rows "
        f"(model {bundle.run_id})",
        file=sys.stderr,
    )
    return 0


def run_similar(args: argparse.Namespace, settings: Settings) -> int:
    books = _lines(args.books)
    engine = make_engine(settings)
    try:
        bundle, served = _published(settings, engine)
        frame = similar_for_books(served, engine, books, k=args.k)
    finally:
        engine.dispose()
    _write(frame, args.out)
    print(
        f"similar: {frame['book_id'].nunique()} of {len(set(books))} books known, "
        f"{len(frame)} rows (model {bundle.run_id})",
        file=sys.stderr,
    )
    return 0


def run_group(args: argparse.Namespace, settings: Settings) -> int:
    if args.readers is None and args.past_reads is None:
        raise InputFormatError("give --readers (the members) or --past-reads, or both")
    members = _lines(args.readers) if args.readers is not None else []
    past = _lines(args.past_reads) if args.past_reads is not None else []
    engine = make_engine(settings)
    try:
        bundle, served = _published(settings, engine)
        frame, used = recommend_group(
            served,
            engine,
            settings,
            Pseudonymizer(settings.pseudonym_key_bytes()),
            members,
            past,
            k=args.k,
            min_copies=args.min_copies,
            library=args.library,
        )
    finally:
        engine.dispose()
    _write(frame, args.out)
    print(
        f"recommend-group: {len(frame)} books for {used} members' histories and "
        f"{len(set(past))} past reads (model {bundle.run_id})",
        file=sys.stderr,
    )
    return 0
