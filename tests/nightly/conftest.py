"""Fixtures for the nightly tests: a tiny generated library and isolated installations.

Runs of `recsys` are real subprocesses with their own settings (environment variables, working
directory = the test's tmp dir, so no `.env` of the repo is read). Tests get the helpers through
fixtures (`env`, `published`, `drop_exports`), since test modules cannot import each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recsys.config import Settings
from recsys.sample import SampleConfig, generate_library, write_library

KEY = "k" * 40
CLI = [sys.executable, "-m", "pipelines.cli"]


@dataclass
class Env:
    """One isolated installation: settings, environment and helpers to run the CLI."""

    root: Path
    settings: Settings
    environ: dict[str, str]

    @property
    def inbox(self) -> Path:
        return self.settings.inbox_dir

    @property
    def models(self) -> Path:
        return self.settings.models_dir

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env=self.environ,
            cwd=self.root,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, *args],
            env=self.environ,
            cwd=self.root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=1,
        )


def make_env(root: Path, **overrides: str) -> Env:
    values = {
        "RECSYS_DATA_DIR": str(root / "data"),
        "RECSYS_MODELS_DIR": str(root / "models"),
        "RECSYS_PSEUDONYM_KEY": KEY,
        "RECSYS_RETENTION_DAYS": "36500",
        "RECSYS_MIN_LOANS": "100",
        "RECSYS_MAX_VOLUME_DROP": "1.0",
        "RECSYS_DB_WAIT_SECONDS": "1",
        **overrides,
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    environ.update(values, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    settings = Settings(
        **{k.removeprefix("RECSYS_").lower(): v for k, v in values.items()}, _env_file=None
    )
    return Env(root=root, settings=settings, environ=environ)


def copy_exports(exports: Path, inbox: Path, *, newest_day: bool) -> None:
    """Drop the history (or only the newest day, plus catalog and holdings) into the inbox."""
    for path in sorted(exports.rglob("*.csv.gz")):
        is_day = "--" not in path.name and path.parent.name in ("loans", "views")
        if is_day == newest_day or path.parent.name in ("catalog", "holdings"):
            target = inbox / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


SAMPLE_LOANS = 1_500


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample library's exports: history files plus one day of new loans and views."""
    out = tmp_path_factory.mktemp("exports")
    library = generate_library(SampleConfig(n_loans=SAMPLE_LOANS, seed=7))
    write_library(library, out, split_last_days=1)
    return out


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture(scope="session")
def published_template(tmp_path_factory: pytest.TempPathFactory, exports: Path) -> Path:
    """A folder after one nightly on the history, with the newest day waiting in the inbox."""
    root = tmp_path_factory.mktemp("published")
    first = make_env(root)
    copy_exports(exports, first.inbox, newest_day=False)
    result = first.run("nightly", "--progress", "none")
    assert result.returncode == 0, result.stdout + result.stderr
    copy_exports(exports, first.inbox, newest_day=True)
    return root


@pytest.fixture
def published(tmp_path: Path, published_template: Path) -> Iterator[Env]:
    """A fresh copy of `published_template` (its own database, models and inbox)."""
    root = tmp_path / "site"
    shutil.copytree(published_template, root)
    yield make_env(root)


@pytest.fixture
def drop_exports(exports: Path) -> Callable[..., None]:
    """``drop_exports(inbox, newest_day=bool)`` copies sample exports into an inbox."""
    return lambda inbox, *, newest_day: copy_exports(exports, inbox, newest_day=newest_day)
