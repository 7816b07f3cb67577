"""Shared contract tests: every registered recommender, on fixtures with known answers."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from recsys.columns import Columns as C
from recsys.data.dataset import Dataset
from recsys.exceptions import NotFittedError
from recsys.models.base import RECOMMEND_COLUMNS, SIMILAR_COLUMNS, Recommender
from recsys.models.ranking import ExplainableRecommender, RankingRecommender
from recsys.models.registry import MODELS, build_model, load_model
from tests.models.conftest import FAST_PARAMS, SPARK_MODELS, block_books, block_readers

ALL = sorted(MODELS)
PERSONAL = [name for name in ALL if name != "popularity"]
COLLABORATIVE = [name for name in ALL if getattr(MODELS[name], "collaborative", False)]
EXPLAINABLE = [name for name in ALL if issubclass(MODELS[name], ExplainableRecommender)]


#: Spark fits of the same parameters on the same data, made once per test run (a Spark job
#: costs seconds even on the tiny fixtures); each test gets its own copy.
_SPARK_FITS: dict[tuple[str, str, int], Recommender] = {}


def fitted(name: str, dataset: Dataset, *, fresh: bool = False, **params: object) -> Recommender:
    model = build_model(name, **{**FAST_PARAMS[name], **params})
    if name not in SPARK_MODELS or fresh:
        return model.fit(dataset)
    data = pd.util.hash_pandas_object(dataset.interactions.astype(str), index=False).sum()
    key = (name, repr(sorted(model.get_params().items())), int(data))
    if key not in _SPARK_FITS:
        _SPARK_FITS[key] = model.fit(dataset)
    return copy.deepcopy(_SPARK_FITS[key])


def lists(recs: pd.DataFrame) -> dict[str, list[str]]:
    return recs.groupby(C.READER_ID, sort=False)[C.BOOK_ID].apply(list).to_dict()


def borrowed(dataset: Dataset, reader: str) -> set[str]:
    frame = dataset.interactions
    return set(frame.loc[frame[C.READER_ID] == reader, C.BOOK_ID])


def test_every_registered_model_has_fast_test_params() -> None:
    assert set(FAST_PARAMS) == set(MODELS)


@pytest.mark.parametrize("name", PERSONAL)
def test_recommendations_come_from_the_readers_own_block(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    for block in ("a", "b"):
        readers = block_readers(block)
        recs = lists(model.recommend(readers, k=2))
        for reader in readers:
            unread = set(block_books(block)) - borrowed(board, reader) - {"a0"}
            expected = min(2, len(unread))
            assert set(recs[reader][:expected]) <= unread | {f"{block}-new"}, (name, reader)


@pytest.mark.parametrize("name", ALL)
def test_output_columns_and_ranks(name: str, board: Dataset) -> None:
    recs = fitted(name, board).recommend(block_readers("a")[:3], k=4)
    assert list(recs.columns) == RECOMMEND_COLUMNS
    for _, group in recs.groupby(C.READER_ID):
        assert group[C.RANK].tolist() == [1, 2, 3, 4]
        assert group[C.SCORE].is_monotonic_decreasing


@pytest.mark.parametrize("name", ALL)
def test_exactly_k_under_candidates_and_exclude(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    candidates = [*block_books("a"), *block_books("b"), "a-new", "b-new", "unknown-book"]
    exclude = ["b1", "b2", "a5"]
    readers = block_readers("a")[:5]
    recs = model.recommend(readers, k=8, candidates=candidates, exclude=exclude)
    # every a-reader has at least 8 eligible books: 22 known candidates - 3 excluded - own loans
    assert all(len(set(candidates[:-1]) - set(exclude) - borrowed(board, r)) >= 8 for r in readers)
    assert recs.groupby(C.READER_ID).size().to_dict() == dict.fromkeys(readers, 8)
    assert recs[C.BOOK_ID].isin(candidates).all()
    assert not recs[C.BOOK_ID].isin(exclude).any()
    for reader, books in lists(recs).items():
        assert not set(books) & borrowed(board, reader)


@pytest.mark.parametrize("name", ALL)
def test_fewer_rows_only_when_fewer_eligible_books_exist(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    reader = block_readers("a")[0]
    candidates = ["b3", "b4", *sorted(borrowed(board, reader))]
    recs = model.recommend([reader], k=5, candidates=candidates)
    assert sorted(recs[C.BOOK_ID]) == ["b3", "b4"]


@pytest.mark.parametrize("name", ALL)
def test_exclude_seen_covers_other_editions_of_the_work(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    readers = block_readers("a")  # every a-reader borrowed a0, whose work has a0-second
    recs = model.recommend(readers, k=15)
    assert not recs[C.BOOK_ID].isin(["a0", "a0-second"]).any()
    for reader, books in lists(recs).items():
        assert not set(books) & borrowed(board, reader)
    unfiltered = model.recommend(readers, k=len(model.books_.ids), exclude_seen=False)
    assert unfiltered[C.BOOK_ID].isin(["a0", "a0-second"]).any()


@pytest.mark.parametrize("name", ALL)
def test_one_edition_per_work_in_a_list(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    recs = model.recommend(block_readers("a")[:4], k=30, exclude_seen=False)
    for books in lists(recs).values():
        assert not {"a0", "a0-second"} <= set(books)
        assert len(books) == len(set(books))
    # 23 books in the catalog, two of them editions of one work: 22 works can be listed
    assert recs.groupby(C.READER_ID).size().eq(22).all()


@pytest.mark.parametrize("name", ALL)
def test_unknown_reader_gets_the_popular_fallback(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    recs = model.recommend(["nobody-1", "nobody-2"], k=5)
    by_reader = lists(recs)
    assert by_reader["nobody-1"] == by_reader["nobody-2"]
    assert by_reader["nobody-1"][0] == "a0"  # borrowed by every a-reader: the most popular


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_gives_identical_answers(
    name: str, board: Dataset, tmp_path: Path
) -> None:
    model = fitted(name, board)
    model.save(tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    readers = [*block_readers("a")[:3], *block_readers("b")[:3], "nobody"]
    pd.testing.assert_frame_equal(loaded.recommend(readers, k=5), model.recommend(readers, k=5))
    books = ["a1", "b2", "a-new"]
    pd.testing.assert_frame_equal(loaded.similar_books(books, k=4), model.similar_books(books, k=4))
    assert not list(tmp_path.glob("*.pkl"))


@pytest.mark.parametrize("name", ALL)
def test_seeded_fits_are_reproducible(name: str, board: Dataset) -> None:
    readers = [*block_readers("a")[:5], *block_readers("b")[:5]]
    first = fitted(name, board, fresh=True).recommend(readers, k=5)
    second = fitted(name, board, fresh=True).recommend(readers, k=5)
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("name", ALL)
def test_similar_books_never_returns_the_book_or_its_work(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    books = [*block_books("a"), *block_books("b"), "a-new", "a0-second"]
    similar = model.similar_books(books, k=5)
    assert list(similar.columns) == SIMILAR_COLUMNS
    assert not (similar[C.BOOK_ID] == similar[C.SIMILAR_BOOK_ID]).any()
    for query in ("a0", "a0-second"):
        assert (
            not similar.loc[similar[C.BOOK_ID] == query, C.SIMILAR_BOOK_ID]
            .isin(["a0", "a0-second"])
            .any()
        )
    assert model.similar_books(["no-such-book"], k=5).empty


@pytest.mark.parametrize("name", COLLABORATIVE)
def test_similar_books_of_a_borrowed_book_stay_in_its_block(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    similar = model.similar_books(["a3", "b3"], k=5)
    assert similar.groupby(C.BOOK_ID).size().to_dict() == {"a3": 5, "b3": 5}
    for query, group in similar.groupby(C.BOOK_ID):
        assert group[C.SIMILAR_BOOK_ID].str.startswith(str(query)[0]).all()


@pytest.mark.parametrize("name", [*COLLABORATIVE, "content"])
def test_a_book_nobody_borrowed_gets_content_neighbours(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    similar = model.similar_books(["a-new"], k=5)
    assert len(similar) == 5
    assert similar[C.SIMILAR_BOOK_ID].str.startswith("a").all()


def _pair_fixture(board: Dataset, readers: int) -> Dataset:
    """`board` plus books x1, x2 that exactly `readers` readers borrowed together."""
    extra = pd.DataFrame(
        [
            (f"reader-b{i}", book, "loan", pd.Timestamp("2024-03-05", tz="UTC"), "main")
            for i in range(readers)
            for book in ("x1", "x2")
        ],
        columns=list(board.interactions.columns),
    )
    return Dataset.from_interactions(
        pd.concat([board.interactions, extra], ignore_index=True), board.catalog
    )


@pytest.mark.parametrize("name", COLLABORATIVE)
def test_min_pair_support_hides_pairs_of_too_few_readers(name: str, board: Dataset) -> None:
    data = _pair_fixture(board, readers=2)
    strict = fitted(name, data, min_pair_support=3).similar_books(["x1"], k=5)
    assert "x2" not in set(strict[C.SIMILAR_BOOK_ID])
    lenient = fitted(name, data, min_pair_support=2).similar_books(["x1"], k=30)
    assert "x2" in set(lenient[C.SIMILAR_BOOK_ID])


@pytest.mark.parametrize("name", COLLABORATIVE)
@pytest.mark.parametrize("bad", [1, 0, -3])
def test_min_pair_support_below_two_is_refused(name: str, bad: int) -> None:
    with pytest.raises(ValueError, match=r"min_pair_support must be an integer of at least 2"):
        build_model(name, min_pair_support=bad)


@pytest.mark.parametrize("name", PERSONAL)
def test_fold_in_history_moves_a_new_reader_to_their_block(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    before = model.recommend(["newcomer"], k=3)
    history = pd.DataFrame(
        {
            C.READER_ID: "newcomer",
            C.BOOK_ID: ["b1", "b2", "b3", "b4"],
            C.EVENT: "loan",
            C.TIMESTAMP: pd.Timestamp("2024-04-01", tz="UTC"),
        }
    )
    after = model.recommend(["newcomer"], k=3, history=history)
    assert before[C.BOOK_ID].tolist()[0] == "a0"  # popularity: no history yet
    assert after[C.BOOK_ID].str.startswith("b").all()
    assert not after[C.BOOK_ID].isin(history[C.BOOK_ID]).any()


@pytest.mark.parametrize("name", EXPLAINABLE)
def test_explanations_name_the_readers_own_books(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    reader = block_readers("a")[1]
    recs = model.recommend([reader], k=3)
    reasons = model.explain(reader, recs[C.BOOK_ID].tolist())
    assert set(reasons) == set(recs[C.BOOK_ID])
    own = borrowed(board, reader)
    assert any(reasons.values())
    for because in reasons.values():
        assert len(because) <= 3
        assert set(because) <= own
    assert model.explain("nobody", ["a1"]) == {"a1": []}


@pytest.mark.parametrize("name", sorted(set(ALL) - set(EXPLAINABLE)))
def test_a_model_that_cannot_explain_says_nothing(name: str, board: Dataset) -> None:
    model = fitted(name, board)
    reader = block_readers("a")[1]
    books = model.recommend([reader], k=3)[C.BOOK_ID].tolist()
    assert model.explain(reader, books) == {book: [] for book in books}


@pytest.mark.parametrize("name", ALL)
def test_unfitted_model_says_so(name: str) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        build_model(name).recommend(["r"], k=3)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad_k", [0, -1, 2.5, True])
def test_bad_k_is_refused(name: str, board: Dataset, bad_k: object) -> None:
    model = fitted(name, board)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        model.recommend(["r"], k=bad_k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be a positive integer"):
        model.similar_books(["a1"], k=bad_k)  # type: ignore[arg-type]


def test_every_model_uses_the_shared_ranking() -> None:
    assert all(issubclass(model, RankingRecommender) for model in MODELS.values())


def test_hybrid_keeps_its_weights_when_validation_is_too_small() -> None:
    from tests.models.conftest import checkerboard

    data = checkerboard()
    model = build_model("hybrid", **{**FAST_PARAMS["hybrid"], "tune_weights": True})
    model.fit(data)
    # 40 readers: too few validation readers to tune, so the given weights stay
    assert model.blend == build_model("hybrid", **FAST_PARAMS["hybrid"]).fit(data).blend


def test_hybrid_tuning_turns_on_the_part_that_predicts_the_next_loan() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    rows = []
    for reader in range(300):
        start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 60)))
        first = int(rng.integers(0, 20))
        for step in range(int(rng.integers(3, 12))):  # a series, in order, from any volume
            book = f"vol{(first + step) % 20}"
            rows.append((f"r{reader}", book, "loan", start + pd.Timedelta(days=7 * step), "main"))
    data = Dataset.from_interactions(
        pd.DataFrame(rows, columns=["reader_id", "book_id", "event", "timestamp", "library_id"])
    )
    only_popularity = {
        "als": 0.0,
        "readers": 0.0,
        "neighbours": 0.0,
        "sequence": 0.0,
        "content": 0.0,
        "popularity": 1.0,
    }
    params = {**FAST_PARAMS["hybrid"], "weights": only_popularity}
    tuned = build_model("hybrid", **params, tune_weights=True).fit(data)
    assert tuned.blend != only_popularity
    assert tuned.blend["popularity"] < max(
        w for part, w in tuned.blend.items() if part != "popularity"
    )
