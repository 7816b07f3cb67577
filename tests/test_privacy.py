"""Keyed pseudonymization: stable, key-dependent, never reversible by lookup of the raw id."""

from __future__ import annotations

import pandas as pd

from recsys.privacy import PSEUDONYM_HEX_CHARS, Pseudonymizer, generate_key

KEY = b"x" * 64


def test_pseudonym_is_stable_and_hex() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    first = pseudonymizer.pseudonymize("P0001234")
    assert first == pseudonymizer.pseudonymize("P0001234")
    assert len(first) == PSEUDONYM_HEX_CHARS
    int(first, 16)


def test_pseudonym_depends_on_the_key() -> None:
    assert Pseudonymizer(KEY).pseudonymize("P1") != Pseudonymizer(b"y" * 64).pseudonymize("P1")


def test_distinct_readers_get_distinct_pseudonyms() -> None:
    pseudonyms = Pseudonymizer(KEY).pseudonymize_many(f"P{i:07d}" for i in range(5000))
    assert len(set(pseudonyms)) == 5000


def test_series_matches_single_calls_and_keeps_index() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    raw = pd.Series(["a", "b", "a", "c"], index=[10, 11, 12, 13])
    result = pseudonymizer.pseudonymize_series(raw)
    assert list(result.index) == [10, 11, 12, 13]
    assert list(result) == [pseudonymizer.pseudonymize(value) for value in raw]
    assert "a" not in set(result)


def test_repr_hides_the_key() -> None:
    assert "x" * 8 not in repr(Pseudonymizer(KEY))


def test_generated_keys_are_long_and_random() -> None:
    assert len(generate_key()) == 64
    assert generate_key() != generate_key()
