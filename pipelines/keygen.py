"""`recsys keygen`: create the pseudonym key file and, on request, demo API keys (0600 files)."""

from __future__ import annotations

import argparse
import secrets

from recsys.config import Settings, write_key_file
from recsys.privacy import generate_key


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keygen", help="create the pseudonym key file (never overwrites an existing one)"
    )
    parser.add_argument(
        "--api-keys",
        action="store_true",
        help="also create the API keys file with one `reader` and one `admin` key",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    _create_pseudonym_key(settings)
    if args.api_keys:
        _create_api_keys(settings)
    return 0


def _create_pseudonym_key(settings: Settings) -> None:
    path = settings.pseudonym_key_file
    if settings.pseudonym_key is not None:
        print("RECSYS_PSEUDONYM_KEY is set; no key file needed")
    elif path.exists():
        print(f"pseudonym key file {path} already exists; left unchanged")
    else:
        write_key_file(path, generate_key())
        print(
            f"created pseudonym key file {path} (mode 0600); back it up: losing it unlinks "
            "readers from their history"
        )


def _create_api_keys(settings: Settings) -> None:
    path = settings.api_keys_file
    if path.exists():
        print(f"API keys file {path} already exists; left unchanged")
        return
    lines = f"{secrets.token_urlsafe(24)}:reader\n{secrets.token_urlsafe(24)}:admin\n"
    write_key_file(path, lines.encode("ascii"))
    print(f"created API keys file {path} (mode 0600) with one reader and one admin key")
