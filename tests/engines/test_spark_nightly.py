"""The nightly with the Spark engine: from the store (a SQLite snapshot, or PostgreSQL through
JDBC) to a published bundle the service serves; and what happens when Spark cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.mark.slow
def test_a_spark_nightly_publishes_a_bundle_the_service_serves(
    spark: SparkSession, publish_sample: Callable[..., tuple[Settings, Bundle]], engine: Engine
) -> None:
    library = generate_library(SampleConfig(n_loans=2_500, n_members=3, seed=11))
    settings, bundle = publish_sample(library, engine="spark", consortium=True)
    manifest = bundle.manifest
    assert manifest["model"]["name"] == "spark_als"
    assert manifest["engine"]["name"] == "spark"
    members = sorted(library.holdings["library_id"].astype(str).unique())
    assert manifest["consortium"] == {"members": members, "pooled": members}
    assert manifest["data"]["readers"] == len(bundle.model.known_readers()) > 100
    metrics = json.loads((bundle.path / "metrics.json").read_text())
    assert 0 < metrics["models"]["candidate"]["metrics"]["ndcg@10"] <= 1
    assert metrics["split"]["test_readers"] > 0
    # the snapshot of readers' histories is gone with the run
    assert not list(settings.resolved_spark_work_dir.glob("snapshot-*"))

    served = build_served(bundle, engine, min_readers=settings.min_pair_support)
    rules = no_rules(len(served.catalog))
    query = ListQuery(k=5)
    reader = str(bundle.model.known_readers()[0])
    book = str(served.catalog.book_ids[served.popular.fallback_order[0]])
    lists = {
        "reader": pipeline.reader_list(
            served, rules, reader=reader, history=EMPTY_HISTORY, query=query
        ),
        "book": pipeline.book_list(served, rules, book_id=book, query=query),
        "session": pipeline.session_list(served, rules, viewed=[book], query=query),
        "popular": pipeline.popular_list(served, rules, query=query),
    }
    assert {kind: len(made.positions) for kind, made in lists.items()} == dict.fromkeys(lists, 5)
    assert lists["reader"].strategy == pipeline.PERSONALIZED
    assert lists["book"].strategy == pipeline.COLLABORATIVE
    # a member's list longer than its shelves: its own records first, then other members', one
    # record per work
    member = members[-1]
    shelves = int((library.holdings["library_id"] == member).sum())
    ranked = pipeline.reader_list(
        served,
        rules,
        reader=reader,
        history=EMPTY_HISTORY,
        query=ListQuery(ListFilters(library=member), k=shelves + 5),
    )
    listed = list(items(served, ranked))
    holders = library.holdings.groupby("book_id")["library_id"].agg(set)
    where = [item["availability"] for item in listed]
    assert where == [
        "local" if member in holders[item["book_id"]] else "consortium" for item in listed
    ]
    assert where == sorted(where, key=lambda w: w != "local") and "consortium" in where
    works = bundle.catalog.set_index("book_id")["work_id"]
    assert len({works[item["book_id"]] for item in listed}) == len(listed)


def test_train_with_the_spark_engine_and_no_java_says_what_to_install(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "JAVA_"))}
    environ.update(
        RECSYS_DATA_DIR=str(tmp_path / "data"),
        RECSYS_MODELS_DIR=str(tmp_path / "models"),
        RECSYS_PSEUDONYM_KEY="k" * 40,
        JAVA_HOME=str(tmp_path / "no-java"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "train", "--engine", "spark"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "recsys train: error: the spark engine needs Java 17, and no java was found on PATH or "
        "in JAVA_HOME: install Debian's openjdk-17-jre-headless (`bash .ci/java.sh` installs it)"
    )
