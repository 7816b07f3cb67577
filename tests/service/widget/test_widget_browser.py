"""The widget in headless Chromium against the real service on loopback.

The demo record page is the service's own (same origin, strict CSP); the other pages come from a
second origin, as a library's catalog does. Lists are compared with what the service's API
answers for the same request, so a wrong title, order, link or count fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from ..service_library import READER_KEY, free_port
from .widget_site import (
    PAGES,
    WIDGET_TIMEOUT,
    Console,
    Site,
    StalledService,
    catalog_id,
    fill,
    personal_list_snippet,
    read_list,
    screenshot,
    settle,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

SIMILAR = ".recsys-list:not([data-mode])"
SESSION = ".recsys-list[data-mode=session]"
POPULAR = ".recsys-list[data-mode=popular]"
BOOK = catalog_id("B001")  # a Koha biblionumber: "1001"
LAYOUT_SHIFTS = """
window.layoutShifts = [];
window.shiftObserver = new PerformanceObserver(
  (list) => window.layoutShifts.push(...list.getEntries()));
window.shiftObserver.observe({type: "layout-shift", buffered: true});
"""


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def api_items(service: str, path: str, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{service}{path}", params=params)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_record_page_lists_what_the_service_answers(
    page: Page, console: Console, service: str, site: Site, artifacts: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{service}demo/record/{BOOK}")
    settle(page)

    similar = read_list(page, SIMILAR)
    expected = api_items(service, f"books/{BOOK}/similar", k=6)
    assert similar["state"] == "ready" and len(similar["items"]) == len(expected) == 6
    assert similar["items"] == [
        {
            "title": item["title"],
            "author": item["author"],
            "href": f"{service}demo/record/{quote(item['book_id'], safe='')}",
            "cover": f"{site.origin}/covers/{quote(item['book_id'], safe='')}.svg",
        }
        for item in expected
    ]
    assert similar["heading"]["tag"] == "H2"
    assert similar["heading"]["text"] == "Readers also borrowed"
    assert similar["labelledby"] == similar["heading"]["id"]
    popular = read_list(page, POPULAR)
    assert [i["title"] for i in popular["items"]] == [
        i["title"] for i in api_items(service, "popular", k=6)
    ]
    assert popular["heading"]["text"] == "Popular at the library"
    # nothing but the service and the library's cover server (its RECSYS_COVER_URL_TEMPLATE)
    assert {origin(url) for url in requested} == {origin(service), site.origin}
    assert page.eval_on_selector(
        ".recsys-list__entry", "(e) => getComputedStyle(e).transitionDuration"
    ).startswith("0.15s")
    assert console.unexpected() == []
    screenshot(page, artifacts, "demo-record")


@pytest.mark.parametrize("context_options", [{"reduced_motion": "reduce"}])
def test_reserved_space_keyboard_and_reduced_motion(
    page: Page, console: Console, service: str
) -> None:
    page.add_init_script(LAYOUT_SHIFTS)
    page.goto(f"{service}demo/record/{BOOK}")
    settle(page)
    # every list fills exactly the space its container reserved before the list came
    boxes = page.eval_on_selector_all(
        ".recsys-list",
        """(els) => els.map((e) => [e.getBoundingClientRect().height,
                                     parseFloat(getComputedStyle(e).minHeight)])""",
    )
    assert len(boxes) == 3 and all(height == reserved > 0 for height, reserved in boxes)
    shifts = page.evaluate(
        """() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() =>
             done([...window.layoutShifts, ...window.shiftObserver.takeRecords()]
                  .map((e) => e.value)))))"""
    )
    assert shifts == []
    assert (
        page.eval_on_selector(
            ".recsys-list__entry", "(e) => getComputedStyle(e).transitionDuration"
        )
        == "0s"
    )
    first_link = page.eval_on_selector(f"{SIMILAR} a", "(a) => a.href")
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                       return e.closest(".recsys-list") ? [e.href, getComputedStyle(e).outlineWidth]
                                                         : null; }"""
        )
        if focused:
            break
    assert focused == [first_link, "3px"]
    assert console.unexpected() == []


@pytest.mark.parametrize("context_options", [{"bypass_csp": True}])  # lets axe's script in
def test_axe_finds_no_serious_violation(
    page: Page, service: str, npm_packages: Path, artifacts: Path
) -> None:
    page.goto(f"{service}demo/record/{BOOK}")
    settle(page)
    page.add_script_tag(path=str(npm_packages / "axe-core" / "axe.min.js"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    checked = page.evaluate(
        "() => axe.run('.recsys-list', {runOnly: ['color-contrast']}).then((r) => r.passes)"
    )
    assert checked and checked[0]["nodes"]  # contrast was measured on the widget's own text
    screenshot(page, artifacts, "demo-record-axe")


def test_session_list_follows_the_books_viewed_in_the_tab(
    page: Page, console: Console, service: str, artifacts: Path
) -> None:
    posted: list[str] = []
    page.on(
        "request",
        lambda r: posted.append(r.post_data or "") if r.method == "POST" else None,
    )
    page.goto(f"{service}demo/record/{BOOK}")
    settle(page)
    second = api_items(service, f"books/{BOOK}/similar", k=6)[0]["book_id"]
    page.click(f"{SIMILAR} li:first-child a")  # a reader follows the first suggestion
    page.wait_for_url(f"{service}demo/record/{quote(second, safe='')}")
    settle(page)

    body = {"book_ids": [BOOK, second], "k": 6}
    assert [json.loads(p) for p in posted] == [{"book_ids": [BOOK], "k": 6}, body]
    expected = httpx.post(f"{service}sessions/recommendations", json=body).json()["items"]
    session = read_list(page, SESSION)
    assert [i["title"] for i in session["items"]] == [i["title"] for i in expected]
    assert session["heading"]["text"] == "Suggestions from your visit"
    assert json.loads(page.evaluate("sessionStorage.getItem('recsys:viewed')")) == [BOOK, second]
    assert page.evaluate("document.cookie") == "" and page.context.cookies() == []
    assert console.unexpected() == []
    screenshot(page, artifacts, "demo-session")


def test_strict_csp_page_on_another_origin(
    page: Page, console: Console, service: str, site: Site, artifacts: Path
) -> None:
    api = origin(service)
    policy = (
        f"default-src 'none'; script-src {api}; style-src {api}; connect-src {api}; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'"
    )
    snippet = personal_list_snippet()  # the catalog's server renders a reader's own list
    personal = snippet.personal_list("R005", service=service, api_key=READER_KEY, k=3)
    rendered = snippet.render_list(personal, record_url="/record/{book_id}", heading="Für Sie")
    url = site.add(
        "/csp/record",
        fill((PAGES / "strict-csp-record.html").read_text(), RECSYS=service, PERSONAL=rendered),
        "text/html; charset=utf-8",
        {"Content-Security-Policy": policy},
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    settle(page)

    similar = read_list(page, "#similar")
    assert [i["title"] for i in similar["items"]] == [
        i["title"] for i in api_items(service, f"books/{BOOK}/similar", k=4)
    ]
    headings = {
        name: (read_list(page, f"#{name}")["heading"] or {})
        for name in ("similar", "popular-fr", "popular-zh", "popular-hant")
    }
    assert {name: (h["tag"], h["text"], h["lang"]) for name, h in headings.items()} == {
        "similar": ("H3", "Leser liehen auch aus", "de"),
        "popular-fr": ("H2", "Populaires à la bibliothèque", "fr"),
        "popular-zh": ("H2", "图书馆热门图书", "zh"),
        "popular-hant": ("H2", "圖書館熱門圖書", "zh-Hant"),
    }
    # the server's list is left as rendered, and styled by the widget's stylesheet
    kept = read_list(page, ".recsys-list[data-mode=personal]")
    assert kept["state"] is None and [i["title"] for i in kept["items"]] == [
        i["title"] for i in personal
    ]
    assert (
        page.eval_on_selector("[data-mode=personal] ul", "(ul) => getComputedStyle(ul).display")
        == "flex"
    )
    assert page.evaluate("window.cspViolations") == []
    assert {origin(u) for u in requested} == {site.origin, api}
    assert console.unexpected() == []
    screenshot(page, artifacts, "strict-csp-de")


@pytest.mark.parametrize("failure", ["unreachable", "error answers", "stalled"])
def test_failing_service_leaves_lists_empty_and_console_quiet(
    failure: str, page: Page, console: Console, service: str, site: Site
) -> None:
    book, audience = BOOK, "adult"
    stalled = None
    if failure == "unreachable":
        down = f"http://127.0.0.1:{free_port()}/"
        widget, failing = down + "widget.js", (down,)
    elif failure == "error answers":  # the real service: 404 unknown book, 422 bad filter
        book, audience = "no-such-book", "martians"
        widget, failing = service + "widget.js", (f"{service}books/", f"{service}popular")
    else:
        files = {f"/{n}": httpx.get(service + n).content for n in ("widget.js", "widget.css")}
        stalled = StalledService(files)
        widget, failing = stalled.base + "widget.js", ()
    url = site.add(
        f"/failure/{failure.replace(' ', '-')}",
        fill((PAGES / "failures.html").read_text(), WIDGET=widget, BOOK=book, AUDIENCE=audience),
        "text/html; charset=utf-8",
    )
    try:
        page.goto(url)
        assert page.is_visible("#after")  # the page rendered whatever the service does
        if failure != "unreachable":
            settle(page)
        lists = page.eval_on_selector_all(
            ".recsys-list", "(els) => els.map((e) => [e.dataset.recsysState, e.children.length])"
        )
        state = None if failure == "unreachable" else "failed"
        assert lists == [[state, 0], [state, 0]]
        if stalled is not None:  # both lists were asked for and given up after the timeout
            assert len(stalled.held) == 2
            assert page.evaluate("performance.now()") >= WIDGET_TIMEOUT * 1000
        assert console.unexpected(*failing) == []
    finally:
        if stalled is not None:
            stalled.close()
