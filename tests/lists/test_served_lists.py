"""Every reader's and book's list computed once, before publishing, and carried by the bundle:
the same lists the service computes itself, ready the moment a bundle loads, and never used for
another model or catalog."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.exceptions import BundleIntegrityError
from recsys.lists.catalog import CatalogIndex
from recsys.lists.readers import READER_BATCH, ReaderLists, compact_scores
from recsys.lists.served import ServedModel, build_served, served_lists
from recsys.models.popularity import PopularityRecommender
from tests.service.service_library import (
    PSEUDONYM_KEY,
    Trained,
    build_loans,
    fit_model,
    train_default,
)


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train_default()


def saved(models_dir: Path, trained: Trained, lists: dict[str, np.ndarray] | None) -> Path:
    run_id = artifacts.new_run_id()
    return artifacts.save_bundle(
        models_dir,
        run_id,
        trained.model,
        catalog=trained.catalog,
        holdings=trained.holdings,
        erasures_applied=0,
        lists=lists,
    )


def served_from(path: Path) -> ServedModel:
    return build_served(artifacts.load_bundle(path, latest_erasure=0), None, min_readers=2)


def test_the_bundle_carries_the_lists_the_service_would_compute(
    tmp_path: Path, trained: Trained
) -> None:
    lists = served_lists(trained.model, trained.catalog, trained.holdings)
    carried = served_from(saved(tmp_path, trained, lists))
    computed = served_from(saved(tmp_path, trained, None))  # each worker computes them
    assert carried.readers.complete and carried.similar.done == len(carried.similar)
    assert not computed.readers.complete  # nothing computed until asked (no thread started)
    readers = carried.readers.index
    assert readers == computed.readers.index and len(readers) > 10
    assert readers.in_order() == [(r, readers[r]) for r in readers]
    assert readers.get("never-borrowed") is None and "never-borrowed" not in readers
    for reader in readers.values():
        positions, scores, count = carried.readers.get(reader)
        expected = computed.readers.get(reader, timeout=60)
        assert positions.tolist() == expected[0].tolist() and count == expected[2]
        # the model's float32 sums round alike up to the batch it scores a reader in
        np.testing.assert_allclose(scores, expected[1], rtol=1e-6)
    for book in range(len(carried.catalog)):
        np.testing.assert_array_equal(carried.similar.row(book), computed.similar.row(book))
        assert carried.similar.complete[book] == computed.similar.complete[book]


def test_computing_every_readers_list_reports_the_readers_done_as_it_goes() -> None:
    """At a consortium's size the nightly's lists step runs for long: its progress must move."""
    readers = 3 * READER_BATCH + 7
    rows = [(f"r{n}", f"b{(n + j) % 9}") for n in range(readers) for j in range(2)]
    dataset = Dataset.from_interactions(pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID]))
    lists = ReaderLists(
        PopularityRecommender().fit(dataset), CatalogIndex(dataset.catalog, dataset.holdings)
    )
    reported: list[int] = []

    lists.compute_all(reported.append, every=2 * READER_BATCH)

    assert reported == [2 * READER_BATCH, readers]
    assert lists.complete


def test_lists_made_for_another_model_are_not_served(
    tmp_path: Path, trained: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    loans = build_loans()
    fewer = fit_model(
        loans[loans["reader_id"] != "R105"], trained.catalog, trained.holdings, PSEUDONYM_KEY
    )
    others = served_lists(fewer, trained.catalog, trained.holdings)  # one reader less
    with caplog.at_level(logging.WARNING, logger="recsys.lists.served"):
        served = served_from(saved(tmp_path, trained, others))
    assert not served.readers.complete  # this worker computes its own
    assert "carries no precomputed lists for its model and catalog" in caplog.text


def test_a_changed_or_unlisted_lists_file_fails_verification(
    tmp_path: Path, trained: Trained
) -> None:
    lists = served_lists(trained.model, trained.catalog, trained.holdings)
    path = saved(tmp_path, trained, lists)
    extra = path / artifacts.LISTS_DIR / "more.npy"
    np.save(extra, np.zeros(3))
    with pytest.raises(BundleIntegrityError, match=re.escape("more.npy is not in the manifest")):
        artifacts.verify_bundle(path)
    extra.unlink()
    target = path / artifacts.LISTS_DIR / "reader_positions.npy"
    target.write_bytes(target.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    with pytest.raises(
        BundleIntegrityError, match=re.escape("reader_positions.npy does not match")
    ):
        artifacts.load_bundle(path, latest_erasure=0)


def test_scores_are_stored_narrow_only_when_nothing_changes() -> None:
    exact = np.asarray([0.5, 0.25, 3.0])
    assert compact_scores(exact).dtype == np.float32
    precise = np.asarray([0.1, 1 / 3])
    assert compact_scores(precise).dtype == np.float64
