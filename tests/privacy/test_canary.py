"""The canary leak test: fake card numbers go in at the door and must come out nowhere.

Every reader of a generated library gets a recognisable raw id (``CANARY-7f3a9-<n>``). The test
ingests the exports (plus a feedback export, a consent export with reader categories and bad
rows), runs the nightly, the privacy commands (a reader's data export among them), and the
service under `recsys serve` on loopback with a few hundred requests (good and bad ones: lists,
feedback given and taken back, exclusions, profiles and data exports in JSON and CSV) and a
bounded schema fuzz whose reader ids are canaries. Then it searches every captured output:
process logs, response bodies and headers, `/metrics`, every file under the data and models
directories (decompressing gzip and reading `.npz` arrays) and a dump of every table.

Expected: no canary raw id anywhere (a reader's profile and export never echo their own); canary
pseudonyms only in the store's reader tables (and, as reader labels, in the model files that
serve them), never in a log, metric, body, export or report. The library's own export files (the
inbox, and rejected exports set aside as they came) are the input and are not searched.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from sqlalchemy import select

from pipelines.cli import main
from recsys.columns import Columns as C
from recsys.config import Settings, get_settings, write_key_file
from recsys.db.engine import make_engine
from recsys.db.tables import metadata
from recsys.privacy import Pseudonymizer
from recsys.sample import SampleConfig, generate_library, write_library

pytestmark = pytest.mark.slow

CANARY = "CANARY-7f3a9-"
KEY = b"canary-test-key-" + b"5" * 48
READER_KEY = "canary-reader-key-0123456789"
ADMIN_KEY = "canary-admin-key-0123456789"
CLI = [sys.executable, "-m", "pipelines.cli"]
PSEUDONYM_TABLES = {
    "loans",
    "views",
    "consent",
    "reader_feedback",
    "reader_exclusions",
    "reader_categories",
}
READY_DEADLINE = 120.0
HEX32 = re.compile(rb"[0-9a-f]{32}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _canary_library(inbox: Path) -> list[str]:
    """Write the canary library's exports into `inbox`; return every canary raw id."""
    library = generate_library(SampleConfig(n_loans=800, seed=23, feedback_share=0.3))

    def rename(ids: pd.Series) -> pd.Series:
        return ids.cat.rename_categories(lambda raw: CANARY + str(raw)[1:])

    library = dataclasses.replace(
        library,
        loans=library.loans.assign(**{C.READER_ID: rename(library.loans[C.READER_ID])}),
        views=library.views.assign(**{C.READER_ID: rename(library.views[C.READER_ID])}),
        feedback=library.feedback.assign(**{C.READER_ID: rename(library.feedback[C.READER_ID])}),
    )
    write_library(library, inbox)
    readers = sorted(library.loans[C.READER_ID].astype(str).unique())
    (inbox / "consent").mkdir(parents=True, exist_ok=True)
    answers = "\n".join(
        f"{r},{'no' if i % 5 == 0 else 'yes'},{'child' if i % 3 == 0 else 'adult'}"
        for i, r in enumerate(readers[:30])
    )
    (inbox / "consent" / "consent.csv").write_text(
        f"reader_id,consented,reader_category\n{answers}\n"
    )
    good = [f"{CANARY}{9000000 + i},B-EXTRA-{i},2026-11-01" for i in range(38)]
    bad = [f"{CANARY}9999998,,2026-11-01", f"{CANARY}9999999,B1,not-a-date"]
    (inbox / "loans" / "zz-late.csv").write_text(
        "reader_id,book_id,borrowed_at\n" + "\n".join(good + bad) + "\n"
    )
    (inbox / "loans" / "zz-broken.csv").write_text(
        "reader_id,book_id,borrowed_at\n" + "\n".join(bad * 5) + "\n"
    )
    return readers


def _environ(root: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    environ.update(
        RECSYS_DATA_DIR=str(root / "data"),
        RECSYS_MODELS_DIR=str(root / "models"),
        RECSYS_PSEUDONYM_KEY_FILE=str(root / "secrets" / "pseudonym.key"),
        RECSYS_API_KEYS=f"{READER_KEY}:reader,{ADMIN_KEY}:admin",
        RECSYS_API_KEYS_FILE=str(root / "secrets" / "absent"),
        RECSYS_RETENTION_DAYS="36500",
        RECSYS_MAX_VOLUME_DROP="1.0",
        RECSYS_MODEL_POLL_SECONDS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return environ


def _run(root: Path, *args: str) -> str:
    result = subprocess.run(
        [*CLI, *args],
        env=_environ(root),
        cwd=root,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _load(base: str, readers: list[str]) -> list[httpx.Response]:
    """A few hundred requests: per-reader lists, admin changes and bad requests of every kind."""
    reader, admin = {"X-API-Key": READER_KEY}, {"X-API-Key": ADMIN_KEY}
    unknown = [f"{CANARY}unknown-{i}" for i in range(30)]
    responses: list[httpx.Response] = []
    with httpx.Client(base_url=base, timeout=30) as http:
        books = [i["book_id"] for i in http.get("/popular", params={"k": 20}).json()["items"]]
        for i, raw in enumerate(readers[:70] + unknown):
            params: dict[str, str | int] = {"k": 1 + i % 20}
            if i % 3 == 0:
                params["audience"] = "adult"
            if i % 4 == 0:
                params.update(library="central", available_only="true")
            responses.append(
                http.get(f"/readers/{raw}/recommendations", params=params, headers=reader)
            )
        for i in range(60):
            raw = readers[i % len(readers)]
            bad: list[tuple[dict[str, str | int], dict[str, str]]] = [
                ({"k": 0}, reader),
                ({"k": 1000}, reader),
                ({"k": "ten"}, reader),
                ({"audience": "dragons"}, reader),
                ({}, {}),
                ({}, {"X-API-Key": "wrong"}),
                ({"library": "x" * 500}, reader),
                ({"exclude": "y" * 500}, reader),
            ]
            params, headers = bad[i % len(bad)]
            responses.append(
                http.get(f"/readers/{raw}/recommendations", params=params, headers=headers)
            )
        for raw in (CANARY + "9" * 300, CANARY + "ü ß/..", CANARY + "%00", CANARY + "'; --"):
            responses.append(http.get(f"/readers/{raw}/recommendations", headers=reader))
        for i in range(30):
            raw = readers[-(i % len(readers)) - 1]
            responses.append(
                http.put(
                    f"/admin/readers/{raw}/consent", json={"consented": i % 2 == 0}, headers=admin
                )
            )
            responses.append(
                http.put(
                    f"/admin/readers/{raw}/consent",
                    json={"consented": "maybe", "note": raw},
                    headers=admin,
                )
            )
            responses.append(
                http.put(f"/admin/readers/{raw}/consent", json={"consented": False}, headers=reader)
            )
        for raw in readers[1:9]:
            responses.append(http.delete(f"/admin/readers/{raw}", headers=admin))
            responses.append(http.delete(f"/admin/readers/{raw}", headers=reader))
            responses.append(http.get(f"/readers/{raw}/recommendations", headers=reader))
        for i, raw in enumerate(readers[10:40]):
            book = books[i % len(books)]
            kind = ("not_interested", "already_read", "liked")[i % 3]
            feedback = f"/readers/{raw}/feedback"
            responses.append(
                http.post(feedback, json={"book_id": book, "kind": kind}, headers=reader)
            )
            responses.append(
                http.post(feedback, json={"book_id": raw, "kind": "liked"}, headers=reader)
            )
            responses.append(
                http.post(feedback, json={"book_id": book, "kind": raw}, headers=reader)
            )
            responses.append(http.post(feedback, json={"book_id": book, "kind": kind}))
            if i % 2:
                responses.append(http.delete(feedback, params={"book_id": book}, headers=reader))
                responses.append(http.delete(feedback, params={"book_id": raw}, headers=reader))
            exclusions = f"/readers/{raw}/profile/exclusions"
            responses.append(http.post(exclusions, json={"book_id": book}, headers=reader))
            responses.append(http.delete(exclusions, params={"book_id": raw}, headers=reader))
            responses.append(http.get(f"/readers/{raw}/profile", headers=reader))
            responses.append(http.get(f"/readers/{raw}/profile", headers=admin))
            for export_format in ("json", "csv", raw):
                responses.append(
                    http.get(
                        f"/readers/{raw}/export", params={"format": export_format}, headers=reader
                    )
                )
            responses.append(http.get(f"/readers/{raw}/recommendations", headers=reader))
        for book in books:
            responses.append(http.get(f"/books/{book}/similar", params={"k": 5}))
        responses.append(http.get("/books/NO-SUCH-BOOK/similar"))
        responses.append(
            http.post("/sessions/recommendations", json={"book_ids": books[:3], "k": 5})
        )
        responses.append(
            http.post(
                "/sessions/recommendations", json={"book_ids": books[:3], "reader_id": readers[0]}
            )
        )
        for path in ("/privacy", "/popular", "/version", "/health/ready", "/openapi.json"):
            responses.append(http.get(path))
    return responses


def _fuzz(base: str, readers: list[str]) -> list[str]:
    """A bounded schemathesis run whose reader ids are canaries; returns what it saw."""
    seen: list[str] = []
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=8,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            if case.path_parameters and "reader_id" in case.path_parameters:
                case.path_parameters["reader_id"] = readers[len(seen) % len(readers)]
            for key in (READER_KEY, ADMIN_KEY):
                response = case.call(base_url=base, headers={"X-API-Key": key}, timeout=30)
                seen.append(f"{response.status_code} {response.headers} {response.text}")

        fuzz()
    return seen


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        assert server.poll() is None, f"recsys serve exited: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # waiting for another process to load its model
    raise AssertionError(
        f"recsys serve was not ready within {READY_DEADLINE} s: {log.read_text()[-3000:]}"
    )


def _files(root: Path, *, exports: bool) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every file under `root`, gzip members and `.npz` arrays unpacked.

    With ``exports=False`` the library's own export files are left out: the inbox and rejected
    exports set aside in ``quarantine/<kind>/`` (their ``.reason.txt`` files are searched).
    """
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).parts
        if not exports and (
            relative[0] == "inbox"
            or (
                relative[0] == "quarantine"
                and len(relative) == 3
                and not path.name.endswith(".reason.txt")
            )
        ):
            continue
        data = path.read_bytes()
        yield str(path), data
        if path.suffix == ".gz":
            yield f"{path} (gunzip)", gzip.decompress(data)
        if path.suffix == ".npz":
            with (
                zipfile.ZipFile(io.BytesIO(data)) as archive,
                np.load(io.BytesIO(data), allow_pickle=False) as arrays,
            ):
                for name in archive.namelist():
                    yield f"{path}:{name}", archive.read(name)
                for name in arrays.files:
                    if arrays[name].dtype.kind in "US":
                        text = "\n".join(map(str, arrays[name].ravel().tolist()))
                        yield f"{path}:{name} (text)", text.encode()


def _table_dump(settings: Settings) -> dict[str, bytes]:
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return {
                table.name: "\n".join(
                    repr(tuple(row)) for row in connection.execute(select(table))
                ).encode()
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def test_no_canary_reader_id_leaks_anywhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    root = tmp_path
    settings = Settings(_env_file=None, data_dir=root / "data", models_dir=root / "models")
    write_key_file(root / "secrets" / "pseudonym.key", KEY)
    readers = _canary_library(settings.inbox_dir)
    pseudonyms = set(Pseudonymizer(KEY).pseudonymize_many(readers)).union(
        Pseudonymizer(KEY).pseudonymize_many(f"{CANARY}unknown-{i}" for i in range(30))
    )
    outputs: dict[str, bytes] = {}

    # In-process runs (their prints and log records are captured) ...
    for name, value in _environ(root).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    commands = {
        "nightly 1": (["nightly", "--progress", "lines"], None, 1),  # the broken export stops it
        "forget": (["forget", readers[-1]], None, 0),
        "forget -": (["forget", "-"], readers[-2] + "\n", 0),
        "consent": (["consent", readers[-3], "--no"], None, 0),
        "reader-export": (["reader-export", readers[4], "--format", "csv"], None, 0),
        "reader-export -": (["reader-export", "-"], readers[5] + "\n", 0),
    }
    for name, (argv, stdin, code) in commands.items():
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
        assert main(argv) == code, name
        captured = capsys.readouterr()
        outputs[name] = (captured.out + captured.err).encode()
    get_settings.cache_clear()
    outputs["in-process logs"] = caplog.text.encode()
    # ... and real processes: the second night publishes, then the service runs.
    outputs["nightly 2"] = _run(root, "nightly", "--progress", "lines").encode()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (root / "serve.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_environ(root),
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(base, server, root / "serve.log")
        responses = _load(base, readers)
        fuzzed = _fuzz(base, readers)
        metrics = httpx.get(f"{base}/metrics", timeout=10)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        log.close()
    outputs["serve log"] = (root / "serve.log").read_bytes()
    assert len(responses) >= 600 and len(fuzzed) >= 50
    profiles = [r for r in responses if r.url.path.endswith("/profile") and r.status_code == 200]
    exports = [r for r in responses if r.url.path.endswith("/export") and r.status_code == 200]
    assert len(profiles) == 30 and len(exports) == 60
    assert any(p.json()["feeding"] for p in profiles)  # the search is not vacuous
    assert sum(r.status_code == 201 for r in responses if r.url.path.endswith("/feedback")) == 30
    assert any(r.status_code == 422 for r in responses) and any(
        r.status_code in (401, 403) for r in responses
    )
    served_errors = [r for r in responses if r.status_code >= 500]
    assert not served_errors, (served_errors, outputs["serve log"][-8000:].decode())
    outputs["responses"] = "\n".join(
        f"{r.request.method} {r.status_code} {r.headers} {r.text}" for r in responses
    ).encode()
    outputs["fuzz"] = "\n".join(fuzzed).encode()
    outputs["metrics"] = metrics.text.encode()
    assert b"recsys_" in outputs["metrics"]

    files = dict(_files(settings.data_dir, exports=False))
    files.update(_files(settings.models_dir, exports=True))
    tables = _table_dump(settings)

    searched = {**outputs, **files, **{f"table {name}": dump for name, dump in tables.items()}}
    leaks = [name for name, data in searched.items() if CANARY.encode() in data]
    assert leaks == [], f"canary raw ids found in: {leaks}"

    def holds_pseudonym(data: bytes) -> bool:
        return any(match.decode() in pseudonyms for match in HEX32.findall(data))

    allowed = {f"table {name}" for name in PSEUDONYM_TABLES}
    database = {name for name in files if Path(name.split(" ")[0]).name.startswith("recsys.db")}
    model_files = {name for name in files if "/model/" in name}
    misplaced = [
        name
        for name, data in searched.items()
        if name not in allowed | database | model_files and holds_pseudonym(data)
    ]
    assert misplaced == [], f"canary pseudonyms outside the store's reader tables: {misplaced}"
    # The search is not vacuous: the pseudonyms are where the design puts them.
    assert holds_pseudonym(tables["loans"]) and holds_pseudonym(tables["consent"])
    for table in ("reader_feedback", "reader_exclusions", "reader_categories"):
        assert holds_pseudonym(tables[table]), table
