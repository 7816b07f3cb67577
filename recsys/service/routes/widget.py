"""The catalog widget's files (public, cacheable) and, when enabled, the demo record page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from recsys.integrations.widget.assets import (
    CSS,
    HTML,
    JAVASCRIPT,
    Asset,
    demo_content_security_policy,
    demo_page,
    demo_stylesheet,
    widget_assets,
)
from recsys.lists import pipeline
from recsys.lists.query import ListQuery
from recsys.service.answers import etag_matches
from recsys.service.deps import ServedDep, SettingsDep
from recsys.service.schemas import MAX_ID_LENGTH, ErrorDetail

router = APIRouter(tags=["widget"])

#: The files change only with a new release or new settings; the ETag makes a check cheap.
ASSET_MAX_AGE = 3600

BookId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="catalog id")]


@router.get(
    "/widget.js",
    summary="The catalog widget: one script tag fills every .recsys-list container on the page.",
    response_class=Response,
    responses={200: {"content": {JAVASCRIPT.split(";")[0]: {}}}, 304: {"description": "unchanged"}},
)
async def widget_script(request: Request, settings: SettingsDep) -> Response:
    return _asset(request, widget_assets(settings).script)


@router.get(
    "/widget.css",
    summary="The widget's default style (loaded by the script itself).",
    response_class=Response,
    responses={200: {"content": {CSS.split(";")[0]: {}}}, 304: {"description": "unchanged"}},
)
async def widget_stylesheet(request: Request, settings: SettingsDep) -> Response:
    return _asset(request, widget_assets(settings).stylesheet)


@router.get("/demo", include_in_schema=False)
async def demo_start(request: Request, settings: SettingsDep, served: ServedDep) -> Response:
    """The demo record page of the most borrowed book."""
    _demo_enabled(settings.demo_pages)
    curation = request.app.state.curation.current(served)
    top = pipeline.popular_list(served, curation, query=ListQuery(k=1, period="all")).positions
    if not len(top):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the served catalog has no books")
    book_id = str(served.catalog.book_ids[top[0]])
    return RedirectResponse(str(request.url_for("demo_record", book_id=book_id)))


@router.get("/demo/demo.css", include_in_schema=False)
async def demo_css(request: Request, settings: SettingsDep) -> Response:
    _demo_enabled(settings.demo_pages)
    return _asset(request, demo_stylesheet())


@router.get(
    "/demo/record/{book_id}",
    include_in_schema=False,
    responses={404: {"model": ErrorDetail}},
)
async def demo_record(
    book_id: BookId, request: Request, settings: SettingsDep, served: ServedDep
) -> HTMLResponse:
    """A sample catalog record page with the widget on it (RECSYS_DEMO_PAGES=true)."""
    _demo_enabled(settings.demo_pages)
    catalog = served.catalog
    position = catalog.position.get(book_id)
    if position is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"book {book_id!r} is not in the served catalog"
        )
    page = demo_page(
        book_id=book_id,
        title=catalog.titles[position],
        author=catalog.authors[position],
        subjects=catalog.subjects[position],
        service_url=str(request.base_url),
    )
    return HTMLResponse(
        page,
        media_type=HTML,
        headers={
            "Content-Security-Policy": demo_content_security_policy(settings),
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _demo_enabled(enabled: bool) -> None:
    if not enabled:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "demo pages are off (set RECSYS_DEMO_PAGES=true)"
        )


def _asset(request: Request, asset: Asset) -> Response:
    """The file gzipped when the client accepts it, or 304 when its ETag is unchanged."""
    gzipped = "gzip" in request.headers.get("accept-encoding", "")
    etag = asset.gzip_etag if gzipped else asset.etag
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={ASSET_MAX_AGE}",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(
        asset.gzipped if gzipped else asset.body, media_type=asset.media_type, headers=headers
    )
