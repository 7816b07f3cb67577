"""A generated consortium through the nightly with the default engine: ingest derives one work
from the members' records, and a member's lists say where each title is available."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import Engine

from recsys.artifacts import Bundle
from recsys.config import Settings
from recsys.curation.rules import no_rules
from recsys.lists import pipeline
from recsys.lists.catalog import ListFilters
from recsys.lists.history import EMPTY_HISTORY
from recsys.lists.query import ListQuery
from recsys.lists.render import items
from recsys.lists.served import build_served
from recsys.sample import SampleConfig, generate_library

K = 10


@pytest.mark.slow
def test_a_generated_consortium_trains_one_model_with_local_and_consortium_titles(
    publish_sample: Callable[..., tuple[Settings, Bundle]], engine: Engine
) -> None:
    library = generate_library(SampleConfig(n_loans=4_000, n_members=4, seed=11))
    settings, bundle = publish_sample(library, consortium=True)
    members = sorted(library.holdings["library_id"].astype(str).unique())
    assert bundle.manifest["consortium"] == {"members": members, "pooled": members}
    # ingest derived the works from ISBNs, titles and authors: a work's records are one work
    truth = library.record_works
    assert truth is not None
    works = bundle.catalog.set_index("book_id")["work_id"].astype(str)
    pooled = works.reindex(truth.index).groupby(truth.to_numpy()).nunique()
    assert (pooled == 1).all()
    assert (truth.value_counts() > 1).sum() > 20  # works of several records

    served = build_served(bundle, engine, min_readers=settings.min_pair_support)
    holders = library.holdings.groupby("book_id")["library_id"].agg(set)
    member = members[-1]  # the smallest member: its readers' tastes reach beyond its shelves
    query = ListQuery(ListFilters(library=member), k=K)
    rules = no_rules(len(served.catalog))
    answered = 0
    for reader in bundle.model.known_readers()[:20].tolist():
        ranked = pipeline.reader_list(
            served, rules, reader=str(reader), history=EMPTY_HISTORY, query=query
        )
        assert ranked.strategy == pipeline.PERSONALIZED
        listed = pd.DataFrame(items(served, ranked))
        assert len(listed) == K
        expected = [
            "local" if member in holders[book] else "consortium" for book in listed["book_id"]
        ]
        assert listed["availability"].tolist() == expected
        local = (listed["availability"] == "local").to_numpy()
        assert not (~local[:-1] & local[1:]).any()  # the member's own titles come first
        assert listed["book_id"].map(works).is_unique  # one record per work
        answered += int((~local).any())
    assert answered > 0  # some lists reach other members' titles
