"""Catalog widget: its size on the wire and its render time on the demo record page.

Builds what `make demo` builds (the sample library, `DEMO_LOANS` loans, through the nightly run),
serves it as `make demo` does (`recsys serve`, demo pages on), and opens the demo record page of
the most borrowed book in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
`RUNS` times in a fresh browser context (nothing cached) and `RUNS` times reloaded in one context
(the widget's files cached, as for a reader's second page). Times come from the page's
Performance API: the widget marks `recsys:start` when its script runs and `recsys:rendered` each
time it draws a list; navigation start is 0.

    python -m benchmarks bench_widget
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from benchmarks.bench_service import free_port, load_average, wait_for
from recsys.config import Settings
from recsys.integrations.widget.assets import widget_assets
from recsys.nightly.progress import Progress
from recsys.nightly.runner import run_nightly
from recsys.sample import SampleConfig, generate_library, write_library
from recsys.threads import limit_blas_threads

DEMO_LOANS = 50_000
RUNS = 15
PSEUDONYM_KEY = "w" * 48
DEMO_RECORD_URL = "/demo/record/{book_id}"
#: Playwright starts Chromium headless with a fresh profile, --no-sandbox, --no-first-run,
#: --disable-background-networking, --disable-component-update and --disable-sync; these two
#: are the rest of what Debian's Chromium needs on a machine without a GPU or open network.
CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic"]
TIMINGS = """() => {
  const marks = (name) => performance.getEntriesByName(name).map((m) => m.startTime);
  const rendered = marks("recsys:rendered");
  return {start: marks("recsys:start")[0], first: Math.min(...rendered),
          last: Math.max(...rendered), lists: rendered.length};
}"""
ALL_READY = """() => [...document.querySelectorAll(".recsys-list")].every(
  (el) => el.dataset.recsysState === "ready")"""


def main() -> None:
    limit_blas_threads()
    print_sizes()
    chromium = os.environ.get("RECSYS_TEST_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        print("render time skipped: no Chromium (bash .ci/chromium.sh installs it)")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-widget-"))
    try:
        _build_demo(work)
        _render_times(work, chromium)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_sizes() -> None:
    """Bytes of the files as served, plain and gzipped (what a reader's browser downloads)."""
    assets = widget_assets(Settings(_env_file=None, record_url_template=DEMO_RECORD_URL))
    print(f"{'file':<12} {'bytes':>7} {'gzipped':>8}")
    for name, asset in (("widget.js", assets.script), ("widget.css", assets.stylesheet)):
        print(f"{name:<12} {len(asset.body):>7,} {len(asset.gzipped):>8,}")
    total = len(assets.script.gzipped) + len(assets.stylesheet.gzipped)
    print(f"{'together':<12} {'':>7} {total:>8,}  (limit 8,192)")


def _environment(work: Path) -> dict[str, str]:
    return {
        "RECSYS_DATA_DIR": str(work / "data"),
        "RECSYS_MODELS_DIR": str(work / "models"),
        "RECSYS_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "RECSYS_API_KEYS_FILE": str(work / "no-api-keys"),
        "RECSYS_RECORD_URL_TEMPLATE": DEMO_RECORD_URL,
        "RECSYS_DEMO_PAGES": "true",
        "OPENBLAS_NUM_THREADS": "1",
    }


def _build_demo(work: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=work / "data",
        models_dir=work / "models",
        pseudonym_key=SecretStr(PSEUDONYM_KEY),
    )
    started = time.perf_counter()
    write_library(generate_library(SampleConfig(n_loans=DEMO_LOANS)), settings.inbox_dir)
    code, _ = run_nightly(settings, progress=Progress("none"))
    print(
        f"\nsample library ({DEMO_LOANS:,} loans) through the nightly run: exit {code}, "
        f"{time.perf_counter() - started:.0f} s"
    )


def _render_times(work: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(work / "serve.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port)],
            env={**os.environ, **_environment(work)},
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_for(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 300, "the service")
        top = httpx.get(f"{base}/popular", params={"period": "all", "k": 1}).json()["items"][0]
        url = f"{base}/demo/record/{top['book_id']}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            cold = [_load(browser.new_context(), url) for _ in range(RUNS)]
            context = browser.new_context()
            _load(context, url, keep=True)
            warm = [_load(context, url, keep=True) for _ in range(RUNS)]
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\ndemo record page {url.removeprefix(base)}: 3 lists, median of {RUNS} loads, ms")
    print(f"({load_average()})")
    print(f"{'':<48} {'nothing cached':>15} {'files cached':>13}")
    rows = (
        ("widget script starts", "start"),
        ("first list drawn", "first"),
        ("all three lists drawn", "last"),
    )
    for label, key in rows:
        name = f"{label} (after navigation start)"
        print(f"{name:<48} {_median(cold, key):>15.1f} {_median(warm, key):>13.1f}")
    own = [t["last"] - t["start"] for t in cold], [t["last"] - t["start"] for t in warm]
    print(
        f"{'script start -> all three drawn':<48} {statistics.median(own[0]):>15.1f} "
        f"{statistics.median(own[1]):>13.1f}"
    )


def _load(context: Any, url: str, *, keep: bool = False) -> dict[str, float]:
    page = context.pages[0] if keep and context.pages else context.new_page()
    page.goto(url)
    page.wait_for_function(ALL_READY, timeout=30_000)
    timings: dict[str, float] = page.evaluate(TIMINGS)
    if timings["lists"] != 3:
        raise RuntimeError(f"expected 3 lists drawn, saw {timings['lists']}")
    if not keep:
        context.close()
    return timings


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)
