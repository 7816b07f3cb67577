"""`/metrics` under `recsys serve --workers 2` counts the requests of every worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine

from recsys.config import Settings
from recsys.service.metrics_files import ENVIRONMENT_VARIABLE, PREFIX

from .service_library import PSEUDONYM_KEY, READER_KEY, free_port, metric_value, wait_until

CLI = [sys.executable, "-m", "pipelines.cli"]
WORKERS = 2
LIVE = {"route": "/health/live", "method": "GET", "status": "200"}
#: Fresh connections in a row that must all find a ready worker.
READY_IN_A_ROW = 12
BATCH = 50
MAX_REQUESTS = 5_000
#: Seconds a worker may take to start (imports, model load), or a server to stop meanwhile.
STARTING_DEADLINE = 120.0


def worker_pids(directory: Path) -> list[int]:
    """The process ids of the workers that wrote counts, from their files' names."""
    return sorted(int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("counter_*.db"))


def live_counts_per_worker(directory: Path) -> list[float]:
    """The `/health/live` requests each worker process counted, from its own file."""
    counts = []
    for path in sorted(directory.glob("counter_*.db")):
        for metric in MultiProcessCollector.merge([str(path)]):
            counts += [
                s.value
                for s in metric.samples
                if s.name == "recsys_http_requests_total" and s.labels == LIVE
            ]
    return counts


@contextlib.contextmanager
def served_by_workers(service_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`recsys serve --workers 2` on a free port; yields its URL and its temporary directory."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RECSYS_") and k != ENVIRONMENT_VARIABLE
    }
    environ.update(
        RECSYS_DATA_DIR=str(service_settings.data_dir),
        RECSYS_MODELS_DIR=str(service_settings.models_dir),
        RECSYS_PSEUDONYM_KEY=PSEUDONYM_KEY,
        RECSYS_API_KEYS=f"{READER_KEY}:reader",
        RECSYS_API_KEYS_FILE=str(tmp_path / "absent"),
        TMPDIR=str(temporary),
    )
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*CLI, "serve", "--workers", str(WORKERS), "--port", str(port)],
            env=environ,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"

        def every_worker_ready() -> bool:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                return all(
                    httpx.get(f"{base}/health/ready", timeout=5).status_code == 200
                    for _ in range(READY_IN_A_ROW)
                )
            except httpx.TransportError:
                return False

        try:
            wait_until(
                every_worker_ready,
                what="both workers to serve the model",
                deadline=STARTING_DEADLINE,
            )
            yield base, temporary
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=STARTING_DEADLINE)  # a worker still starting stops after it


@pytest.mark.slow
def test_a_scrape_counts_the_requests_of_every_worker(
    library: Engine, service_settings: Settings, tmp_path: Path
) -> None:
    with served_by_workers(service_settings, tmp_path) as (base, temporary):
        [directory] = temporary.glob(f"{PREFIX}*")
        sent = 0
        while sum(count > 0 for count in live_counts_per_worker(directory)) < WORKERS:
            assert sent < MAX_REQUESTS, "the requests never reached both workers"
            for _ in range(BATCH):  # a fresh connection each: any worker may take it
                assert httpx.get(f"{base}/health/live").status_code == 200
            sent += BATCH
        # a request is counted just after its answer is sent
        wait_until(lambda: sum(live_counts_per_worker(directory)) == sent, what="the counts")
        for _ in range(READY_IN_A_ROW):  # whichever worker answers the scrape
            scrape = httpx.get(f"{base}/metrics").text
            assert metric_value(scrape, "recsys_http_requests_total", **LIVE) == sent

        dead = worker_pids(directory)[0]  # a worker dies; uvicorn starts another
        os.kill(dead, signal.SIGKILL)
        # a new worker imports and loads for seconds, tens of them on a busy machine
        wait_until(
            lambda: len(worker_pids(directory)) > WORKERS,
            what="the worker's restart",
            deadline=STARTING_DEADLINE,
        )

        def gauges_dropped() -> bool:
            scrape = httpx.get(f"{base}/metrics", timeout=5).text
            return not any(directory.glob(f"gauge_live*_{dead}.db")) and (
                metric_value(scrape, "recsys_http_requests_total", **LIVE) == sent
            )

        wait_until(gauges_dropped, what="the dead worker's gauges to go, its counts staying")
    assert not directory.exists()  # each start gets a fresh one, removed when serving stops


def test_a_multiprocess_directory_set_too_late_is_refused(tmp_path: Path) -> None:
    """prometheus-client picks its mode on import: a directory set later would go unread."""
    script = (
        "import os, prometheus_client\n"
        f"os.environ[{ENVIRONMENT_VARIABLE!r}] = {str(tmp_path)!r}\n"
        "from recsys.service.metrics import Metrics\n"
        "Metrics()\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != ENVIRONMENT_VARIABLE}
    result = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert (
        "ConfigurationError: PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was "
        "imported, so each worker would count alone" in result.stderr
    )
