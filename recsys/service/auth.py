"""API keys (`X-API-Key`) with scopes: ``reader`` for per-reader routes, ``admin`` for operators.

Per-reader routes are closed when no key is configured: a reader's list must never be open to
anyone who can reach the port. The demo configures a key and the README's curl lines send it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "X-API-Key"
READER_SCOPE = "reader"
ADMIN_SCOPE = "admin"

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="API key; scope `reader` for per-reader routes, `admin` for admin routes",
)


class ApiKeys:
    """The configured keys and their scopes; compares keys in constant time."""

    def __init__(
        self, scopes: Mapping[str, set[str]], names: Mapping[str, str] | None = None
    ) -> None:
        self._scopes = {key.encode("utf-8"): frozenset(s) for key, s in scopes.items()}
        self._names = {key.encode("utf-8"): name for key, name in (names or {}).items()}

    def __bool__(self) -> bool:
        return bool(self._scopes)

    def scopes_of(self, key: str) -> frozenset[str] | None:
        """The scopes of `key`, or None for an unknown key."""
        given = key.encode("utf-8")
        found: frozenset[str] | None = None
        for known, scopes in self._scopes.items():
            if hmac.compare_digest(known, given):
                found = scopes
        return found

    def name_of(self, key: str) -> str:
        """The name of a known key, for audit trails ("key" when none was configured)."""
        given = key.encode("utf-8")
        found = "key"
        for known, name in self._names.items():
            if hmac.compare_digest(known, given):
                found = name
        return found

    def check(self, key: str | None, scope: str) -> None:
        """Raise 401 (no or unknown key) or 403 (key without `scope`)."""
        if not self._scopes:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"this route needs an API key with scope {scope!r} and none is configured "
                "(set RECSYS_API_KEYS=KEY:reader,KEY:admin)",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )
        if not key:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"this route needs an {API_KEY_HEADER} header with scope {scope!r}",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )
        scopes = self.scopes_of(key)
        if scopes is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"the {API_KEY_HEADER} header holds an unknown key",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )
        if scope not in scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks scope {scope!r}")


def require_scope(scope: str, *, unless_public: bool = False) -> Callable[..., Awaitable[None]]:
    """A dependency checking the request's key for `scope`.

    With `unless_public`, the check is skipped while `settings.public_book_routes` is true.
    """

    async def dependency(request: Request, key: str | None = Security(api_key_header)) -> None:
        if unless_public and request.app.state.settings.public_book_routes:
            return
        request.app.state.api_keys.check(key, scope)

    return dependency
