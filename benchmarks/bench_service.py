"""The service under wrk on generated libraries of 1M and 10M loans, on SQLite and PostgreSQL.

Per library size: generate, ingest (into a SQLite file, and into PostgreSQL up to
`POSTGRES_MAX_LOANS`), train the default model and publish it as the nightly does (its `lists`
step included). Then, in one run so that the ratios hold on a shared machine (the load average
is printed with each phase):

- a bare ASGI "hello" app (`benchmarks/hello_asgi.py`) on the same uvicorn and `WORKERS` workers:
  the stack's own limit;
- per database, `recsys serve` with `WORKERS` workers: seconds from start until every worker
  serves the model with every reader's and book's list ready, and until every worker has
  warmed the recent readers' lists (`recsys.service.warm`; the load phases start after it),
  then memory per worker (RSS, PSS, private), then a trivial endpoint (`/health/live`),
  per-book lists and per-reader lists at `CONNECTIONS` connections; then the per-reader load
  again while one reader objects (from this process, as another program writing the store
  would): seconds until every worker's answer changed; then, after the per-reader warm-up
  again (the consent given back is a write, and on SQLite a write drops every kept state), the
  per-reader load while the model is published `swaps` times, with the seconds from each
  publish until every worker serves it with every list ready, and memory after the swaps.

Each load phase also prints the workers' CPU milliseconds per request: on a machine whose speed
swings while other processes share its cores, the server's own cost per request is steadier
than its req/s, and the per-reader figure beside the hello app's says how much of the gap is
the app's work.

Targets (issue 27): per-reader >= 50% of the hello app and p99 < 20 ms on SQLite; >= 80% of the
trivial endpoint and p99 < 50 ms on PostgreSQL; per-book >= 80% of trivial; every worker's
private memory < 1 GiB and publish to every list ready < 2 minutes at 10M loans; per-reader
p99 during the swaps no worse than outside them; zero errors.

`RECSYS_BENCH_LOANS` chooses the sizes (comma-separated, default 1M and 10M loans) and
`RECSYS_BENCH_POSTGRES_URL` a PostgreSQL server (default: the one `.ci/postgres.sh` starts,
which this benchmark runs first; each run gets a schema of its own, dropped at the end).
`RECSYS_BENCH_SITE` names a folder that keeps each size's built library (its files, its SQLite
store, its published model and a PostgreSQL schema named after the size) so that the next run
with the same folder starts from the service phases instead of spending most of half an hour on
generating, ingesting and training again. The model in it is the one the first run trained: a
change to the model or the bundle format needs a fresh folder.
`RECSYS_BENCH_BASELINE` names the source tree of another commit (``git archive <commit> | tar
-x -C DIR``): each database is then served by that code first, then by this checkout's, on the
same library in the same run, and both are reported, so a before/after holds on a shared machine.
Each run published to a baseline is left as that code's nightly leaves it: rendered ahead by
its own render step, where it has one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from recsys import artifacts
from recsys.config import Settings
from recsys.consent import set_consent
from recsys.db.engine import make_engine
from recsys.db.queries import load_dataset
from recsys.db.schema import upgrade
from recsys.ingest import ingest_file
from recsys.lists.records import CatalogRecords
from recsys.lists.served import served_lists
from recsys.models.base import Recommender
from recsys.models.registry import default_model
from recsys.nightly import steps
from recsys.privacy import Pseudonymizer
from recsys.sample import SampleConfig, generate_library, write_library

#: Another commit's source tree, served before this checkout's on the same library (or None).
BASELINE = os.environ.get("RECSYS_BENCH_BASELINE")
SIZES = tuple(int(s) for s in os.environ.get("RECSYS_BENCH_LOANS", "1000000,10000000").split(","))
#: Libraries up to this size are also served from PostgreSQL (ingesting 10M loans into it
#: would take most of an hour of this benchmark; the service's database work per request does
#: not grow with the library).
POSTGRES_MAX_LOANS = int(os.environ.get("RECSYS_BENCH_POSTGRES_LOANS", "1000000"))
#: A folder keeping each size's built library between runs (or None: built afresh, then deleted).
SITE_DIR = os.environ.get("RECSYS_BENCH_SITE")
#: What a kept site records; written last, so a site whose building was cut short is rebuilt.
SITE_FILE = "site.json"
REPO = Path(__file__).resolve().parents[1]
WORKERS = 2
CONNECTIONS = 100
DURATION_S = 15
WARMUP_S = 10
#: Publishes during the per-reader load: fewer at 10M loans, where saving a bundle takes longer.
SWAPS = {1_000_000: 10}
BIG_LIBRARY_SWAPS = 3
#: Long enough that a slow answer shows as latency, not as a dropped request.
WRK_TIMEOUT = "30s"
API_KEY = "bench-reader-key-0123456789"
PSEUDONYM_KEY = "b" * 64
#: Distinct readers asked for; their lists are rendered once per model, then replayed.
READER_PATHS = 20_000
#: Distinct books asked for; per-book lists are rendered once per model, then replayed.
BOOK_PATHS = 2_000
#: How long the service may take to serve a model with every list ready before the benchmark
#: reports how far it got and goes on.
READY_DEADLINE_S = float(os.environ.get("RECSYS_BENCH_READY_DEADLINE", "1800"))
#: Consecutive answers that must agree: with several workers each connection may reach another.
AGREEING_ANSWERS = 12
MIB = 1024**2


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    load: str = ""
    state_reads: float | None = None  # readers' states read from the store during the phase
    cpu_ms: float | None = None  # the workers' CPU (user and system) per request, milliseconds


@dataclass
class Site:
    """A generated library in its stores, with a published model."""

    root: Path
    loans: int
    settings: Settings
    urls: dict[str, str]
    readers: list[str]
    books: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class Served:
    """Figures of one database's service."""

    database: str
    start_to_ready_s: float | None
    memory_after_start: list[dict[str, float]]
    results: dict[str, WrkResult]
    change_to_answer_s: float | None
    publish_to_ready_s: list[float | None]
    memory_after_swaps: list[dict[str, float]]
    start_to_warmed_s: float | None = None
    warmed_lists: float = 0.0


# ------------------------------------------------------------------------------------ tools
def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install wrk) ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


@contextlib.contextmanager
def postgres_schema(kept: str | None = None) -> Iterator[str]:
    """A URL of a schema on the PostgreSQL server: a fresh one, dropped afterwards, or the
    schema named `kept`, created if missing and left in place."""
    url = os.environ.get("RECSYS_BENCH_POSTGRES_URL")
    if url is None:
        subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh")], check=True)
        url = "postgresql+psycopg://recsys:recsys@127.0.0.1:5432/recsys_test"
    schema = kept or f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        if kept is None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def drop_schema_objects(url: str) -> None:
    """Empty the schema `url` points at (a kept site being rebuilt after an interrupted run)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def wait_for(check: Callable[[], bool], deadline: float, interval: float = 0.2) -> bool:
    """Whether `check()` came true before `deadline` seconds passed, asked every `interval`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if check():
                return True
        except httpx.TransportError:
            pass
        time.sleep(interval)  # polling another process
    return False


@cache
def polling() -> httpx.Client:
    """The client that asks the server how it is while wrk loads it. One client: a call of
    `httpx.get` builds a TLS context first, about 40 ms of this process's CPU, and polling with
    it took a core from the server under measure. No connection is kept, so consecutive asks
    may reach different workers (`all_agree`)."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=60)


def all_agree(check: Callable[[], bool]) -> bool:
    """`check()` holds on `AGREEING_ANSWERS` fresh connections in a row (every worker)."""
    return all(check() for _ in range(AGREEING_ANSWERS))


# ---------------------------------------------------------------------------- the library
def settings_for(root: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=root / "data",
        models_dir=root / "models",
        database_url=database_url,
        pseudonym_key=SecretStr(PSEUDONYM_KEY),
        api_keys_file=root / "no-api-keys",
    )


def build_site(root: Path, loans: int, postgres_url: str | None) -> Site:
    """Generate and ingest the library, train and publish its model; notes say what it cost."""
    started = time.perf_counter()
    library = generate_library(SampleConfig(n_loans=loans))
    paths = write_library(library, root / "exports")
    notes = [
        f"generated {len(library.loans):,} loan events in {time.perf_counter() - started:.0f} s"
    ]
    urls = {"sqlite": f"sqlite:///{root / 'bench.db'}"}
    if postgres_url is not None:
        urls["postgres"] = postgres_url
    for database, url in urls.items():
        started = time.perf_counter()
        engine = make_engine(settings_for(root, url))
        upgrade(engine)
        for kind in ("catalog", "holdings", "loans"):
            for path in paths[kind]:
                ingest_file(engine, settings_for(root, url), kind=kind, path=path)
        engine.dispose()
        notes.append(f"ingested into {database} in {time.perf_counter() - started:.0f} s")
    settings = settings_for(root, urls["sqlite"])
    started = time.perf_counter()
    engine = make_engine(settings)
    dataset = load_dataset(engine)
    engine.dispose()
    model = default_model(settings).fit(dataset)
    notes.append(
        f"trained {model.name} on {len(dataset.interactions):,} interactions "
        f"in {time.perf_counter() - started:.0f} s"
    )
    started = time.perf_counter()
    lists = served_lists(
        model,
        dataset.catalog,
        dataset.holdings,
        progress=lambda done: print(f"  the lists step: {done:,} readers' lists", flush=True),
    )
    notes.append(
        f"the nightly's lists step: {len(model.known_readers()):,} readers' and "
        f"{len(dataset.catalog):,} books' lists in {time.perf_counter() - started:.0f} s"
    )
    started = time.perf_counter()
    run_id = save_run(settings, model, dataset.catalog, dataset.holdings, lists)
    notes.append(f"bundle written in {time.perf_counter() - started:.0f} s")
    artifacts.publish(settings.models_dir, run_id, latest_erasure=0)
    rng = np.random.default_rng(0)
    readers = library.loans["reader_id"].astype(str).unique()
    books = library.catalog["book_id"].astype(str).to_numpy()
    return Site(
        root,
        loans,
        settings,
        urls,
        rng.choice(readers, READER_PATHS).tolist(),
        rng.choice(books, min(BOOK_PATHS, len(books)), replace=False).tolist(),
        notes,
    )


def save_run(
    settings: Settings,
    model: Recommender,
    catalog: pd.DataFrame,
    holdings: pd.DataFrame,
    lists: Mapping[str, np.ndarray] | None = None,
) -> str:
    """Save `model` as a new run with its lists, computed as the nightly does unless given."""
    run_id = artifacts.new_run_id()
    if lists is None:
        lists = served_lists(model, catalog, holdings)
    artifacts.save_bundle(
        settings.models_dir,
        run_id,
        model,
        catalog=catalog,
        holdings=holdings,
        erasures_applied=0,
        lists=lists,
    )
    return run_id


# ------------------------------------------------------------------------------------- wrk
def lua_script(path: Path, urls: list[str]) -> Path:
    quoted = ",\n".join(f'"{u}"' for u in urls)
    path.write_text(
        f'wrk.headers["X-API-Key"] = "{API_KEY}"\n'
        f"local paths = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  return wrk.format(nil, paths[(i % #paths) + 1])\n"
        "end\n"
    )
    return path


def wrk_command(wrk: str, base: str, script: Path, duration: int) -> list[str]:
    return [
        wrk,
        "-t",
        "2",
        "-c",
        str(CONNECTIONS),
        "-d",
        f"{duration}s",
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(script),
        base,
    ]


def run_wrk(wrk: str, base: str, script: Path, duration: int = DURATION_S) -> WrkResult:
    output = subprocess.run(
        wrk_command(wrk, base, script, duration),
        check=True,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    return parse_wrk(output)


@contextlib.contextmanager
def wrk_in_background(wrk: str, base: str, script: Path) -> Iterator[list[WrkResult]]:
    """wrk running while the block runs; its result is appended to the yielded list after."""
    results: list[WrkResult] = []
    process = subprocess.Popen(
        wrk_command(wrk, base, script, 3600), stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(2)  # wrk's connections open before the block acts
        yield results
    finally:
        process.send_signal(2)  # SIGINT: wrk prints its summary and exits
        output, _ = process.communicate(timeout=60)
        results.append(parse_wrk(output))


def parse_wrk(output: str) -> WrkResult:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if sockets:
        errors += sum(int(g) for g in sockets.groups())
    return WrkResult(
        float(rate.group(1)) if rate else 0.0,
        latency("50"),
        latency("99"),
        int(total.group(1)) if total else 0,
        errors,
        load_average(),
    )


# ------------------------------------------------------------------------------- a server
@contextlib.contextmanager
def server(
    command: list[str], env: dict[str, str], root: Path, log: str
) -> Iterator[tuple[str, int]]:
    """A server process on a free port; yields its base URL and process id."""
    port = free_port()
    with open(root / log, "w") as errors:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env={**os.environ, **env},
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def worker_pids(base_pid: int) -> list[int]:
    """The workers: the children of process `base_pid` that multiprocessing spawned, but not
    its resource tracker."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = status.read_text().rsplit(")", 1)[1].split()
            command = (status.parent / "cmdline").read_bytes()
            if (
                int(fields[1]) == base_pid
                and b"spawn_main" in command
                and b"resource_tracker" not in command
            ):
                found.append(int(status.parent.name))
    return found


def worker_memory(base_pid: int) -> list[dict[str, float]]:
    """RSS, PSS and private memory (MiB) of each worker."""
    found = [_smaps(pid) for pid in worker_pids(base_pid)]
    return [m for m in found if m]


def workers_cpu_s(base_pid: int) -> float:
    """CPU seconds (user and system) the workers have used so far: unlike req/s, a figure
    per request that other processes sharing the cores (wrk, PostgreSQL) do not move."""
    ticks = 0
    for pid in worker_pids(base_pid):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_ms_per_request(since_s: float, base_pid: int, result: WrkResult) -> float | None:
    """The workers' CPU milliseconds per request of `result`, counted from `since_s`."""
    used = workers_cpu_s(base_pid) - since_s
    return used * 1000 / result.requests if result.requests else None


def _smaps(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            values[name] = int(value.split()[0]) / 1024
    if not values:
        return {}
    return {
        "rss": values["Rss"],
        "pss": values["Pss"],
        "private": values["Private_Clean"] + values["Private_Dirty"],
    }


def metric_samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = text_string_to_metric_families(polling().get(f"{base}/metrics").text)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def every_list_ready(base: str, version: str) -> bool:
    """Every worker serves `version` (`/version` agrees) and every worker's gauges say all its
    per-reader and per-book lists are computed (`/metrics`: the slowest worker's counts)."""
    if not all_agree(
        lambda: polling().get(f"{base}/version").json().get("model_version") == version
    ):
        return False
    samples = metric_samples(base)
    served = [dict(labels).get("version") for (name, labels), v in samples.items() if v == 1]
    if (
        any(
            name == "recsys_model_info" and dict(labels).get("version") != version and value == 1
            for (name, labels), value in samples.items()
        )
        or version not in served
    ):
        return False
    counts = {
        (name, dict(labels)["kind"]): value
        for (name, labels), value in samples.items()
        if name in ("recsys_lists_precomputed", "recsys_lists_total")
    }
    kinds = {kind for _, kind in counts}
    return bool(kinds) and all(
        counts.get(("recsys_lists_precomputed", kind)) == counts.get(("recsys_lists_total", kind))
        for kind in kinds
    )


def state_reads(base: str) -> float | None:
    """Readers' states the service read from the store instead of using kept ones, so far
    (None: the served code does not count them)."""
    counts = [
        value
        for (name, _), value in metric_samples(base).items()
        if name == "recsys_reader_state_reads_total"
    ]
    return sum(counts) if counts else None


def reads_between(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def every_list_warmed(base: str) -> bool:
    """No worker is still warming readers' lists for the served model (`/metrics`)."""
    return metric_samples(base).get(("recsys_lists_warming", ()), 1.0) == 0


def lists_share(base: str) -> str:
    """How far the slowest worker got with its lists, for a report after a deadline."""
    samples = metric_samples(base)
    parts = []
    for kind in ("reader", "book"):
        done = samples.get(("recsys_lists_precomputed", (("kind", kind),)), 0)
        total = samples.get(("recsys_lists_total", (("kind", kind),)), 0)
        parts.append(f"{kind} lists {done:,.0f} of {total:,.0f}")
    return ", ".join(parts)


# -------------------------------------------------------------------------------- phases
def measure_hello(wrk: str, root: Path) -> WrkResult:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.hello_asgi:app",
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {"PYTHONPATH": str(REPO)}
    with server(command, env, root, "hello.log") as (base, pid):
        if not wait_for(lambda: polling().get(base).status_code == 200, 60):
            raise RuntimeError("the hello app did not start")
        script = lua_script(root / "hello.lua", ["/"])
        run_wrk(wrk, base, script, duration=WARMUP_S)
        cpu = workers_cpu_s(pid)
        result = run_wrk(wrk, base, script)
        result.cpu_ms = cpu_ms_per_request(cpu, pid, result)
        return result


def measure_database(wrk: str, site: Site, database: str, code: str | None = None) -> Served:
    """The database's phases, served by this checkout or by the source tree `code`."""
    root, url = site.root, site.urls[database]
    env = {
        "RECSYS_DATA_DIR": str(root / "data"),
        "RECSYS_MODELS_DIR": str(site.settings.models_dir),
        "RECSYS_DATABASE_URL": url,
        "RECSYS_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "RECSYS_API_KEYS": f"{API_KEY}:reader",
        "RECSYS_API_KEYS_FILE": str(root / "no-api-keys"),
        "RECSYS_MODEL_POLL_SECONDS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        **({"PYTHONPATH": code} if code else {}),
    }
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--workers", str(WORKERS)]
    settings = settings_for(root, url)
    as_the_nightly_left(settings, artifacts.current_run_id(settings.models_dir) or "", code, env)
    swaps = SWAPS.get(site.loans, BIG_LIBRARY_SWAPS)
    started = time.perf_counter()
    with server(command, env, root, f"serve-{database}.log") as (base, pid):
        version = artifacts.current_run_id(site.settings.models_dir) or ""
        ready = wait_for(lambda: every_list_ready(base, version), READY_DEADLINE_S)
        start_to_ready = time.perf_counter() - started if ready else None
        if not ready:
            print(
                f"  {database}: not every list ready after {READY_DEADLINE_S:.0f} s "
                f"({lists_share(base)})",
                flush=True,
            )
        warmed = wait_for(partial(every_list_warmed, base), READY_DEADLINE_S)
        start_to_warmed = time.perf_counter() - started if warmed else None
        warmed_lists = metric_samples(base).get(("recsys_lists_warmed", ()), 0.0)
        memory_after_start = worker_memory(pid)
        scripts = {
            "trivial (/health/live)": lua_script(root / "live.lua", ["/health/live"]),
            "per-book": lua_script(
                root / "books.lua", [f"/books/{b}/similar?k=10" for b in site.books]
            ),
            "per-reader": lua_script(
                root / "readers.lua",
                [f"/readers/{r}/recommendations?k=10" for r in site.readers],
            ),
        }
        for script in scripts.values():  # warm up caches and the connection pool
            run_wrk(wrk, base, script, duration=WARMUP_S)
        results = {}
        for name, script in scripts.items():
            before, cpu = state_reads(base), workers_cpu_s(pid)
            results[name] = run_wrk(wrk, base, script)
            results[name].state_reads = reads_between(before, state_reads(base))
            results[name].cpu_ms = cpu_ms_per_request(cpu, pid, results[name])
        before, cpu = state_reads(base), workers_cpu_s(pid)
        with wrk_in_background(wrk, base, scripts["per-reader"]) as during:
            change_to_answer = objection_seen(site, base, url)
        results["per-reader while one objects"] = during[0]
        during[0].state_reads = reads_between(before, state_reads(base))
        during[0].cpu_ms = cpu_ms_per_request(cpu, pid, during[0])
        runs = saved_again(settings, swaps, code, env)
        # the consent given back is a write: on SQLite every worker dropped every kept state,
        # the objection's cost, which the per-reader phase's warm-up makes good here too
        run_wrk(wrk, base, scripts["per-reader"], duration=WARMUP_S)
        before, cpu = state_reads(base), workers_cpu_s(pid)
        with wrk_in_background(wrk, base, scripts["per-reader"]) as during:
            publish_to_ready = republish(settings, base, runs)
        results[f"per-reader during {swaps} swaps"] = during[0]
        during[0].state_reads = reads_between(before, state_reads(base))
        during[0].cpu_ms = cpu_ms_per_request(cpu, pid, during[0])
        memory_after_swaps = worker_memory(pid)
    return Served(
        database,
        start_to_ready,
        memory_after_start,
        results,
        change_to_answer,
        publish_to_ready,
        memory_after_swaps,
        start_to_warmed,
        warmed_lists,
    )


def objection_seen(site: Site, base: str, url: str) -> float | None:
    """Seconds from one reader's objection (written by this process) until every worker
    answers that reader with the non-personal list: until the first of `AGREEING_ANSWERS`
    consecutive changed answers was asked (the time the answers themselves take under load is
    not the store's delay). The consent is given back afterwards."""
    reader = site.readers[0]
    pseudonym = Pseudonymizer(site.settings.pseudonym_key_bytes()).pseudonymize(reader)
    path = f"{base}/readers/{reader}/recommendations?k=10"

    def strategy() -> str:
        return str(polling().get(path, headers={"X-API-Key": API_KEY}).json()["strategy"])

    engine = make_engine(settings_for(site.root, url))
    try:
        if not wait_for(lambda: all_agree(lambda: strategy() == "personalized"), 60):
            return None
        written = time.perf_counter()
        set_consent(engine, reader_id=pseudonym, consented=False, at=int(time.time()))
        streak_started = [written]

        def every_worker_changed() -> bool:
            streak_started[0] = time.perf_counter()
            return all_agree(lambda: strategy() == "fallback:popular")

        seen = wait_for(every_worker_changed, 60, interval=0.01)
        elapsed = streak_started[0] - written
        set_consent(engine, reader_id=pseudonym, consented=True, at=int(time.time()) + 1)
        return elapsed if seen else None
    finally:
        engine.dispose()


def as_the_nightly_left(
    settings: Settings, run_id: str, code: str | None, env: Mapping[str, str]
) -> None:
    """The run's rendered default lists (and counted popular lists) as the nightly of the code
    served leaves them: its `steps.render`, from the measured database, before publishing.
    This checkout's runs here; a baseline's (the source tree `code`, with the service's `env`)
    in a process of its own, and not at all where that code has no such step."""
    shutil.rmtree(artifacts.run_path(settings.models_dir, run_id) / artifacts.RENDERED_DIR, True)
    shutil.rmtree(artifacts.run_path(settings.models_dir, run_id) / artifacts.POPULAR_DIR, True)
    if code is not None:
        subprocess.run(
            [sys.executable, "-c", RENDER_AHEAD, run_id],
            env={**os.environ, **env},
            cwd=settings.models_dir,
            check=True,
        )
        return
    engine = make_engine(settings)
    try:
        steps.render(settings, steps.RunContext(run_id, engine))
    finally:
        engine.dispose()


#: A baseline's nightly render step, run under its own code (`PYTHONPATH`) on run `argv[1]`.
RENDER_AHEAD = """
import sys
from recsys.config import get_settings
from recsys.db.engine import make_engine
from recsys.nightly import steps
if hasattr(steps, "render"):
    settings = get_settings()
    engine = make_engine(settings)
    steps.render(settings, steps.RunContext(sys.argv[1], engine))
    engine.dispose()
"""


def saved_again(
    settings: Settings, count: int, code: str | None, env: Mapping[str, str]
) -> list[str]:
    """`count` new runs of the served model, each left as the nightly would (before the load
    starts: the nightly's own work is not what the swaps measure)."""
    current = artifacts.load_current(settings.models_dir, latest_erasure=0)
    # with the catalog's records as this checkout's nightly writes them (a kept site's run may
    # predate them)
    lists = {**CatalogRecords.of(current.catalog, current.holdings).arrays(), **current.lists}
    runs = []
    for _ in range(count):
        run_id = save_run(settings, current.model, current.catalog, current.holdings, lists=lists)
        as_the_nightly_left(settings, run_id, code, env)
        runs.append(run_id)
    return runs


def republish(settings: Settings, base: str, runs: list[str]) -> list[float | None]:
    """Publish each of `runs`; seconds from each publish until every worker serves it with
    every list ready (None: not within the deadline)."""
    seconds: list[float | None] = []
    for run_id in runs:
        started = time.perf_counter()
        artifacts.publish(settings.models_dir, run_id, latest_erasure=0)
        ready = wait_for(partial(every_list_ready, base, run_id), READY_DEADLINE_S)
        seconds.append(time.perf_counter() - started if ready else None)
        if not ready:
            print(f"  run {run_id}: not every list ready ({lists_share(base)})", flush=True)
            break
    return seconds


# -------------------------------------------------------------------------------- report
def print_row(name: str, result: WrkResult, hello: WrkResult, trivial: WrkResult) -> None:
    shares = [
        result.requests_per_s / r.requests_per_s if r.requests_per_s else 0.0
        for r in (hello, trivial)
    ]
    print(
        f"{name:<40}{result.requests_per_s:>9,.0f}{shares[0]:>7.0%}{shares[1]:>9.0%}"
        f"{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}{result.requests:>10,}{result.errors:>7}"
        f"{'' if result.state_reads is None else f'{result.state_reads:,.0f}':>8}"
        f"{'' if result.cpu_ms is None else f'{result.cpu_ms:.3f}':>8}"
        f"  {result.load}",
        flush=True,
    )


def memory_line(memory: list[dict[str, float]]) -> str:
    return "; ".join(
        f"worker {i + 1}: RSS {m['rss']:,.0f}, PSS {m['pss']:,.0f}, private {m['private']:,.0f}"
        for i, m in enumerate(memory)
    )


def seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def report(site: Site, hello: WrkResult, served: list[Served]) -> None:
    print(
        f"\n{site.loans:,} loans: wrk {CONNECTIONS} connections, {DURATION_S} s a phase, "
        f"{WORKERS} uvicorn workers; req/s as a share of the hello app and of the database's "
        "trivial endpoint; reads: readers' states read from the store during the phase "
        "(`recsys_reader_state_reads_total`); cpu: the workers' CPU milliseconds per request "
        "(user and system; the server's own cost, which wrk and PostgreSQL on the same cores "
        "do not move)"
    )
    print(
        f"{'phase':<40}{'req/s':>9}{'hello':>7}{'trivial':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'requests':>10}{'errors':>7}{'reads':>8}{'cpu':>8}  after the phase"
    )
    print_row("hello ASGI app", hello, hello, hello)
    for figures in served:
        trivial = figures.results["trivial (/health/live)"]
        for name, result in figures.results.items():
            print_row(f"{figures.database} {name}", result, hello, trivial)
    for figures in served:
        swaps = [s for s in figures.publish_to_ready_s if s is not None]
        print(f"\n{figures.database}:")
        print(f"  start to every list ready: {seconds(figures.start_to_ready_s)}")
        print(
            f"  start to the recent readers' lists warmed: {seconds(figures.start_to_warmed_s)}"
            f" ({figures.warmed_lists:,.0f} lists in the slowest worker)"
        )
        print(
            "  publish to every list ready: "
            + (
                f"median {np.median(swaps):.1f} s, max {max(swaps):.1f} s"
                if swaps
                else "not reached"
            )
            + f" ({len(swaps)} of {len(figures.publish_to_ready_s)} publishes)"
        )
        change = seconds(figures.change_to_answer_s)
        print(f"  an objection to every worker's changed answer: {change}")
        print(f"  memory after start (MiB): {memory_line(figures.memory_after_start)}")
        print(f"  memory after the swaps (MiB): {memory_line(figures.memory_after_swaps)}")
    print()
    for check, (figure, ok) in checks(site, hello, served).items():
        print(f"{check:<52}{figure:>14}  {'OK' if ok else 'MISSED'}")


def checks(site: Site, hello: WrkResult, served: list[Served]) -> dict[str, tuple[str, bool]]:
    found: dict[str, tuple[str, bool]] = {}
    for figures in served:
        db, results = figures.database, figures.results
        trivial, reader, book = (
            results["trivial (/health/live)"],
            results["per-reader"],
            results["per-book"],
        )
        swapping = next(r for name, r in results.items() if "swaps" in name)
        if db == "sqlite":
            share = reader.requests_per_s / hello.requests_per_s
            found["sqlite per-reader >= 50% of hello"] = (f"{share:.0%}", share >= 0.5)
            found["sqlite per-reader p99 < 20 ms"] = (f"{reader.p99_ms:.1f} ms", reader.p99_ms < 20)
        else:
            share = reader.requests_per_s / trivial.requests_per_s
            found[f"{db} per-reader >= 80% of trivial"] = (f"{share:.0%}", share >= 0.8)
            found[f"{db} per-reader p99 < 50 ms"] = (f"{reader.p99_ms:.1f} ms", reader.p99_ms < 50)
        share = book.requests_per_s / trivial.requests_per_s
        found[f"{db} per-book >= 80% of trivial"] = (f"{share:.0%}", share >= 0.8)
        found[f"{db} per-reader p99 during swaps <= outside"] = (
            f"{swapping.p99_ms:.1f} ms",
            swapping.p99_ms <= reader.p99_ms,
        )
        change = figures.change_to_answer_s
        found[f"{db} objection answered within 1 s"] = (
            seconds(change),
            change is not None and change <= 1.0,
        )
        errors = sum(r.errors for r in results.values())
        found[f"{db} zero errors"] = (str(errors), errors == 0)
        if site.loans >= 10_000_000:
            private = max(
                m["private"] for m in figures.memory_after_swaps or figures.memory_after_start
            )
            found[f"{db} private memory per worker < 1 GiB"] = (
                f"{private:,.0f} MiB",
                private < 1024,
            )
            ready = [s for s in figures.publish_to_ready_s]
            worst = None if not ready or None in ready else max(s for s in ready if s is not None)
            found[f"{db} publish to every list ready < 2 min"] = (
                seconds(worst),
                worst is not None and worst < 120,
            )
    return found


def kept_site(root: Path, loans: int, postgres_url: str | None) -> Site | None:
    """The site an earlier run built in `root` (None if there is none, or not for these stores)."""
    path = root / SITE_FILE
    if not path.exists():
        return None
    kept = json.loads(path.read_text())
    urls = {"sqlite": f"sqlite:///{root / 'bench.db'}"}
    if postgres_url is not None:
        urls["postgres"] = postgres_url
    if set(kept["databases"]) != set(urls):
        return None
    # Runs saved by earlier runs' swaps are dropped; the published one and its previous stay.
    artifacts.prune_runs(root / "models", keep=1)
    notes = [f"kept from an earlier run in {root}: {note}" for note in kept["notes"]]
    settings = settings_for(root, urls["sqlite"])
    return Site(root, loans, settings, urls, kept["readers"], kept["books"], notes)


def keep_site(site: Site) -> None:
    fields = {"databases": sorted(site.urls), "readers": site.readers, "books": site.books}
    (site.root / SITE_FILE).write_text(json.dumps({**fields, "notes": site.notes}))


def site_for(loans: int, stack: contextlib.ExitStack) -> Site:
    """The library of `loans` loans: built in a temporary folder, or kept in `SITE_DIR`."""
    with_postgres = loans <= POSTGRES_MAX_LOANS
    if SITE_DIR is None:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_service_")))
        postgres = stack.enter_context(postgres_schema()) if with_postgres else None
        return build_site(root, loans, postgres)
    root = Path(SITE_DIR).resolve() / f"{loans}-loans"
    schema = f"bench_site_{loans}"
    postgres = stack.enter_context(postgres_schema(kept=schema)) if with_postgres else None
    site = kept_site(root, loans, postgres)
    if site is None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if postgres is not None:
            drop_schema_objects(postgres)
        site = build_site(root, loans, postgres)
        keep_site(site)
    return site


def main() -> None:
    wrk = ensure_wrk()
    for loans in SIZES:
        with contextlib.ExitStack() as stack:
            print(f"\n--- {loans:,} loans ({load_average()})", flush=True)
            site = site_for(loans, stack)
            for note in site.notes:
                print(f"  {note}", flush=True)
            hello = measure_hello(wrk, site.root)
            codes = {f"baseline {BASELINE}": BASELINE} if BASELINE else {}
            codes["this checkout"] = None
            served: dict[str, list[Served]] = {label: [] for label in codes}
            for database in site.urls:
                for label, code in codes.items():
                    served[label].append(measure_database(wrk, site, database, code))
            for label, figures in served.items():
                print(f"\n=== {label}")
                report(site, hello, figures)


if __name__ == "__main__":
    main()
