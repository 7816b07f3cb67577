"""Fixtures of the widget's tests: a real service on loopback, a catalog origin, headless Chromium.

The browser is Debian's Chromium (`/usr/bin/chromium`, installed by `.ci/chromium.sh`) driven by
Playwright. Without it the browser tests skip and say why; with `RECSYS_TEST_REQUIRE_BROWSER`
set (CI sets it) they fail instead. One browser serves the session; every test gets a fresh
context (no cache, no storage). axe-core and AngularJS come from the npm registry into
`npm/node_modules/` (git-ignored) on first use. Screenshots go to `test-artifacts/browser/` (or
`RECSYS_TEST_ARTIFACTS`); their paths are printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from pydantic import SecretStr

from recsys.config import Settings
from recsys.db.engine import make_engine
from recsys.db.schema import upgrade
from recsys.service.app import create_app

from ..service_library import (
    PSEUDONYM_KEY,
    READER_KEY,
    fill_database,
    publish_model,
    uvicorn_on_loopback,
)
from .widget_site import (
    CHROMIUM_FLAGS,
    SCREENSHOTS,
    WIDGET_TIMEOUT,
    Console,
    Site,
    train_widget_library,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[3]
NPM = Path(__file__).parent / "npm"
NPM_FILES = ("axe-core/axe.min.js", "angular/angular.min.js")
REQUIRE_BROWSER = "RECSYS_TEST_REQUIRE_BROWSER"
#: The record page template the test service links to (relative: the demo pages are its own).
RECORD_TEMPLATE = "/demo/record/{book_id}"
VIEWPORT = {"width": 1280, "height": 900}
CSP_RECORDER = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_BROWSER):
        pytest.fail(f"{reason} ({REQUIRE_BROWSER} is set, so the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("RECSYS_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        _unavailable(
            "no Chromium: install Debian's chromium and chromium-driver (bash .ci/chromium.sh)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def npm_packages() -> Path:
    """node_modules with axe-core and AngularJS, installed from the npm registry if missing."""
    modules = NPM / "node_modules"
    if not all((modules / name).exists() for name in NPM_FILES):
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is missing: it installs axe-core and AngularJS for these tests")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NPM)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            _unavailable(f"npm ci in {NPM} failed: {done.stderr.strip()[-300:]}")
    return modules


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    catalog = Site()
    yield catalog
    catalog.close()


@pytest.fixture(scope="session")
def widget_settings(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Settings:
    """Settings of the widget's service: the catalog origin allowed, links, covers, demo pages."""
    root = tmp_path_factory.mktemp("widget-service")
    return Settings(
        _env_file=None,
        data_dir=root / "data",
        models_dir=root / "models",
        pseudonym_key=SecretStr(PSEUDONYM_KEY),
        api_keys=SecretStr(f"{READER_KEY}:reader"),
        api_keys_file=root / "no-api-keys-file",
        model_poll_seconds=0.05,
        cors_origins=[site.origin],
        record_url_template=RECORD_TEMPLATE,
        cover_url_template=f"{site.origin}/covers/{{book_id}}.svg",
        widget_timeout_seconds=WIDGET_TIMEOUT,
        demo_pages=True,
    )


@pytest.fixture(scope="session")
def service(widget_settings: Settings) -> Iterator[str]:
    """The service on loopback with the widget library's model; yields its base URL (ends in /)."""
    trained, loans = train_widget_library()
    engine = make_engine(widget_settings)
    upgrade(engine)
    fill_database(engine, PSEUDONYM_KEY, trained, loans)
    publish_model(widget_settings.models_dir, trained)
    with uvicorn_on_loopback(create_app(widget_settings)) as base:
        yield base + "/"
    engine.dispose()


@pytest.fixture
def context_options() -> dict[str, object]:
    """Options of each test's browser context (a test may override the fixture)."""
    return {}


@pytest.fixture
def page(browser: Browser, context_options: dict[str, object]) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, **context_options)
    context.add_init_script(CSP_RECORDER)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def console(page: Page) -> Console:
    return Console(page)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("RECSYS_TEST_ARTIFACTS") or REPO / "test-artifacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS:
        terminalreporter.section("widget screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))
