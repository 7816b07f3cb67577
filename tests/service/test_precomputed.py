"""Precomputed per-reader lists and the one-query history: the same answers as asking directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from recsys.artifacts import Bundle
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import set_consent
from recsys.db.queries import reader_history
from recsys.db.reader_state import consent_and_loans
from recsys.db.tables import views
from recsys.lists import pipeline
from recsys.lists.catalog import CatalogIndex, ListFilters
from recsys.lists.readers import READER_LIST_DEPTH, ReaderLists
from recsys.lists.served import ServedModel, build_served
from recsys.privacy import Pseudonymizer

from .service_library import PSEUDONYM_KEY, Trained
from .service_oracle import FILTER_CASES


def test_a_batch_scored_list_is_the_models_list(trained: Trained) -> None:
    model = trained.model
    precomputed = ReaderLists(model, CatalogIndex(trained.catalog, trained.holdings))
    readers = model.readers_.ids.tolist()  # type: ignore[attr-defined]
    assert len(precomputed) == len(readers) > 0
    for reader in readers:
        positions, scores, count = precomputed.get(precomputed.index[reader], timeout=60)
        direct = model.recommend([reader], k=READER_LIST_DEPTH)
        assert count == len(direct)
        book_ids = precomputed._catalog.book_ids[positions].tolist()
        assert book_ids == direct[C.BOOK_ID].tolist()
        np.testing.assert_allclose(scores, direct[C.SCORE].to_numpy(), rtol=1e-6)
    assert precomputed.complete


def test_background_precompute_fills_every_list(trained: Trained) -> None:
    served = build_served_without_db(trained)
    served.readers.start_background()
    served.readers._thread.join(timeout=120)  # type: ignore[union-attr]
    assert served.readers.complete and served.similar.done == len(served.similar)


@pytest.mark.parametrize("params", FILTER_CASES)
def test_reader_lists_from_precomputed_rows_match_the_model(
    trained: Trained, params: dict[str, object]
) -> None:
    served = build_served_without_db(trained)
    filters = ListFilters(**{k: v for k, v in params.items() if k != "exclude"})
    for reader in trained.model.readers_.ids.tolist()[:10]:  # type: ignore[attr-defined]
        eligible = served.catalog.eligible(filters)

        def shown(positions: np.ndarray, scores: np.ndarray) -> pipeline._Draft:
            draft = pipeline._Draft.of(positions, scores)
            return pipeline._shown(served, draft, eligible, filters, None)  # noqa: B023

        for k in (1, 5, 40):
            wanted = pipeline._Wanted(k, pipeline._fetch_size(served, eligible, k), eligible, shown)
            listed = pipeline._listed_reader_list(
                served, reader, served.readers.index[reader], wanted, cheap=False
            )
            direct = pipeline._model_reader_list(served, reader, None, wanted)
            assert listed.positions.tolist() == direct.positions.tolist(), (reader, params, k)


def build_served_without_db(trained: Trained) -> ServedModel:
    bundle = Bundle("test-run", Path("."), {}, trained.model, trained.catalog, trained.holdings)
    return build_served(bundle, None, min_readers=2)


def test_history_is_the_loans_in_one_query_and_honours_consent(
    library: Engine, service_settings: Settings
) -> None:
    reader = Pseudonymizer(PSEUDONYM_KEY.encode()).pseudonymize("R105")
    with library.begin() as connection:
        connection.execute(
            insert(views),
            [{"session_id": "s1", "book_id": "B999", "viewed_at": 1, "reader_id": reader}],
        )
    expected = reader_history(library, reader_id=reader)
    expected = expected[expected[C.EVENT] != "view"]
    history = consent_and_loans(library, service_settings, reader_id=reader)
    assert history is not None and len(history) == len(expected) > 0
    assert sorted(history.book_ids) == sorted(expected[C.BOOK_ID].tolist())
    assert (np.diff(history.seconds) >= 0).all()  # oldest first
    assert "B999" not in history.book_ids  # a view is not a borrowing
    set_consent(library, reader_id=reader, consented=False, at=10)
    assert consent_and_loans(library, service_settings, reader_id=reader) is None
    set_consent(library, reader_id=reader, consented=True, at=20)
    assert consent_and_loans(library, service_settings, reader_id=reader) is not None
    nobody = consent_and_loans(library, service_settings, reader_id="nobody")
    assert nobody is not None and len(nobody) == 0
