"""`recsys keygen`: create the pseudonym key file (0600) if it does not exist yet."""

from __future__ import annotations

import argparse

from recsys.config import Settings, write_key_file
from recsys.privacy import generate_key


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keygen", help="create the pseudonym key file (never overwrites an existing one)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    path = settings.pseudonym_key_file
    if settings.pseudonym_key is not None:
        print("RECSYS_PSEUDONYM_KEY is set; no key file needed")
        return 0
    if path.exists():
        print(f"key file {path} already exists; left unchanged")
        return 0
    write_key_file(path, generate_key())
    print(f"created pseudonym key file {path} (mode 0600); back it up: losing it unlinks history")
    return 0
