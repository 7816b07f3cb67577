"""A catalog without work_id, end to end: ingest derives the works, the default model and the
bundle's snapshot carry them, and no list holds a work twice or a work the reader borrowed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from recsys import artifacts
from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.consent import load_training_dataset
from recsys.ingest import ingest_file
from recsys.lists.catalog import CatalogIndex
from recsys.models.registry import build_model

EMMA = ("E1", "E2")  # two records of Emma, catalogued apart, no work_id


def _library(tmp_path: Path) -> tuple[Path, Path]:
    catalog = tmp_path / "catalog.csv"
    rows = ['E1,Emma /,"Austen, Jane, 1775-1817"', 'E2,EMMA,"Austen, Jane"']
    rows += [f"B{n},Book {n} /,Author {n}" for n in range(10)]
    catalog.write_text("book_id,title,author\n" + "\n".join(rows) + "\n", encoding="utf-8")
    loans = tmp_path / "loans.csv"
    lines = []
    for r in range(30):
        books = [EMMA[r % 2], f"B{r % 10}", f"B{(r + 1) % 10}"]
        lines += [f"R{r:02d},{book},2024-01-{day + 1:02d}" for day, book in enumerate(books)]
    loans.write_text("reader_id,book_id,borrowed_at\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return catalog, loans


def test_lists_group_records_into_the_works_ingest_derived(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    catalog_path, loans_path = _library(tmp_path)
    settings = settings.model_copy(update={"retention_days": 36_500})  # loans dated 2024
    ingest_file(engine, settings, kind="catalog", path=catalog_path)
    ingest_file(engine, settings, kind="loans", path=loans_path)
    dataset = load_training_dataset(engine, settings)
    model = build_model("hybrid", factors=2, iterations=20, random_state=0, min_pair_support=2)
    model.fit(dataset)
    path = artifacts.save_bundle(
        settings.models_dir,
        artifacts.new_run_id(),
        model,
        catalog=dataset.catalog,
        holdings=dataset.holdings,
        erasures_applied=0,
    )
    bundle = artifacts.load_bundle(path, latest_erasure=0)
    work = bundle.catalog.set_index(C.BOOK_ID)[C.WORK_ID]
    assert work["E1"] == work["E2"] and work.drop(list(EMMA)).nunique() == 10

    readers = list(dataset.readers)
    lists = bundle.model.recommend(readers, k=8)
    borrowed = dataset.interactions.groupby(C.READER_ID)[C.BOOK_ID].apply(set)
    for reader, books in lists.groupby(C.READER_ID)[C.BOOK_ID]:
        assert not set(EMMA) <= set(books), reader
        assert not set(EMMA) & set(books), reader  # every reader borrowed Emma in one record
        assert not set(books) & borrowed[reader], reader
    newcomer = bundle.model.recommend(["someone-new"], k=11)[C.BOOK_ID]
    assert len(newcomer) == 11 and len(set(newcomer) & set(EMMA)) == 1
    similar = bundle.model.similar_books(["E1"], k=11)[C.SIMILAR_BOOK_ID]
    assert "E2" not in set(similar)

    index = CatalogIndex(bundle.catalog, pd.DataFrame(columns=[C.BOOK_ID, C.LIBRARY_ID]))
    assert sorted(index.book_ids[index.editions(["E2"])]) == list(EMMA)
    assert index.titles[index.position["E1"]] == "Emma"
