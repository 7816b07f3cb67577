"""Faults a nightly must survive, with real processes.

The SIGKILL tests run `recsys nightly --progress lines` and kill it as soon as a given progress
line appears (reading lines, no sleeps). Afterwards ``CURRENT`` names a complete, verifiable
bundle (or nothing was ever published), no export is half-ingested, no export is lost, and the
next run completes normally.
"""

from __future__ import annotations

import gzip
import sqlite3

import pytest
from sqlalchemy import func, insert, inspect, select

from recsys import artifacts
from recsys.db.engine import make_engine
from recsys.db.runs import list_runs
from recsys.db.tables import catalog, ingested_files, loans, views
from recsys.ingest import file_sha256

# (scenario, progress line that triggers the kill). "fresh": first run ever on the history;
# "published": a model is published and the newest day waits in the inbox.
FAST_POINTS = [
    ("fresh", "ingest: loans/loans-2024-11-21--2026-11-19.csv.gz: "),
    ("published", "ingest: stored loans/loans-2026-11-20.csv.gz"),
    ("published", "train: fitting"),
    ("published", "publish: switching CURRENT"),
]
SLOW_POINTS = [
    ("fresh", "nightly: run"),
    ("fresh", "ingest: reading catalog/"),
    ("fresh", "ingest: moved catalog/"),
    ("fresh", "ingest: stored holdings/"),
    ("fresh", "ingest: stored loans/"),
    ("fresh", "ingest: moved loans/"),
    ("fresh", "ingest: reading views/"),
    ("fresh", "ingest: stored views/"),
    ("fresh", "save: writing bundle"),
    ("fresh", "publish: switching CURRENT"),
    ("published", "ingest: moved catalog/"),
    ("published", "ingest: views/views-2026-11-20.csv.gz: "),
    ("published", "validate: retention applied"),
    ("published", "train: fitted"),
    ("published", "train: candidate: fit "),
    ("published", "evaluate: wrote metrics.json"),
    ("published", "save: bundle"),
    ("published", "gate: passed"),
    ("published", "publish: CURRENT is"),
    ("published", "publish: removed"),
]


def kill_at(site, marker: str) -> list[str]:
    """Start a nightly, SIGKILL it when a line containing `marker` appears; return the lines."""
    process = site.popen("nightly", "--progress", "lines")
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.kill()
            break
    process.wait()
    process.stdout.close()
    assert any(marker in line for line in seen), f"never saw {marker!r}:\n{''.join(seen)}"
    return seen


def export_contents(site) -> list[str]:
    """SHA-256 of every export under the inbox (new or processed) and the quarantine."""
    roots = [site.inbox, site.settings.quarantine_dir]
    return sorted(file_sha256(p) for root in roots if root.exists() for p in root.rglob("*.csv.gz"))


def assert_consistent(site) -> None:
    """CURRENT verifies; every stored file is whole; every processed file was stored."""
    current = artifacts.current_run_id(site.models)
    if current is not None:
        artifacts.verify_bundle(artifacts.run_path(site.models, current))
    engine = make_engine(site.settings)
    try:
        if not inspect(engine).has_table(ingested_files.name):  # killed before the schema
            assert not list((site.inbox / "processed").rglob("*.csv.gz"))
            return
        with engine.connect() as connection:
            files = connection.execute(select(ingested_files)).mappings().all()
            for table in (loans, views):
                stored = dict(
                    connection.execute(
                        select(table.c.file_id, func.count()).group_by(table.c.file_id)
                    ).all()
                )
                for row in files:
                    if row["kind"] == table.name:
                        assert stored.get(row["file_id"], 0) == row["rows_accepted"], row
                assert set(stored) <= {row["file_id"] for row in files}
    finally:
        engine.dispose()
    hashes = {(row["kind"], row["sha256"]) for row in files}
    for path in (site.inbox / "processed").rglob("*.csv.gz"):
        assert (path.parent.name, file_sha256(path)) in hashes, path


@pytest.fixture
def site(request: pytest.FixtureRequest, drop_exports):
    """``fresh``: a new install with the history in the inbox; ``published``: see conftest."""
    if request.param == "fresh":
        env = request.getfixturevalue("env")
        drop_exports(env.inbox, newest_day=False)
        return env
    return request.getfixturevalue("published")


def check_kill(site, marker: str) -> None:
    before_current = artifacts.current_run_id(site.models)
    before_contents = export_contents(site)
    kill_at(site, marker)
    after_kill = artifacts.current_run_id(site.models)
    assert after_kill in (before_current, *artifacts.list_runs(site.models))
    assert_consistent(site)
    assert export_contents(site) == before_contents
    result = site.run("nightly", "--progress", "none")
    assert result.returncode in (0, 3), result.stdout + result.stderr
    assert_consistent(site)
    assert artifacts.current_run_id(site.models) is not None
    assert not [p for p in site.inbox.glob("*/*") if p.parent.name != "processed"]
    assert export_contents(site) == before_contents
    statuses = list(list_runs(make_engine(site.settings))["status"])
    assert "running" not in statuses


@pytest.mark.parametrize(
    ("site", "marker"), FAST_POINTS, indirect=["site"], ids=[f"{s}-{m}" for s, m in FAST_POINTS]
)
def test_sigkill_then_next_run_completes(site, marker: str) -> None:
    check_kill(site, marker)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("site", "marker"), SLOW_POINTS, indirect=["site"], ids=[f"{s}-{m}" for s, m in SLOW_POINTS]
)
def test_sigkill_at_more_points(site, marker: str) -> None:
    check_kill(site, marker)


def test_truncated_export_is_set_aside(published, exports) -> None:
    current = artifacts.current_run_id(published.models)
    history = next((exports / "loans").glob("*--*.csv.gz")).read_bytes()
    target = published.inbox / "loans" / "loans-extra.csv.gz"
    target.write_bytes(history[: len(history) // 2])
    result = published.run("nightly", "--progress", "none")
    assert result.returncode == 1
    assert "rejected and set aside: loans/loans-extra.csv.gz" in result.stderr
    assert "Compressed file ended before the end-of-stream marker" in result.stderr
    quarantined = published.settings.quarantine_dir / "loans" / "loans-extra.csv.gz"
    assert quarantined.read_bytes() == history[: len(history) // 2]
    reason = quarantined.with_name("loans-extra.csv.gz.reason.txt").read_text()
    assert "Compressed file ended" in reason
    assert artifacts.current_run_id(published.models) == current
    assert_consistent(published)
    assert (published.inbox / "processed" / "loans" / "loans-2026-11-20.csv.gz").exists()


def test_export_with_20_percent_bad_rows_is_rejected(published) -> None:
    current = artifacts.current_run_id(published.models)
    rows = ["reader_id,book_id,borrowed_at"]
    rows += [f"R{i},B{i % 7},2026-11-20T10:{i % 60:02d}:00Z" for i in range(80)]
    rows += [f"R{i},B{i % 7},not-a-date" for i in range(20)]
    target = published.inbox / "loans" / "loans-bad.csv.gz"
    target.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    result = published.run("nightly", "--progress", "none")
    assert result.returncode == 1
    assert "loans/loans-bad.csv.gz" in result.stderr
    assert "20 of 100 rows are bad" in result.stderr
    assert (published.settings.quarantine_dir / "loans" / "loans-bad.csv.gz").exists()
    assert artifacts.current_run_id(published.models) == current
    engine = make_engine(published.settings)
    with engine.connect() as connection:
        names = set(connection.execute(select(ingested_files.c.file_name)).scalars())
    assert "loans-bad.csv.gz" not in names
    assert_consistent(published)


def test_empty_inbox_on_a_new_install_fails_clearly(env) -> None:
    result = env.run("nightly", "--progress", "lines")
    assert result.returncode == 1
    assert "ingest: no new exports in" in result.stdout
    assert "only 0 loan events are newer than the retention window of 36500 days" in result.stderr
    assert "; no loan is stored" in result.stderr
    assert artifacts.current_run_id(env.models) is None
    assert (env.inbox / "loans").is_dir()


def test_locked_database_fails_clearly_then_recovers(published) -> None:
    current = artifacts.current_run_id(published.models)
    blocker = sqlite3.connect(published.settings.data_dir / "recsys.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        result = published.run("nightly", "--progress", "lines")
    finally:
        blocker.close()
    assert result.returncode == 1
    assert "could not be written for 1s (RECSYS_DB_WAIT_SECONDS)" in result.stderr
    assert "database is locked" in result.stderr
    assert artifacts.current_run_id(published.models) == current
    assert (published.inbox / "loans" / "loans-2026-11-20.csv.gz").exists()
    again = published.run("nightly", "--progress", "none")
    assert again.returncode in (0, 3), again.stdout + again.stderr


def test_corrupt_candidate_bundle_is_refused(published) -> None:
    current = artifacts.current_run_id(published.models)
    train = published.run("train", "--progress", "none")
    assert train.returncode == 0, train.stderr
    run_id = max(set(artifacts.list_runs(published.models)) - {current})
    array = next((artifacts.run_path(published.models, run_id) / "model").rglob("*.npy"))
    data = bytearray(array.read_bytes())
    data[len(data) // 2] ^= 0xFF
    array.write_bytes(bytes(data))
    gate = published.run("gate", run_id)
    assert gate.returncode == 3
    assert f"The new model (run {run_id}) was not published: its files are damaged" in gate.stdout
    assert "does not match its SHA-256" in gate.stdout
    assert artifacts.current_run_id(published.models) == current


def test_corrupt_published_bundle_is_reported_and_replaced(published) -> None:
    current = artifacts.current_run_id(published.models)
    array = next((artifacts.run_path(published.models, current) / "model").rglob("*.npy"))
    array.write_bytes(array.read_bytes()[:100])
    result = published.run("nightly", "--progress", "lines")
    assert f"the published model (run {current}) cannot be loaded" in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    new = artifacts.current_run_id(published.models)
    assert new != current
    artifacts.verify_bundle(artifacts.run_path(published.models, new))


def test_rows_stored_with_an_over_long_id_are_left_out_and_the_nightly_still_trains(
    published,
) -> None:
    """Rows an older version stored before ids were checked: one book id of 200,000 characters
    (every book id of a model used to take its width) and a branch id of 1,000."""
    long_book, long_branch = "B" * 200_000, "L" * 1_000
    engine = make_engine(published.settings)
    try:
        with engine.begin() as connection:
            rows = connection.execute(select(loans).limit(3)).mappings().all()
            connection.execute(
                insert(loans),
                [
                    {**row, "loan_id": None, "book_id": book, "library_id": branch, "event": event}
                    for row in rows
                    for book, branch, event in (
                        (long_book, None, "loan"),
                        (row["book_id"], long_branch, "renewal"),
                    )
                ],
            )
            connection.execute(insert(catalog).values(book_id=long_book, title="Stored long ago"))
    finally:
        engine.dispose()

    result = published.run("nightly", "--progress", "lines")

    assert result.returncode in (0, 3), result.stdout + result.stderr
    assert (
        "validate: 7 stored rows have an id longer than 128 characters and are left out of "
        "training (loans 6, catalog 1)"
    ) in result.stdout
    assert "stored rows left out for an id too long: 7" in result.stdout
    run_id = max(artifacts.list_runs(published.models))
    bundle = artifacts.run_path(published.models, run_id)
    assert sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) < 5_000_000
    assert not [p for p in bundle.rglob("*") if p.is_file() and b"LLLLLLLLLL" in p.read_bytes()]
    assert not [p for p in bundle.rglob("*") if p.is_file() and b"BBBBBBBBBB" in p.read_bytes()]
