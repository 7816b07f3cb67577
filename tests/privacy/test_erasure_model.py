"""After an erasure, the next model equals (fixed seed) one trained on data that never had the
reader: nothing of them survives in the factors, the lists or the also-borrowed links."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import artifacts
from recsys.array_files import load_arrays
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.erasure import forget_reader
from recsys.ingest import ingest_file
from recsys.models.base import ARRAYS_DIR, Recommender
from recsys.models.registry import default_model
from recsys.nightly import steps
from recsys.sample import write_library


def _next_model(settings: Settings, engine) -> Recommender:
    """What the nightly would train: its own loading step, the configured default model."""
    dataset = steps.load_data(settings, steps.RunContext(artifacts.new_run_id(), engine))
    return default_model(settings).fit(dataset)


def _arrays(model: Recommender, folder: Path) -> dict[str, np.ndarray]:
    model.save(folder)
    return load_arrays(folder / ARRAYS_DIR)


def _lists(model: Recommender, readers: list[str], books: list[str]) -> tuple[pd.DataFrame, ...]:
    return model.recommend(readers, k=10), model.similar_books(books, k=10)


def test_next_model_equals_one_trained_without_the_reader(site, tmp_path: Path) -> None:
    raw = site.busiest_readers(1)[0]
    others = [site.pseudonym(r) for r in site.busiest_readers(6)[1:]]
    books = site.library.loans[C.BOOK_ID].astype(str).value_counts().index[:20].tolist()
    before = _next_model(site.settings, site.engine)

    forget_reader(site.engine, pseudonym=site.pseudonym(raw))
    after = _next_model(site.settings, site.engine)

    # The same library, exported without the reader, into a store that never saw them.
    library = site.library
    never_had = dataclasses.replace(
        library,
        loans=library.loans[library.loans[C.READER_ID].astype(object) != raw],
        views=library.views[library.views[C.READER_ID].astype(object) != raw],
    )
    exports = write_library(never_had, tmp_path / "exports")
    clean = site.settings.model_copy(update={"data_dir": tmp_path / "clean"})
    engine = make_engine(clean)
    upgrade(engine)
    for kind in ("catalog", "holdings", "loans", "views"):
        for path in exports[kind]:
            ingest_file(engine, clean, kind=kind, path=path)
    reference = _next_model(clean, engine)
    engine.dispose()

    assert site.pseudonym(raw) not in set(after.readers_.ids)
    after_arrays = _arrays(after, tmp_path / "a")
    reference_arrays = _arrays(reference, tmp_path / "r")
    assert after_arrays and after_arrays.keys() == reference_arrays.keys()
    for name, values in after_arrays.items():
        np.testing.assert_array_equal(values, reference_arrays[name], err_msg=name)
    for got, expected in zip(
        _lists(after, others, books), _lists(reference, others, books), strict=True
    ):
        pd.testing.assert_frame_equal(got, expected)
    # ... and the comparison can tell: the model trained before the erasure differs.
    before_arrays = _arrays(before, tmp_path / "b")
    assert any(
        before_arrays[name].shape != values.shape or not np.array_equal(before_arrays[name], values)
        for name, values in reference_arrays.items()
    )
