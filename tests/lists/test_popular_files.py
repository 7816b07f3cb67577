"""Popular lists counted once per run and state of the stored loans: a later load of the run maps
what the first one counted, and any change to the loans (an ingest, an erasure) counts again."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from recsys import artifacts
from recsys.db.queries import delete_events_before
from recsys.db.tables import loans
from recsys.erasure import erase_reader
from recsys.lists.popular import OVERALL
from recsys.lists.popular_files import counts_key, open_counted, place_counted
from recsys.lists.served import ServedModel, build_served
from tests.lists.test_served_lists import saved
from tests.service.service_library import Trained, train_default

T0 = 1_704_067_200
K = 2


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train_default()


def borrow(engine: Engine, borrowed: dict[str, list[str]], at: int = T0) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(loans),
            [
                {
                    "reader_id": reader,
                    "book_id": book,
                    "borrowed_at": at + i,
                    "event": "loan",
                    "library_id": "L1",
                }
                for i, (book, readers) in enumerate(borrowed.items())
                for reader in readers
            ],
        )


def load(run: Path, engine: Engine) -> ServedModel:
    return build_served(artifacts.load_bundle(run, latest_erasure=0), engine, min_readers=K)


def popular_books(served: ServedModel) -> list[str]:
    order, _ = served.popular.ranked("all", OVERALL)
    return [str(served.catalog.book_ids[position]) for position in order]


@pytest.fixture
def books(trained: Trained) -> list[str]:
    """Three books of three works each held in one record (editions pool their readers)."""
    catalog = trained.catalog.astype({"book_id": str})
    works = catalog["work_id"].fillna(catalog["book_id"])
    single = catalog[~works.duplicated(keep=False)]
    return single["book_id"].tolist()[:3]


def test_a_later_load_maps_what_the_first_counted(
    tmp_path: Path, trained: Trained, engine: Engine, books: list[str]
) -> None:
    first, second, third = books
    borrow(engine, {first: ["r1", "r2", "r3"], second: ["r1", "r2"], third: ["r4"]})
    run = saved(tmp_path, trained, None)
    counted = load(run, engine)
    assert counted.popular.source == "loans"
    assert popular_books(counted) == [first, second]  # the third has one reader: under k
    key = counts_key(engine, min_readers=K)
    placed = open_counted(run, key)
    assert placed is not None and set(placed) == set(counted.popular.orders)
    assert load(run, engine).popular.digest == counted.popular.digest

    # placed lists are what a later load serves: it maps them instead of counting
    reversed_lists = {name: (order[::-1], scores[::-1]) for name, (order, scores) in placed.items()}
    for folder in (run / artifacts.POPULAR_DIR).iterdir():
        folder.rename(run / artifacts.POPULAR_DIR / f".tmp-gone-{folder.name}")
    place_counted(run, key, reversed_lists, manifest_stamp=artifacts.manifest_sha256(run) or "")
    assert popular_books(load(run, engine)) == [second, first]


def test_a_new_loan_counts_again_and_drops_the_older_counts(
    tmp_path: Path, trained: Trained, engine: Engine, books: list[str]
) -> None:
    first, _, third = books
    borrow(engine, {first: ["r1", "r2", "r3"], third: ["r4"]})
    run = saved(tmp_path, trained, None)
    before = counts_key(engine, min_readers=K)
    assert popular_books(load(run, engine)) == [first]
    borrow(engine, {third: ["r5"]}, at=T0 + 3600)  # the third reaches k readers
    assert counts_key(engine, min_readers=K) != before
    assert popular_books(load(run, engine)) == [first, third]
    assert open_counted(run, before) is None  # counted from loans as they no longer are
    assert counts_key(engine, min_readers=K) != counts_key(engine, min_readers=K + 1)


def test_retention_counts_again(
    tmp_path: Path, trained: Trained, engine: Engine, books: list[str]
) -> None:
    first, second, _ = books
    borrow(engine, {first: ["r1", "r2"], second: ["r1", "r2", "r3"]})
    borrow(engine, {first: ["r3", "r4"]}, at=T0 + 86_400)
    run = saved(tmp_path, trained, None)
    before = counts_key(engine, min_readers=K)
    assert popular_books(load(run, engine)) == [first, second]
    # the oldest loans go, the newest id and time stay
    assert delete_events_before(engine, cutoff=T0 + 86_400)["loans"] == 5
    assert counts_key(engine, min_readers=K) != before
    assert popular_books(load(run, engine)) == [first]  # the second has no reader left


def published_with_two_popular(
    tmp_path: Path, trained: Trained, engine: Engine, books: list[str]
) -> tuple[Path, Path]:
    """A published run (models folder, run folder) over loans where the first book has three
    readers and the second two, r2 among them."""
    first, second, _ = books
    borrow(engine, {first: ["r1", "r2", "r3"], second: ["r1", "r2"]})
    models = tmp_path / "models"
    run = saved(models, trained, None)
    artifacts.publish(models, run.name, latest_erasure=0)
    return models, run


def test_an_erasure_counts_again_and_a_purge_deletes_the_counts(
    tmp_path: Path, trained: Trained, engine: Engine, books: list[str]
) -> None:
    first, second, _ = books
    models, run = published_with_two_popular(tmp_path, trained, engine, books)
    assert popular_books(load(run, engine)) == [first, second]
    assert any((run / artifacts.POPULAR_DIR).iterdir())
    erase_reader(engine, models, pseudonyms=["r2"])
    assert not (run / artifacts.POPULAR_DIR).exists()  # counted with the erased reader's loans
    purged = build_served(artifacts.load_bundle(run, latest_erasure=1), engine, min_readers=K)
    assert popular_books(purged) == [first]  # the second has one reader left: under k
    order, scores = purged.popular.ranked("all", OVERALL)
    assert scores.tolist() == [2.0] and np.all(order >= 0)


def test_counts_made_before_a_purge_are_not_placed_after_it(
    tmp_path: Path, trained: Trained, engine: Engine, books: list[str]
) -> None:
    models, run = published_with_two_popular(tmp_path, trained, engine, books)
    counting = artifacts.load_bundle(run, latest_erasure=0)  # a load that counts slowly
    key = counts_key(engine, min_readers=K)
    counted = load(run, engine).popular  # what it counts, with r2's loans
    shutil.rmtree(run / artifacts.POPULAR_DIR)
    erase_reader(engine, models, pseudonyms=["r2"])  # purges the run while that load counts
    lists = {name: (counted.orders[name], counted.scores[name]) for name in counted.orders}
    place_counted(run, key, lists, manifest_stamp=counting.manifest_sha256)
    assert open_counted(run, key) is None
