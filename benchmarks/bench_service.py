"""Service throughput and latency under wrk, on a generated library with 1 million loans.

Trains the default model, publishes it, runs `recsys serve` (uvicorn, `WORKERS` workers, each
with its own copy of the model; uvloop/httptools from uvicorn[standard], no access log) on
loopback and loads it with wrk (Debian's package) at 100 connections: a trivial endpoint
(`/health/live`), per-book lists and per-reader lists, all in one run so the ratios hold on a
shared machine (the load average is printed with each phase). Then the per-reader load again
while a new model is published 10 times. Targets: per-book >= 80% of trivial req/s, per-reader
>= 50% and p99 < 20 ms, zero errors.

`RECSYS_BENCH_LOANS` picks a smaller library for quick iteration (default: 1 million loans).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from recsys import artifacts
from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.queries import load_dataset
from recsys.db.schema import upgrade
from recsys.ingest import ingest_file
from recsys.models.registry import default_model
from recsys.sample import SampleConfig, generate_library, write_library

N_LOANS = int(os.environ.get("RECSYS_BENCH_LOANS", "1000000"))
WORKERS = 2
CONNECTIONS = 100
DURATION_S = 15
SWAPS = int(os.environ.get("RECSYS_BENCH_SWAPS", "10"))
#: Long enough that a slow answer shows as latency, not as a dropped request.
WRK_TIMEOUT = "30s"
API_KEY = "bench-reader-key-0123456789"
PSEUDONYM_KEY = "b" * 64
#: Distinct readers asked for (mostly cold: each reader's list is computed per request).
READER_PATHS = 20_000
#: Distinct books asked for; per-book lists are computed once per model, then served from the
#: response cache, so after the warm-up this measures the steady state a catalog sees.
BOOK_PATHS = 2_000
WARMUP_S = 10
#: The service precomputes every known reader's list after a load; measure once they are in.
PRECOMPUTE_DEADLINE_S = 1800
#: Consecutive /version (or /metrics) answers that must agree: with several workers each
#: connection may reach another one.
AGREEING_ANSWERS = 12


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_library(root: Path, settings: Settings) -> tuple[list[str], list[str]]:
    """Generate, ingest, train and publish; returns sample raw reader ids and book ids."""
    started = time.perf_counter()
    library = generate_library(SampleConfig(n_loans=N_LOANS))
    paths = write_library(library, root / "exports")
    engine = make_engine(settings)
    upgrade(engine)
    for kind in ("catalog", "holdings", "loans"):
        for path in paths[kind]:
            ingest_file(engine, settings, kind=kind, path=path)
    print(
        f"generated and ingested {len(library.loans):,} loan events "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    started = time.perf_counter()
    dataset = load_dataset(engine)
    model = default_model(settings).fit(dataset)
    run_id = artifacts.new_run_id()
    artifacts.save_bundle(
        settings.models_dir,
        run_id,
        model,
        catalog=dataset.catalog,
        holdings=dataset.holdings,
        erasures_applied=0,
        manifest_extra={},
    )
    artifacts.publish(settings.models_dir, run_id, latest_erasure=0)
    engine.dispose()
    print(
        f"trained and published {model.name} on {len(dataset.interactions):,} interactions "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    rng = np.random.default_rng(0)
    readers = library.loans["reader_id"].astype(str).unique()
    books = library.catalog["book_id"].astype(str).to_numpy()
    return (
        rng.choice(readers, READER_PATHS).tolist(),
        rng.choice(books, BOOK_PATHS, replace=False).tolist(),
    )


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


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} ({os.cpu_count()} cores)"


def all_agree(check: object) -> bool:
    """`check()` holds on `AGREEING_ANSWERS` fresh connections in a row (every worker)."""
    return all(check() for _ in range(AGREEING_ANSWERS))  # type: ignore[operator]


def lists_precomputed(base: str) -> bool:
    """Every per-reader and per-book list of the served model is computed (`/metrics`)."""
    families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
    values = {
        (sample.name, sample.labels["kind"]): sample.value
        for family in families
        for sample in family.samples
        if sample.name in ("recsys_lists_precomputed", "recsys_lists_total")
    }
    kinds = {kind for _, kind in values}
    return bool(kinds) and all(
        values.get(("recsys_lists_precomputed", kind)) == values.get(("recsys_lists_total", kind))
        for kind in kinds
    )


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
    )


def wait_for(check: object, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def republish(settings: Settings, base: str, count: int) -> list[float]:
    """Publish the served model again under `count` new run ids; seconds until each is served."""
    current = artifacts.load_current(settings.models_dir, latest_erasure=0)
    seconds = []
    for _ in range(count):
        run_id = artifacts.new_run_id()
        artifacts.save_bundle(
            settings.models_dir,
            run_id,
            current.model,
            catalog=current.catalog,
            holdings=current.holdings,
            erasures_applied=0,
            manifest_extra={"bench": "republished"},
        )
        started = time.perf_counter()
        artifacts.publish(settings.models_dir, run_id, latest_erasure=0)
        wait_for(
            lambda r=run_id: all_agree(
                lambda: httpx.get(f"{base}/version").json()["model_version"] == r
            ),
            600,
            f"model {run_id}",
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def print_row(
    name: str, result: WrkResult, trivial: WrkResult | None = None, load: str = ""
) -> None:
    share = f"{result.requests_per_s / trivial.requests_per_s:>7.0%}" if trivial else f"{'':>7}"
    print(
        f"{name:<30}{result.requests_per_s:>10,.0f}{share}{result.p50_ms:>10.2f}"
        f"{result.p99_ms:>10.2f}{result.requests:>10,}{result.errors:>8}  {load}",
        flush=True,
    )


def main() -> None:
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bench_service_") as tmp:
        root = Path(tmp)
        env = {
            "RECSYS_DATA_DIR": str(root / "data"),
            "RECSYS_MODELS_DIR": str(root / "models"),
            "RECSYS_DATABASE_URL": f"sqlite:///{root / 'bench.db'}",
            "RECSYS_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "RECSYS_API_KEYS": f"{API_KEY}:reader",
            "RECSYS_API_KEYS_FILE": str(root / "no-api-keys"),
            "RECSYS_MODEL_POLL_SECONDS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }
        settings = Settings(
            _env_file=None,
            data_dir=root / "data",
            models_dir=root / "models",
            database_url=env["RECSYS_DATABASE_URL"],
            pseudonym_key=PSEUDONYM_KEY,
            api_keys_file=root / "no-api-keys",
        )
        readers, books = build_library(root, settings)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
            ],
            env={**os.environ, **env},
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=open(root / "serve.log", "w"),  # noqa: SIM115 - closed with the process
        )
        try:
            started = time.perf_counter()
            wait_for(
                lambda: httpx.get(f"{base}/health/ready").status_code == 200,
                900,
                "the service to be ready",
            )
            print(
                f"service ready (model loaded, head per-book lists precomputed) in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            wait_for(
                lambda: all_agree(lambda: lists_precomputed(base)),
                PRECOMPUTE_DEADLINE_S,
                "every reader's and book's list",
            )
            print(
                f"every reader's and book's list precomputed {time.perf_counter() - started:.1f} s "
                f"after start ({load_average()})",
                flush=True,
            )
            scripts = {
                "trivial (/health/live)": lua_script(root / "live.lua", ["/health/live"]),
                "per-book": lua_script(
                    root / "books.lua", [f"/books/{b}/similar?k=10" for b in books]
                ),
                "per-reader": lua_script(
                    root / "readers.lua", [f"/readers/{r}/recommendations?k=10" for r in readers]
                ),
            }
            for script in scripts.values():  # warm up caches and the connection pool
                run_wrk(wrk, base, script, duration=WARMUP_S)
            results: dict[str, WrkResult] = {}
            loads: dict[str, str] = {}
            for name, script in scripts.items():
                results[name] = run_wrk(wrk, base, script)
                loads[name] = load_average()
            trivial = results["trivial (/health/live)"]
            print(
                f"\nwrk, {CONNECTIONS} connections, {DURATION_S} s each, {WORKERS} uvicorn "
                f"workers, {N_LOANS:,} loans"
            )
            print(
                f"{'endpoint':<30}{'req/s':>10}{'share':>7}{'p50 ms':>10}{'p99 ms':>10}"
                f"{'requests':>10}{'errors':>8}  after the phase"
            )
            for name, result in results.items():
                print_row(name, result, trivial, loads[name])

            print(f"\nper-reader load while a new model is published {SWAPS} times:", flush=True)
            during = subprocess.Popen(
                wrk_command(wrk, base, scripts["per-reader"], 900),
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                swap_seconds = republish(settings, base, SWAPS)
            finally:
                during.send_signal(2)  # SIGINT: wrk prints its summary and exits
                output, _ = during.communicate(timeout=60)
            swapping = parse_wrk(output)
            print_row(f"per-reader during {SWAPS} swaps", swapping, trivial, load_average())
            print(
                f"seconds from publish to served: median {np.median(swap_seconds):.1f}, "
                f"max {max(swap_seconds):.1f}"
            )
            reader, book = results["per-reader"], results["per-book"]
            checks = {
                "per-book >= 80% of trivial": book.requests_per_s >= 0.8 * trivial.requests_per_s,
                "per-reader >= 50% of trivial": (
                    reader.requests_per_s >= 0.5 * trivial.requests_per_s
                ),
                "per-reader p99 < 20 ms": reader.p99_ms < 20,
                "zero errors": all(r.errors == 0 for r in (*results.values(), swapping)),
            }
            ratios = {
                "per-book >= 80% of trivial": f"{book.requests_per_s / trivial.requests_per_s:.0%}",
                "per-reader >= 50% of trivial": (
                    f"{reader.requests_per_s / trivial.requests_per_s:.0%}"
                ),
                "per-reader p99 < 20 ms": f"{reader.p99_ms:.1f} ms",
                "zero errors": str(sum(r.errors for r in (*results.values(), swapping))),
            }
            print()
            for name, ok in checks.items():
                print(f"{name:<30}{ratios[name]:>10}  {'OK' if ok else 'MISSED'}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
