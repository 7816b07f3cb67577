"""The consortium model trained on Spark: works pooled across members, the members outside the
pool, and fold-in that solves Spark's own equations. (The shared contract tests run it too.)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.engines.spark.model import SparkALSRecommender
from recsys.models.matrix import csr_state
from recsys.models.registry import load_model

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

START = pd.Timestamp("2026-03-02", tz="UTC")


def _consortium() -> Dataset:
    """Members A and B catalogue the same two works under their own ids (A:1 and B:1 are work
    W1, A:2 and B:2 work W2). Two readers at each borrowed both works, so 4 readers link them;
    a further 12 readers at A borrow A:3 .. A:8 (two each) so the model has something to learn."""
    rows = []
    for member in ("A", "B"):
        for r in range(2):
            for day, book in enumerate((f"{member}:1", f"{member}:2")):
                rows.append(
                    (f"{member}-reader{r}", book, START + pd.Timedelta(days=day + r), member)
                )
    for r in range(12):
        for day, book in enumerate((f"A:{3 + r % 6}", f"A:{3 + (r + 1) % 6}")):
            rows.append((f"A-other{r}", book, START + pd.Timedelta(days=10 + day), "A"))
    frame = pd.DataFrame(rows, columns=[C.READER_ID, C.BOOK_ID, C.TIMESTAMP, C.LIBRARY_ID])
    books = ["A:1", "A:2", "B:1", "B:2", *(f"A:{i}" for i in range(3, 9))]
    works = {"A:1": "W1", "B:1": "W1", "A:2": "W2", "B:2": "W2"}
    catalog = pd.DataFrame(
        {
            C.BOOK_ID: books,
            C.TITLE: [f"Title of {works.get(b, b)}" for b in books],
            C.WORK_ID: [works.get(b, f"W-{b}") for b in books],
        }
    )
    return Dataset.from_interactions(frame.assign(**{C.EVENT: "loan"}), catalog)


def _model(**params: object) -> SparkALSRecommender:
    defaults: dict[str, object] = {"factors": 4, "iterations": 5, "blocks": 1, "random_state": 0}
    return SparkALSRecommender(**{**defaults, **params, "min_pair_support": 3})


@pytest.fixture(scope="module")
def pooled(spark: SparkSession) -> SparkALSRecommender:
    """The model of both members' loans (fitted once: the tests below only read it)."""
    return _model().fit(_consortium())


def test_records_of_one_work_at_two_members_are_one_book(pooled: SparkALSRecommender) -> None:
    model = pooled
    works = dict(zip(model.books_.ids.tolist(), model.works_.tolist(), strict=True))
    assert works["A:1"] == works["B:1"] != works["A:2"] == works["B:2"]
    # two readers per member: only pooled do the works reach three readers
    similar = model.similar_books(["A:1", "B:1"], k=3)
    assert set(similar.loc[similar[C.BOOK_ID] == "A:1", C.SIMILAR_BOOK_ID]) & {"A:2", "B:2"}
    assert set(similar.loc[similar[C.BOOK_ID] == "B:1", C.SIMILAR_BOOK_ID]) & {"A:2", "B:2"}
    assert model.linked_by_readers("B:1")


def test_a_member_outside_the_pool_adds_only_anonymous_pair_counts(spark: SparkSession) -> None:
    model = _model(pool_libraries=["A"]).fit(_consortium())
    assert not any(reader.startswith("B-") for reader in model.known_readers())
    assert model.matrix_.shape[0] == len(model.known_readers())
    # B's two readers still count towards the link between the works (4 readers, not 2) ...
    similar = model.similar_books(["A:1"], k=3)
    assert set(similar[C.SIMILAR_BOOK_ID]) & {"A:2", "B:2"}
    # ... but W1 has only A's two readers in the pool: fewer than k, so no ALS factors
    w1 = model.works_[model.books_.index(["A:1"])[0]]
    assert not model.work_factors_[w1].any()
    assert model.work_factors_.any()


def test_with_fewer_than_k_readers_pooled_two_works_stay_unlinked(spark: SparkSession) -> None:
    data = _consortium()
    only_a = Dataset.from_interactions(
        data.interactions[data.interactions[C.LIBRARY_ID] == "A"], data.catalog
    )
    similar = _model().fit(only_a).similar_books(["A:1"], k=3)
    assert not set(similar[C.SIMILAR_BOOK_ID]) & {"A:2", "B:2"}


def test_fold_in_solves_the_equations_spark_solved(pooled: SparkALSRecommender) -> None:
    """Spark's last ALS step solves each reader's factors from the final work factors, so
    folding a training reader's own row in again gives the factors Spark stored."""
    model = pooled
    rows = model.matrix_
    readers = np.flatnonzero(np.abs(model.user_factors_).sum(axis=1) > 0)
    assert len(readers) >= 10
    folded = model._fold_in(rows[readers])
    np.testing.assert_allclose(folded, model.user_factors_[readers], rtol=1e-3, atol=1e-4)


def test_unknown_events_are_refused_with_their_names(spark: SparkSession) -> None:
    data = _consortium()
    odd = data.interactions.assign(**{C.EVENT: "teleport"})
    with pytest.raises(ValueError, match=r"unknown event values \['teleport'\]"):
        _model().fit(Dataset.from_interactions(odd, data.catalog))


def test_a_bundle_saved_with_a_column_per_record_serves_the_same_lists(
    pooled: SparkALSRecommender, tmp_path: Path
) -> None:
    """Bundles saved before the served matrices had a column per work kept Spark's record
    columns (`pooled` then marked every record its own column); loading makes the works'."""
    pooled.save(tmp_path)
    arrays = tmp_path / "arrays"
    for name in ("columns", "column_books"):
        (arrays / f"{name}.npy").unlink()
    np.save(arrays / "pooled.npy", np.arange(len(pooled.books_)))
    # each work's weights on its usual record, the other records' columns empty
    usual = sparse.csr_matrix(
        (np.ones(pooled.n_columns), (np.arange(pooled.n_columns), pooled.column_books_)),
        shape=(pooled.n_columns, len(pooled.books_)),
    )
    by_record = {
        "matrix": (pooled.matrix_ @ usual).tocsr(),
        "content": (usual.T @ pooled.content_).tocsr(),
    }
    for name, matrix in by_record.items():
        for part, value in csr_state(name, matrix).items():
            np.save(arrays / f"{part}.npy", value)
    np.save(arrays / "popularity.npy", usual.T @ pooled.popularity_)
    loaded = load_model(tmp_path)
    books = pooled.books_.ids.tolist()
    readers = pooled.known_readers().tolist()
    pd.testing.assert_frame_equal(
        loaded.similar_books(books, k=4), pooled.similar_books(books, k=4)
    )
    pd.testing.assert_frame_equal(loaded.recommend(readers, k=4), pooled.recommend(readers, k=4))


def test_als_cuts_its_lineage_in_a_checkpoint_folder_of_the_fit(
    spark: SparkSession, tmp_path: Path
) -> None:
    """ALS checkpoints every `checkpointInterval` iterations only where a folder is set; without
    one, its lineage grows with the iterations until the JVM's stack overflows."""
    context = spark.sparkContext
    context.setCheckpointDir(str(tmp_path / "elsewhere"))
    model = _model(iterations=12).fit(_consortium())
    folder = context.getCheckpointDir()
    assert folder is not None and "/scratch-" in folder and "/checkpoints/" in folder
    assert model.user_factors_.any()
