"""A tiny library with canary reader ids, ingested and trained twice by the real nightly.

Every raw reader id of the sample is renamed to a recognisable canary (``NBCANARY-<n>``), so the
tests can search the executed notebooks and their HTML for any raw id, and for any pseudonym.
The second nightly (on the newest day's exports) leaves two runs, so notebook 5 compares two
different models.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from recsys.columns import Columns as C
from recsys.config import Settings
from recsys.curation import manage
from recsys.db.engine import make_engine
from recsys.db.tables import loans
from recsys.nightly.progress import Progress
from recsys.nightly.runner import run_nightly
from recsys.sample import SampleConfig, generate_library, write_library

CANARY = "NBCANARY-"
KEY = "notebook-test-key-" + "7" * 32
SITE_LOANS = 1_200


@dataclass(frozen=True)
class Site:
    """A library after two nightly runs, and the environment that points a kernel at it."""

    root: Path
    settings: Settings
    environ: dict[str, str]
    raw_ids: list[str]
    pseudonyms: list[str]


def _canary_library(exports: Path) -> list[str]:
    library = generate_library(SampleConfig(n_loans=SITE_LOANS, seed=5, feedback_share=0.5))

    def rename(ids: pd.Series) -> pd.Series:
        return ids.cat.rename_categories(lambda raw: CANARY + str(raw)[1:])

    library = dataclasses.replace(
        library,
        loans=library.loans.assign(**{C.READER_ID: rename(library.loans[C.READER_ID])}),
        views=library.views.assign(**{C.READER_ID: rename(library.views[C.READER_ID])}),
        feedback=library.feedback.assign(**{C.READER_ID: rename(library.feedback[C.READER_ID])}),
    )
    write_library(library, exports, split_last_days=1)
    return sorted(library.loans[C.READER_ID].astype(str).unique())


def _copy_exports(exports: Path, inbox: Path, *, newest_day: bool) -> None:
    for path in sorted(exports.rglob("*.csv.gz")):
        is_day = "--" not in path.name and path.parent.name in ("loans", "views")
        if is_day == newest_day or path.parent.name in ("catalog", "holdings"):
            target = inbox / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("notebook-site")
    values = {
        "RECSYS_DATA_DIR": str(root / "data"),
        "RECSYS_MODELS_DIR": str(root / "models"),
        "RECSYS_PSEUDONYM_KEY": KEY,
        "RECSYS_RETENTION_DAYS": "36500",
        "RECSYS_MAX_VOLUME_DROP": "1.0",
    }
    settings = Settings(
        _env_file=None, **{k.removeprefix("RECSYS_").lower(): v for k, v in values.items()}
    )
    raw_ids = _canary_library(root / "exports")
    _copy_exports(root / "exports", settings.inbox_dir, newest_day=False)
    code, summary = run_nightly(settings, progress=Progress("none"))
    assert code == 0, summary
    _copy_exports(root / "exports", settings.inbox_dir, newest_day=True)
    code, summary = run_nightly(settings, progress=Progress("none"))
    assert code in (0, 3), summary  # published, or refused with the first model kept
    engine = make_engine(settings)
    with engine.connect() as connection:
        pseudonyms = sorted(connection.execute(select(loans.c.reader_id).distinct()).scalars())
        borrowed = connection.execute(
            select(loans.c.book_id).group_by(loans.c.book_id).order_by(func.count().desc())
        ).scalars()
        most_borrowed = [next(borrowed), next(borrowed)]
    # a librarian's rule and reading list, for the curation notebook
    manage.add_rule(
        engine, kind="suppress", book_id=most_borrowed[0], created_by="anna", reason="damaged copy"
    )
    manage.save_reading_list(
        engine, list_id="winter", title="Winter reads", books=most_borrowed, created_by="anna"
    )
    engine.dispose()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    environ.update(values, OPENBLAS_NUM_THREADS="1")
    return Site(root, settings, environ, raw_ids, pseudonyms)
