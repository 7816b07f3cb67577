"""What the librarians' rules change in the lists, for the curation notebook.

Lists of a sample of readers and of the most borrowed books are made by the list pipeline three
ways: with no rule, with every rule in force, and with each rule alone. A rule "touches" a list
when the list's books differ from the list without rules. Only counts leave this module: no
reader id, raw or pseudonymous.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from recsys import artifacts
from recsys.config import Settings
from recsys.curation.rules import CurationSet, Rule, no_rules
from recsys.curation.source import CurationSource
from recsys.db.engine import make_engine
from recsys.db.reader_state import consent_and_loans
from recsys.db.tables import loans
from recsys.erasure import latest_erasure
from recsys.lists import pipeline
from recsys.lists.history import LoanHistory
from recsys.lists.query import ListQuery
from recsys.lists.served import ServedModel, build_served


@dataclass(frozen=True)
class CurationReview:
    """Per rule in force, what it touches; coverage with and without the rules; the reading
    lists and how many of their books the served catalog holds."""

    rules: pd.DataFrame
    coverage: pd.DataFrame
    reading_lists: pd.DataFrame


def review_curation(
    settings: Settings,
    run_id: str | None = None,
    *,
    readers: int = 300,
    books: int = 300,
    k: int = 10,
    seed: int = 0,
) -> CurationReview:
    """Review the rules in force against the published model (or run `run_id`)."""
    models_dir = settings.models_dir
    engine = make_engine(settings)
    try:
        erasure = latest_erasure(engine)
        bundle = (
            artifacts.load_current(models_dir, latest_erasure=erasure)
            if run_id is None
            else artifacts.load_bundle(
                artifacts.run_path(models_dir, run_id), latest_erasure=erasure
            )
        )
        served = build_served(bundle, engine, min_readers=settings.min_pair_support)
        source = CurationSource(engine)
        source.refresh()
        histories = _sample_histories(engine, settings, served, readers, seed)
        found = list(source.rules())
        review = _review(served, source.current(served), found, histories, books, k)
        return CurationReview(review[0], review[1], _reading_lists(source, served))
    finally:
        engine.dispose()


def _sample_histories(
    engine: Engine, settings: Settings, served: ServedModel, size: int, seed: int
) -> list[tuple[str, LoanHistory]]:
    with engine.connect() as connection:
        everyone = sorted(connection.execute(select(loans.c.reader_id).distinct()).scalars())
    rng = np.random.default_rng(seed)
    chosen = rng.choice(everyone, size=min(size, len(everyone)), replace=False)
    found = []
    for pseudonym in chosen.tolist():
        history = consent_and_loans(engine, settings, reader_id=pseudonym)
        if history is not None:
            found.append((pseudonym, history))
    served.readers.prepare([pseudonym for pseudonym, _ in found])
    return found


def _review(
    served: ServedModel,
    every_rule: CurationSet,
    rules: list[Rule],
    histories: list[tuple[str, LoanHistory]],
    n_books: int,
    k: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    query = ListQuery(k=k)
    catalog = served.catalog
    book_ids = catalog.book_ids[served.popular.fallback_order[:n_books]].tolist()

    def lists(curation: CurationSet) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        personal = [
            tuple(
                catalog.book_ids[
                    pipeline.reader_list(
                        served, curation, reader=reader, history=history, query=query
                    ).positions
                ]
            )
            for reader, history in histories
        ]
        pages = [
            tuple(
                catalog.book_ids[
                    pipeline.book_list(served, curation, book_id=book, query=query).positions
                ]
            )
            for book in book_ids
        ]
        return personal, pages

    plain = lists(no_rules(len(catalog)))
    now = time.time()
    rows = []
    for rule in rules:
        alone = CurationSet([rule], catalog.position, len(catalog), store_version=0, now=now)
        personal, pages = lists(alone)
        rows.append(
            {
                "rule": rule.id,
                "what": rule.summary(),
                "in force": rule.active_at(now),
                "by": rule.created_by,
                "why": rule.reason,
                "reader lists touched": sum(
                    a != b for a, b in zip(personal, plain[0], strict=True)
                ),
                "book pages touched": sum(a != b for a, b in zip(pages, plain[1], strict=True)),
            }
        )
    curated = lists(every_rule)
    size = max(len(catalog), 1)
    coverage = pd.DataFrame(
        [
            {
                "lists": name,
                "reader lists": len({b for found in both[0] for b in found}) / size,
                "book pages": len({b for found in both[1] for b in found}) / size,
            }
            for name, both in (("without rules", plain), ("with the rules in force", curated))
        ]
    ).set_index("lists")
    columns = [
        "rule",
        "what",
        "in force",
        "by",
        "why",
        "reader lists touched",
        "book pages touched",
    ]
    table = pd.DataFrame(rows, columns=columns).set_index("rule")
    table.attrs["readers"], table.attrs["books"] = len(histories), len(book_ids)
    return table, coverage


def _reading_lists(source: CurationSource, served: ServedModel) -> pd.DataFrame:
    rows = [
        {
            "list": found.list_id,
            "title": found.title,
            "books": len(found.books),
            "in the served catalog": sum(book in served.catalog for book, _ in found.books),
            "by": found.created_by,
        }
        for found in source.reading_lists().values()
    ]
    return pd.DataFrame(rows, columns=["list", "title", "books", "in the served catalog", "by"])
