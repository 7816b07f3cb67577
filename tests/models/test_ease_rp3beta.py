"""EASE and RP3beta against their definitions, computed another way on small matrices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.models import rp3beta
from recsys.models.ease import EASERecommender, ease_weights, most_borrowed
from recsys.models.matrix import top_per_row
from recsys.models.rp3beta import RP3betaRecommender, rp3beta_similarity
from tests.models.conftest import checkerboard

LOANS = sparse.csr_matrix(
    np.array(
        [
            [1, 1, 0, 0],
            [1, 1, 1, 0],
            [0, 1, 1, 0],
            [1, 0, 1, 1],
            [0, 0, 1, 1],
        ],
        dtype=np.float32,
    )
)


def test_top_per_row_keeps_the_largest_entries_ties_to_the_lower_column() -> None:
    matrix = sparse.csr_matrix(np.array([[3.0, 1.0, 3.0, 2.0], [0.0, 5.0, 0.0, 0.0]]))
    kept = top_per_row(matrix, 2).toarray()
    assert kept.tolist() == [[3.0, 0.0, 3.0, 0.0], [0.0, 5.0, 0.0, 0.0]]


def test_ease_weights_solve_the_ridge_regression_of_each_book_on_the_others() -> None:
    l2 = 2.0
    weights = ease_weights(LOANS, l2)
    gram = (LOANS.T @ LOANS).toarray().astype(np.float64)
    assert np.all(np.diag(weights) == 0)
    for book in range(gram.shape[0]):
        others = [i for i in range(gram.shape[0]) if i != book]
        system = gram[np.ix_(others, others)] + l2 * np.eye(len(others))
        expected = np.linalg.solve(system, gram[others, book])
        np.testing.assert_allclose(weights[others, book], expected, rtol=1e-5, atol=1e-6)


def test_most_borrowed_picks_the_books_most_readers_borrowed_in_column_order() -> None:
    assert most_borrowed(LOANS, 2).tolist() == [0, 2]  # 2 has four readers; 0 and 1 tie at three
    assert most_borrowed(LOANS, 10).tolist() == [0, 1, 2, 3]


def test_ease_scores_only_the_books_it_models() -> None:
    board = checkerboard()
    model = EASERecommender(l2=1.0, max_books=5).fit(board)
    assert len(model.modelled_) == 5
    modelled = set(model.books_.ids[model.modelled_])
    recs = model.recommend(["reader-a1"], k=3)
    top = recs.loc[recs["score"] > 1e-6, "book_id"]
    assert set(top) <= modelled


@pytest.mark.parametrize(
    ("params", "message"),
    [({"l2": 0.0}, "l2 must be positive"), ({"max_books": 0}, "max_books must be a positive")],
)
def test_ease_refuses_bad_parameters(params: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EASERecommender(**params)  # type: ignore[arg-type]


def test_rp3beta_without_damping_is_the_two_step_walk_probability() -> None:
    similarity = rp3beta_similarity(LOANS, alpha=1.0, beta=0.0, neighbours=10).toarray()
    loans = LOANS.toarray().astype(np.float64)
    book_to_reader = loans.T / loans.T.sum(axis=1, keepdims=True)
    reader_to_book = loans / loans.sum(axis=1, keepdims=True)
    walk = book_to_reader @ reader_to_book
    np.fill_diagonal(walk, 0.0)
    np.testing.assert_allclose(similarity, walk, rtol=1e-6)


def test_rp3beta_damping_divides_by_the_destination_books_readers() -> None:
    plain = rp3beta_similarity(LOANS, alpha=1.0, beta=0.0, neighbours=10).toarray()
    damped = rp3beta_similarity(LOANS, alpha=1.0, beta=1.0, neighbours=10).toarray()
    readers = LOANS.toarray().sum(axis=0)
    np.testing.assert_allclose(damped, plain / readers[None, :], rtol=1e-6)


def test_rp3beta_keeps_its_strongest_neighbours_per_book() -> None:
    similarity = rp3beta_similarity(LOANS, alpha=1.0, beta=0.5, neighbours=1)
    assert np.diff(similarity.indptr).tolist() == [1, 1, 1, 1]


def test_rp3beta_refuses_a_neighbour_count_below_one() -> None:
    with pytest.raises(ValueError, match="neighbours must be a positive integer"):
        RP3betaRecommender(neighbours=0)


def test_rp3beta_in_blocks_equals_the_whole_product(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = rp3beta_similarity(LOANS, alpha=0.8, beta=0.4, neighbours=3).toarray()
    monkeypatch.setattr(rp3beta, "WALK_BLOCK_BOOKS", 1)
    blocked = rp3beta_similarity(LOANS, alpha=0.8, beta=0.4, neighbours=3).toarray()
    np.testing.assert_allclose(blocked, whole, rtol=1e-6)


def test_rp3beta_leaves_out_pairs_fewer_readers_borrowed_together() -> None:
    plain = rp3beta_similarity(LOANS, alpha=1.0, beta=0.0, neighbours=10).toarray()
    private = rp3beta_similarity(LOANS, alpha=1.0, beta=0.0, neighbours=10, min_readers=2)
    loans = LOANS.toarray()
    together = loans.T @ loans
    np.testing.assert_allclose(private.toarray(), np.where(together >= 2, plain, 0.0), rtol=1e-6)
    assert ((together == 1) & (plain > 0)).any()  # the rule removed something
