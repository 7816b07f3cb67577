"""`recsys ingest KIND PATH`: validate, pseudonymize and store one export file, print a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.config import Settings
from recsys.data.readers import parse_column_map
from recsys.data.schemas import KINDS
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.ingest import ingest_file
from recsys.integrations.presets import PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="ingest a loans, views, catalog, holdings or items export (CSV, .csv.gz; MARC for "
        "catalog; a library system's own export with --preset)",
    )
    parser.add_argument("kind", choices=KINDS, help="what the file holds")
    parser.add_argument("path", type=Path, help="the export file")
    parser.add_argument(
        "--columns",
        metavar="NAME=EXPORT,...",
        help="map export column names onto canonical ones, e.g. book_id=item,reader_id=patron",
    )
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help=f"read the library system's own export: {', '.join(PRESETS)} (loans; also the "
        "system's items export and MARC id field); default RECSYS_LOAN_PRESET, 'none' for none",
    )
    parser.add_argument(
        "--id-field",
        metavar="FIELD",
        help="where MARC records keep their id: 001 (default) or tag+subfield, e.g. 999c (Koha)",
    )
    parser.add_argument(
        "--max-bad-share",
        type=_share,
        metavar="X",
        help="reject the whole file when more than this share of rows is bad "
        "(default: RECSYS_MAX_BAD_ROW_SHARE, 0.05)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        upgrade(engine)
        report = ingest_file(
            engine,
            settings,
            kind=args.kind,
            path=args.path,
            column_map=parse_column_map(args.columns),
            max_bad_share=args.max_bad_share,
            preset=args.preset,
            id_field=args.id_field,
        )
    finally:
        engine.dispose()
    print("\n".join(report.summary_lines()))
    return 0


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1; got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1; got {value}")
    return value
