"""Readers' lists rendered once into files every worker maps: written once per key, replayed only
to a reader whose rows are unchanged, never for another model, rules or query, gone on a purge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys import artifacts
from recsys.consent import ConsentRule
from recsys.lists.cache import Rendered
from recsys.lists.query import FILTERED, parse_query
from recsys.lists.rendered import (
    RenderedLists,
    RenderedListsWriter,
    lists_key,
    state_fingerprint,
)
from recsys.lists.served import ServedModel, build_served, served_lists
from tests.lists.test_served_lists import saved, served_from
from tests.service.service_library import Trained, train_default

DEFAULT = parse_query(b"", FILTERED)
CONSENT = ConsentRule("opt-out", "opt-in", frozenset({"junior", "teen"}))  # type: ignore[arg-type]
ROWS = [(0, 1, None, "adult", 0), (1, None, "B1", "loan", 10), (1, None, "B2", "loan", 20)]


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train_default()


@pytest.fixture
def served(tmp_path: Path, trained: Trained) -> ServedModel:
    lists = served_lists(trained.model, trained.catalog, trained.holdings)
    return served_from(saved(tmp_path, trained, lists))


def write(served: ServedModel, key: str, lists: dict[int, tuple[bytes, str, bytes]]) -> None:
    writer = RenderedListsWriter.claim(served.bundle.path, key, len(served.readers))
    assert writer is not None
    for position, (body, strategy, fingerprint) in lists.items():
        writer.add(position, Rendered(body, strategy), fingerprint)
    assert writer.finish() is not None


def test_a_list_is_replayed_only_for_the_rows_it_was_made_from(served: ServedModel) -> None:
    key = lists_key(served, "0.abc", CONSENT, DEFAULT)
    mine, changed = state_fingerprint(ROWS), state_fingerprint([*ROWS, (1, None, "B3", "loan", 30)])
    write(served, key, {0: (b'{"items":[1]}', "personalized", mine), 2: (b"{}", "fold-in", mine)})
    lists = RenderedLists.open(served.bundle.path, key, len(served.readers))
    assert lists is not None
    found = lists.get(0, mine)
    assert found is not None and (found.body, found.strategy) == (b'{"items":[1]}', "personalized")
    assert lists.get(2, mine).strategy == "fold-in"  # type: ignore[union-attr]
    assert lists.get(0, changed) is None  # a new loan since: made again
    assert lists.get(1, mine) is None  # no list rendered for this reader


def test_the_fingerprint_ignores_row_order_but_not_any_value() -> None:
    assert state_fingerprint(ROWS) == state_fingerprint(list(reversed(ROWS)))
    assert state_fingerprint(ROWS) != state_fingerprint([(0, 0, None, "adult", 0), *ROWS[1:]])
    assert state_fingerprint(ROWS) != state_fingerprint(ROWS[:2])


def test_one_process_writes_a_key_while_others_wait(served: ServedModel) -> None:
    key = lists_key(served, "0.abc", CONSENT, DEFAULT)
    path, readers = served.bundle.path, len(served.readers)
    writer = RenderedListsWriter.claim(path, key, readers)
    assert writer is not None
    assert RenderedListsWriter.claim(path, key, readers) is None  # locked: another worker writes
    assert RenderedLists.open(path, key, readers) is None  # nothing placed until finished
    writer.add(0, Rendered(b"{}", "personalized"), state_fingerprint(ROWS))
    assert writer.finish() is not None
    assert RenderedListsWriter.claim(path, key, readers) is None  # placed: nothing to write
    assert RenderedLists.open(path, key, readers) is not None


def test_lists_are_never_opened_for_another_model_rules_query_or_purge(
    served: ServedModel, trained: Trained
) -> None:
    key = lists_key(served, "0.abc", CONSENT, DEFAULT)
    others = {
        lists_key(served, "1.abc", CONSENT, DEFAULT),  # the rules changed
        lists_key(served, "0.abc", CONSENT, parse_query(b"k=3", FILTERED)),
        lists_key(served, "0.abc", ConsentRule("opt-in", "opt-in", frozenset()), DEFAULT),  # type: ignore[arg-type]
    }
    assert key not in others and len(others) == 3
    write(served, key, {0: (b"{}", "personalized", state_fingerprint(ROWS))})
    for other in others:
        assert RenderedLists.open(served.bundle.path, other, len(served.readers)) is None
    assert RenderedLists.open(served.bundle.path, key, len(served.readers) + 1) is None
    reader = next(iter(served.readers.index))
    artifacts.purge_bundle(
        served.bundle.path, [reader], erasure_id=1, previous_erasure_id=0, lists_of=served_lists
    )
    assert not (served.bundle.path / artifacts.RENDERED_DIR).exists()
    purged = build_served(
        artifacts.load_bundle(served.bundle.path, latest_erasure=1), None, min_readers=2
    )
    assert lists_key(purged, "0.abc", CONSENT, DEFAULT) != key  # its manifest changed


def test_lists_of_a_run_purged_while_they_were_written_are_not_placed(
    served: ServedModel,
) -> None:
    key = lists_key(served, "0.abc", CONSENT, DEFAULT)
    writer = RenderedListsWriter.claim(served.bundle.path, key, len(served.readers))
    assert writer is not None
    writer.add(0, Rendered(b"{}", "personalized"), state_fingerprint(ROWS))
    reader = next(iter(served.readers.index))
    artifacts.purge_bundle(
        served.bundle.path, [reader], erasure_id=1, previous_erasure_id=0, lists_of=served_lists
    )
    assert writer.finish() is None
    rendered = served.bundle.path / artifacts.RENDERED_DIR
    assert not rendered.exists() or not any(p.is_dir() for p in rendered.iterdir())


def test_placing_a_key_deletes_the_other_keys_lists(served: ServedModel) -> None:
    old = lists_key(served, "0.abc", CONSENT, DEFAULT)
    new = lists_key(served, "1.def", CONSENT, DEFAULT)
    write(served, old, {0: (b"{}", "personalized", state_fingerprint(ROWS))})
    write(served, new, {0: (b"[]", "personalized", state_fingerprint(ROWS))})
    folders = [
        p.name for p in (served.bundle.path / artifacts.RENDERED_DIR).iterdir() if p.is_dir()
    ]
    assert folders == [new]
    assert np.load(served.bundle.path / artifacts.RENDERED_DIR / new / "spans.npy").shape == (
        len(served.readers),
        2,
    )
