"""The interactive API documentation (Swagger UI) with its assets served from here, no CDN.

FastAPI's own `/docs` page loads Swagger UI from a CDN, so it stays blank on a library intranet
without internet. The same page is built here on the Swagger UI files that the `fastapi-offline`
package ships; the app is created with `docs_url=None, redoc_url=None` (ReDoc's bundle fetches
its logo from a CDN, so it is not offered).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
ASSETS_PATH = "/docs/assets"
#: The files the page loads, by the name it asks for them under `ASSETS_PATH`.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")
ASSET_CACHE = "public, max-age=86400"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for this service's OpenAPI document."""
    root = request.scope.get("root_path", "").rstrip("/")
    assets = f"{root}{ASSETS_PATH}"
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )


@router.get(ASSETS_PATH + "/{name}")
async def swagger_ui_asset(name: Annotated[str, Path(max_length=64)]) -> FileResponse:
    """One of the files Swagger UI needs."""
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no documentation asset named {name!r}")
    asset = resources.files("fastapi_offline").joinpath("static", name)
    return FileResponse(str(asset), headers={"Cache-Control": ASSET_CACHE})
