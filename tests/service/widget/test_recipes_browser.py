"""The discovery-layer recipes (docs/catalog/) on record pages shaped like each system's own.

Each recipe runs as its system runs it (Koha: OPACUserJS inline at the end of the body; VuFind:
a theme script in the head under VuFind's nonce-based CSP; Primo VE: a prmFullViewAfter component
in the view's custom.js, inside AngularJS), must find the record id as that system writes it, and
the widget must then show the service's list for that id in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from .widget_site import (
    PAGES,
    RECIPES,
    Console,
    Site,
    catalog_id,
    fill,
    read_list,
    screenshot,
    settle,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

PLACEHOLDER_SERVICE = "https://recsys.example.org/"
HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
VUFIND_NONCE = "dGVzdC1ub25jZQ"


@dataclass(frozen=True)
class Catalog:
    """One discovery layer's record page: how to publish it, the record id, the heading."""

    publish: Callable[[Site, str, Path], str]  # (site, service, node_modules) -> page URL
    record_id: str
    heading: str


def recipe(name: str, service: str) -> str:
    """A recipe file as a library would install it, pointed at the test service."""
    text = (RECIPES / name).read_text()
    assert PLACEHOLDER_SERVICE in text
    return text.replace(PLACEHOLDER_SERVICE, service)


def koha(legacy: bool) -> Callable[[Site, str, Path], str]:
    """Koha's record page; `legacy`: without data-biblionumber (Koha before 22.05), where only
    the unAPI tag names the record."""

    def publish(site: Site, service: str, modules: Path) -> str:
        page = fill(
            (PAGES / "koha-opac-detail.html").read_text(),
            OPACUSERJS=recipe("koha-opacuserjs.js", service),
        )
        if legacy:
            page = page.replace(' data-biblionumber="1002"', "")
        root = "/legacy" if legacy else ""
        return site.add(f"{root}/cgi-bin/koha/opac-detail.pl", page, HTML) + "?biblionumber=1002"

    return publish


def vufind(site: Site, service: str, modules: Path) -> str:
    site.add("/themes/recsys/js/recsys.js", recipe("vufind-recsys.js", service), JAVASCRIPT)
    api = service.rstrip("/")
    policy = (  # VuFind's CSP: nonce-based scripts with 'strict-dynamic', the service allowed
        f"default-src 'self'; script-src 'nonce-{VUFIND_NONCE}' 'strict-dynamic'; "
        f"connect-src 'self' {api}; style-src 'self' {api}; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'"
    )
    page = fill((PAGES / "vufind-record.html").read_text(), NONCE=VUFIND_NONCE)
    return site.add("/Record/0000203", page, HTML, {"Content-Security-Policy": policy})


def primo_ve(site: Site, service: str, modules: Path) -> str:
    site.add(
        "/vendor/angular.min.js", (modules / "angular" / "angular.min.js").read_text(), JAVASCRIPT
    )
    site.add("/primo-ve-shell.js", (PAGES / "primo-ve-shell.js").read_text(), JAVASCRIPT)
    site.add(
        "/discovery/custom/01EXAMPLE_INST-DEFAULT/js/custom.js",
        recipe("primo-ve-custom.js", service),
        JAVASCRIPT,
    )
    url = site.add(
        "/discovery/fulldisplay", (PAGES / "primo-ve-fulldisplay.html").read_text(), HTML
    )
    return url + "?docid=alma9910100000003606&vid=01EXAMPLE_INST:DEFAULT&lang=zh"


CATALOGS = {
    "koha": Catalog(koha(legacy=False), catalog_id("B002"), "Les lecteurs ont aussi emprunté"),
    "koha-unapi": Catalog(koha(legacy=True), catalog_id("B002"), "Les lecteurs ont aussi emprunté"),
    "vufind": Catalog(vufind, catalog_id("B203"), "Leser liehen auch aus"),
    "primo-ve": Catalog(primo_ve, catalog_id("B101"), "读者还借阅了"),
}


@pytest.mark.parametrize("name", list(CATALOGS))
def test_recipe_finds_the_record_and_shows_its_list(
    name: str,
    page: Page,
    console: Console,
    service: str,
    site: Site,
    npm_packages: Path,
    artifacts: Path,
) -> None:
    catalog = CATALOGS[name]
    page.goto(catalog.publish(site, service, npm_packages))
    page.wait_for_selector(".recsys-list", state="attached")
    settle(page)
    assert page.eval_on_selector_all(
        ".recsys-list", "(els) => els.map((e) => e.dataset.bookId)"
    ) == [catalog.record_id]
    shown = read_list(page, ".recsys-list")
    expected = httpx.get(f"{service}books/{catalog.record_id}/similar", params={"k": 6})
    assert shown["state"] == "ready"
    assert [i["title"] for i in shown["items"]] == [i["title"] for i in expected.json()["items"]]
    assert shown["heading"]["text"] == catalog.heading
    assert page.evaluate("window.cspViolations") == []
    assert console.unexpected() == []
    screenshot(page, artifacts, f"recipe-{name}")
