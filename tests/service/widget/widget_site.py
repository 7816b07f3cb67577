"""What the widget's browser tests stand on besides the service itself.

- The tiny service library with the record ids each catalog system really uses (Koha
  biblionumbers, Alma MMS ids, VuFind ids with leading zeros), so a recipe must carry an id as
  the system writes it.
- `Site`: a second loopback origin serving the catalog pages (fixtures in `pages/`), so CORS
  and the pages' Content-Security-Policy work as they do for a real catalog.
- `StalledService`: a service that hands out the real widget files but never answers a list.
- `Console`: everything Chrome's console receives, by source, read over the DevTools protocol.
"""

from __future__ import annotations

import http.server
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from recsys.columns import Columns as C

from ..service_library import (
    PSEUDONYM_KEY,
    Trained,
    build_catalog,
    build_holdings,
    build_loans,
    fit_model,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAGES = Path(__file__).parent / "pages"
RECIPES = Path(__file__).resolve().parents[3] / "docs" / "catalog"
#: Playwright starts Chromium headless with a fresh profile, --no-sandbox, --no-first-run,
#: --disable-background-networking, --disable-component-update and --disable-sync; these two
#: are the rest of what Debian's Chromium needs on a machine without a GPU or open network.
CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic"]
#: Subject -> the ids one catalog system gives its records (see `catalog_id`).
KOHA, ALMA, VUFIND = 0, 1, 2
#: Screenshots saved by this run (listed at its end by the conftest).
SCREENSHOTS: list[Path] = []
#: Seconds before the widget gives up in these tests (kept short: the stalled test waits it out).
WIDGET_TIMEOUT = 2.0


def catalog_id(book_id: str) -> str:
    """The tiny library's id `B<subject><nn>[E]` as the catalog system of that subject writes it."""
    subject, number, edition = int(book_id[1]), int(book_id[2:4]), book_id[4:]
    if subject == KOHA:
        return f"{1000 + number}{edition}"
    if subject == ALMA:
        return f"99{100 + number}00000003606{edition}"
    if subject == VUFIND:
        return f"0000{200 + number}{edition}"
    return book_id


def train_widget_library() -> tuple[Trained, pd.DataFrame]:
    """The tiny library with catalog systems' ids, a model fitted on it, and its raw loans."""

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out[C.BOOK_ID] = [b if b == "NEW1" else catalog_id(b) for b in out[C.BOOK_ID]]
        return out

    catalog = renamed(build_catalog())
    holdings = build_holdings(catalog)
    loans = renamed(build_loans())
    model = fit_model(loans, catalog, holdings, PSEUDONYM_KEY)
    return Trained(model, catalog, holdings), loans


@dataclass
class _Route:
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class Site:
    """Catalog pages on 127.0.0.1 at a port of their own; covers for every book at /covers/."""

    def __init__(self) -> None:
        self.routes: dict[str, _Route] = {}
        self._server = _serve(self._answer)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(
        self, path: str, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> str:
        """Serve `body` at `path`; returns its URL."""
        self.routes[path] = _Route(body.encode(), content_type, headers or {})
        return self.origin + path

    def close(self) -> None:
        self._server.shutdown()

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        route = self.routes.get(path)
        if route is None and path.startswith("/covers/") and path.endswith(".svg"):
            route = _Route(COVER, "image/svg+xml")
        if route is None:
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", route.content_type)
        handler.send_header("Content-Length", str(len(route.body)))
        for name, value in route.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(route.body)


class StalledService:
    """Serves the real widget files, then holds every list request without answering."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.held: list[str] = []
        self._release = threading.Event()
        self._server = _serve(self._answer)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        body = self.files.get(handler.path.split("?")[0])
        if body is None:
            self.held.append(handler.path)
            self._release.wait(timeout=60)
            return
        handler.send_response(200)
        kind = "text/css" if handler.path.endswith(".css") else "text/javascript"
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


COVER = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="144" viewBox="0 0 96 144">'
    b'<rect width="96" height="144" fill="#5b6f8a"/></svg>'
)


def _serve(
    answer: Callable[[http.server.BaseHTTPRequestHandler], None],
) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self)

        def do_OPTIONS(self) -> None:
            answer(self)

        def do_POST(self) -> None:
            answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read the browser's side."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass(frozen=True)
class Entry:
    source: str  # "console" (a script's console call), "exception", or Chrome's log source
    text: str
    url: str


class Console:
    """Everything the page's console receives: script calls, uncaught errors, Chrome's own log."""

    def __init__(self, page: Page) -> None:
        self.entries: list[Entry] = []
        self._page = page
        session = page.context.new_cdp_session(page)
        session.on("Runtime.consoleAPICalled", self._console_call)
        session.on("Runtime.exceptionThrown", self._exception)
        session.on("Log.entryAdded", self._log_entry)
        session.send("Runtime.enable")
        session.send("Log.enable")

    def unexpected(self, *failing: str) -> list[Entry]:
        """Every entry but Chrome's own note that a request to a URL starting with one of
        `failing` failed (the browser logs any failed request; no script can prevent that)."""
        self._page.evaluate("0")  # a round trip: events sent before it have been handled
        return [
            e
            for e in self.entries
            if not (e.source == "network" and failing and e.url.startswith(failing))
        ]

    def _console_call(self, event: dict[str, Any]) -> None:
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in event["args"])
        self.entries.append(Entry("console", f"{event['type']}: {text}", ""))

    def _exception(self, event: dict[str, Any]) -> None:
        details = event["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        self.entries.append(Entry("exception", text, details.get("url", "")))

    def _log_entry(self, event: dict[str, Any]) -> None:
        entry = event["entry"]
        self.entries.append(Entry(entry["source"], entry["text"], entry.get("url", "")))


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.append(path)
    return path


def fill(text: str, **values: str) -> str:
    """`text` with each `{{NAME}}` replaced by `values[NAME]`."""
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def settle(page: Page) -> None:
    """Wait until every container of the widget's modes has finished (ready, empty or failed)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll(".recsys-list")]
             .filter((el) => ["similar", "session", "popular", undefined].includes(el.dataset.mode))
             .every((el) => ["ready", "empty", "failed"].includes(el.dataset.recsysState))""",
        timeout=15_000,
    )


def read_list(page: Page, selector: str) -> dict[str, Any]:
    """What a container shows: its state, heading and items (title, author, link, cover)."""
    return page.eval_on_selector(
        selector,
        """(el) => {
          const heading = el.querySelector(".recsys-list__heading");
          const list = el.querySelector("ul");
          return {
            state: el.dataset.recsysState || null,
            children: el.children.length,
            heading: heading && {tag: heading.tagName, text: heading.textContent,
                                 lang: heading.lang, id: heading.id},
            labelledby: list && list.getAttribute("aria-labelledby"),
            items: [...el.querySelectorAll("li")].map((li) => ({
              title: li.querySelector(".recsys-list__title").textContent,
              author: (li.querySelector(".recsys-list__author") || {}).textContent || null,
              href: (li.querySelector("a") || {}).href || null,
              cover: (li.querySelector("img") || {}).src || null,
            })),
          };
        }""",
    )


def personal_list_snippet() -> ModuleType:
    """docs/catalog/personal_list.py, the documented server-side snippet, as a module."""
    spec = importlib.util.spec_from_file_location("personal_list", RECIPES / "personal_list.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
