"""`recsys forget`, `recsys consent` and `recsys rotate-key`: the reader-privacy commands.

Reader ids are given raw (as on the library card), pseudonymized here with the configured key
(refused unless the store is keyed with it: `recsys.store_key`) and never printed: the commands
print counts only. Pass ``-`` to read the id from standard input, which keeps card numbers out of
shell history and process listings. A command that could not do all it was asked (a database
error, an unpurged model run) says so in one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine

from recsys.config import Settings
from recsys.consent import set_consent
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.erasure import erase_reader
from recsys.key_rotation import rotate_key_file
from recsys.nightly.lock import LockHeldError, run_lock
from recsys.privacy import Pseudonymizer
from recsys.store_key import check_store_key

EXIT_LOCKED = 4
READER_ID_HELP = "raw reader id (card number), or - to read it from stdin"


def register(subparsers: argparse._SubParsersAction) -> None:
    forget = subparsers.add_parser(
        "forget",
        help="erase a reader: delete their loans and views, stop personalizing them and purge "
        "them from the saved model runs, at once",
    )
    forget.add_argument("reader_id", help=READER_ID_HELP)
    forget.set_defaults(handler=run_forget)

    consent = subparsers.add_parser(
        "consent", help="record a reader's consent to personal suggestions (yes) or objection (no)"
    )
    consent.add_argument("reader_id", help=READER_ID_HELP)
    answer = consent.add_mutually_exclusive_group(required=True)
    answer.add_argument("--yes", dest="consented", action="store_true", help="the reader agrees")
    answer.add_argument("--no", dest="consented", action="store_false", help="the reader objects")
    consent.set_defaults(handler=run_consent)

    rotate = subparsers.add_parser(
        "rotate-key",
        help="re-pseudonymize the store with a new key (HMAC chain; see docs/privacy.md)",
    )
    rotate.add_argument(
        "--new-key-file", type=Path, required=True, help="0600 file holding the new key (one line)"
    )
    rotate.set_defaults(handler=run_rotate_key)


def run_forget(args: argparse.Namespace, settings: Settings) -> int:
    reader_id = _reader_id(args.reader_id)
    engine = make_engine(settings)
    upgrade(engine)
    pseudonymizer = _store_pseudonymizer(engine, settings)
    erasure = erase_reader(
        engine, Path(settings.models_dir), pseudonyms=pseudonymizer.pseudonyms(reader_id)
    )
    print(
        f"reader erased: {erasure.store.loans_deleted} loan events and "
        f"{erasure.store.views_deleted} views deleted; personal suggestions are off for them "
        f"from now on. Saved model runs: {len(erasure.runs.purged)} purged of them (running "
        f"services reload a purged published model at their next poll), "
        f"{len(erasure.runs.discarded)} unservable ones deleted"
    )
    return 0


def run_consent(args: argparse.Namespace, settings: Settings) -> int:
    reader_id = _reader_id(args.reader_id)
    engine = make_engine(settings)
    upgrade(engine)
    pseudonymizer = _store_pseudonymizer(engine, settings)
    set_consent(engine, reader_id=pseudonymizer.pseudonymize(reader_id), consented=args.consented)
    if args.consented:
        print(f"consent recorded (mode {settings.consent_mode}): personal suggestions allowed")
    else:
        print(
            "objection recorded: non-personal suggestions from now on, and the reader's history "
            "is left out of the next model"
        )
    return 0


def run_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    upgrade(engine)
    try:
        with run_lock(Path(settings.models_dir), purpose="rotate-key"):
            result = rotate_key_file(engine, settings, new_key_file=args.new_key_file)
    except LockHeldError as error:
        print(f"recsys rotate-key: {error}", file=sys.stderr)
        return EXIT_LOCKED
    print(
        f"key rotated: {result.readers} readers ({result.rows} rows) re-pseudonymized; the key "
        f"chain in {settings.pseudonym_key_file} now ends with the new key, which running "
        "services read at their next poll (restart one whose key is in RECSYS_PSEUDONYM_KEY). "
        "Run `recsys nightly` so the published model uses the new pseudonyms; you may then "
        f"delete {args.new_key_file}"
    )
    return 0


def _reader_id(raw: str) -> str:
    """A raw id given on the command line or (for ``-``) on stdin."""
    reader_id = sys.stdin.readline() if raw == "-" else raw
    if not reader_id.strip():
        raise SystemExit("recsys: error: reader_id must not be empty")
    return reader_id


def _store_pseudonymizer(engine: Engine, settings: Settings) -> Pseudonymizer:
    """The configured key's pseudonymizer, refused unless the store is keyed with it."""
    pseudonymizer = Pseudonymizer(settings.pseudonym_key_bytes())
    check_store_key(engine, pseudonymizer)
    return pseudonymizer
