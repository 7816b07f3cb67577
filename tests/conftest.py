"""Root fixtures: isolated settings and a migrated database (SQLite file, and PostgreSQL if set).

PostgreSQL tests run when ``RECSYS_TEST_POSTGRES_URL`` names a server (CI sets it); each test
gets its own freshly created schema, so concurrent test runs never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymarc
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from recsys.artifacts import Bundle, load_current
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.erasure import latest_erasure
from recsys.exceptions import EngineUnavailableError
from recsys.nightly.progress import Progress
from recsys.nightly.runner import EXIT_PUBLISHED, run_nightly
from recsys.sample import SampleLibrary, write_library

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Property tests check rules, not speed (speed lives in `make bench`): no per-example deadline,
# which a loaded CI machine would otherwise turn into failures of correct code.
hypothesis_settings.register_profile("recsys", deadline=None)
hypothesis_settings.load_profile("recsys")

POSTGRES_URL_VARIABLE = "RECSYS_TEST_POSTGRES_URL"
REQUIRE_SPARK = "RECSYS_TEST_REQUIRE_SPARK"
TEST_KEY = "0123456789abcdef" * 4  # 64 characters


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with temporary data/models folders and a key passed directly (no env, no .env)."""
    return Settings(
        _env_file=None,
        database_url=None,
        data_dir=tmp_path / "data",
        models_dir=tmp_path / "models",
        pseudonym_key=TEST_KEY,
        pseudonym_key_file=tmp_path / "secrets" / "absent.key",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file under tmp, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(settings)
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set, so no PostgreSQL server is configured")
    yield from _postgres_engine(url)


@pytest.fixture
def db_settings(settings: Settings, engine: Engine) -> Settings:
    """`settings` whose database URL points at the `engine` fixture's database (for the CLI)."""
    url = engine.url.render_as_string(hide_password=False)
    return settings.model_copy(update={"database_url": url})


def _postgres_engine(url: str) -> Iterator[Engine]:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(
        Settings(_env_file=None, database_url=scoped.render_as_string(hide_password=False))
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def publish_sample(db_settings: Settings, engine: Engine) -> Callable[..., tuple[Settings, Bundle]]:
    """Runs the nightly (in this process) on a generated library, with `db_settings` changed by
    the keyword arguments, and returns those settings and the published bundle."""

    def publish(library: SampleLibrary, **updates: Any) -> tuple[Settings, Bundle]:
        settings = db_settings.model_copy(
            update={"min_loans": 100, "max_volume_drop": 1.0, "retention_days": 36_500, **updates}
        )
        write_library(library, settings.inbox_dir)
        code, summary = run_nightly(settings, progress=Progress("none"))
        assert (code, summary.error) == (EXIT_PUBLISHED, None)
        bundle = load_current(Path(settings.models_dir), latest_erasure=latest_erasure(engine))
        return settings, bundle

    return publish


@pytest.fixture
def koha_biblios(tmp_path: Path) -> Path:
    """Binary MARC as Koha exports it: 001 holds a supplier's number, 999 $c the biblionumber
    (4711); the second record lacks 999."""
    records = []
    for control_number, biblionumber in (("ocm12345", "4711"), ("ocm67890", None)):
        record = pymarc.Record()
        record.leader = pymarc.Leader("00000nam a2200000 a 4500")
        record.add_field(
            pymarc.Field(tag="001", data=control_number),
            pymarc.Field(
                tag="245",
                indicators=pymarc.Indicators("0", "0"),
                subfields=[pymarc.Subfield("a", "Soup for every season.")],
            ),
        )
        if biblionumber is not None:
            record.add_field(
                pymarc.Field(
                    tag="999",
                    indicators=pymarc.Indicators(" ", " "),
                    subfields=[pymarc.Subfield("c", biblionumber), pymarc.Subfield("d", "77")],
                )
            )
        records.append(record)
    path = tmp_path / "biblios.mrc"
    path.write_bytes(b"".join(record.as_marc() for record in records))
    return path


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One small local Spark session for the whole test run; the Spark tests skip and say why
    when pyspark or Java 17 is missing (and fail instead under ``RECSYS_TEST_REQUIRE_SPARK``,
    as in CI, where `.ci/java.sh` installs Java)."""
    from recsys.engines.spark.session import check_engine, spark_session

    try:
        check_engine()
    except EngineUnavailableError as error:
        if os.environ.get(REQUIRE_SPARK):
            pytest.fail(f"{error} ({REQUIRE_SPARK} is set, so the Spark tests must run)")
        pytest.skip(str(error))
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("spark"),
        spark_master="local[2]",
        spark_driver_memory="1g",
    )
    session = spark_session(settings)
    # tiny fixtures: one task per shuffle, not Spark's 200
    session.conf.set("spark.sql.shuffle.partitions", "1")
    session.conf.set("spark.default.parallelism", "1")
    yield session
    session.stop()
