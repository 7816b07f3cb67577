"""The one parser of list query strings, for the routes, the service's front door and the docs.

Every list route takes the same few parameters; each is declared once here (`PARAMETERS`) with
its rule, and `parse_query` reads a raw query string against the names a route accepts. A bad
value raises `QueryError` with FastAPI's 422 shape (``loc``, ``msg``, ``type``), naming the
parameter and the rule but never echoing the value (a value may be a reader id). Names a route
does not take are ignored, as FastAPI ignores them, and reported in `ListQuery.unknown` (the
front door leaves such requests to the routes). `openapi_parameters` describes the same rules
for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from recsys.columns import Audiences
from recsys.data.schemas import MAX_ID_LENGTH
from recsys.lists.catalog import ListFilters

MAX_K = 100
MAX_FILTER_LENGTH = 64
DEFAULT_K = 10
#: Period -> days back from the newest stored loan (None: everything); the first is the default.
PERIOD_DAYS: dict[str, int | None] = {"year": 365, "month": 30, "week": 7, "all": None}
PERIODS = tuple(PERIOD_DAYS)
#: What pydantic reads as a boolean (the route's answers stay what they were).
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class QueryError(ValueError):
    """Bad list parameters: `problems` in FastAPI's 422 shape."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{p['loc'][-1]}: {p['msg']}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Parameter:
    """One query parameter: its name, OpenAPI schema, help text and how a value is read."""

    name: str
    schema: dict[str, Any]
    description: str
    read: Callable[[str], Any]
    repeatable: bool = False


@dataclass(frozen=True)
class ListQuery:
    """A list request's parameters: the filters, k, the popular list's period, unknown names."""

    filters: ListFilters = field(default_factory=ListFilters)
    k: int = DEFAULT_K
    period: str = PERIODS[0]
    unknown: tuple[str, ...] = ()


class _Invalid(ValueError):
    """A value breaking its parameter's rule: (message, FastAPI error type)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _k(value: str) -> int:
    if not value.strip().lstrip("+-").isdigit():
        raise _Invalid("Input should be a valid integer", "int_parsing")
    number = int(value)
    if number < 1:
        raise _Invalid("Input should be greater than or equal to 1", "greater_than_equal")
    if number > MAX_K:
        raise _Invalid(f"Input should be less than or equal to {MAX_K}", "less_than_equal")
    return number


def _text(limit: int) -> Callable[[str], str]:
    def read(value: str) -> str:
        if len(value) < 1:
            raise _Invalid("String should have at least 1 character", "string_too_short")
        if len(value) > limit:
            raise _Invalid(f"String should have at most {limit} characters", "string_too_long")
        return value

    return read


def _boolean(value: str) -> bool:
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise _Invalid("Input should be a valid boolean", "bool_parsing")


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    quoted = [repr(c) for c in choices]
    listed = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]

    def read(value: str) -> str:
        if value not in choices:
            raise _Invalid(f"Input should be {listed}", "enum")
        return value

    return read


def _string(limit: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit}


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter(
            "k",
            {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K},
            "list length",
            _k,
        ),
        Parameter(
            "library", _string(MAX_FILTER_LENGTH), "branch library id", _text(MAX_FILTER_LENGTH)
        ),
        Parameter(
            "available_only",
            {"type": "boolean", "default": False},
            "only books with a copy on the shelf (at `library` if given)",
            _boolean,
        ),
        Parameter(
            "audience",
            {"type": "string", "enum": list(Audiences.ALL)},
            "children, young_adult or adult",
            _choice(Audiences.ALL),
        ),
        Parameter(
            "format",
            _string(MAX_FILTER_LENGTH),
            "catalog format, e.g. book, ebook",
            _text(MAX_FILTER_LENGTH),
        ),
        Parameter(
            "language",
            _string(MAX_FILTER_LENGTH),
            "catalog language code, e.g. eng",
            _text(MAX_FILTER_LENGTH),
        ),
        Parameter(
            "exclude",
            {"type": "array", "items": _string(MAX_ID_LENGTH)},
            "book ids never to list (repeatable)",
            _text(MAX_ID_LENGTH),
            repeatable=True,
        ),
        Parameter(
            "period",
            {"type": "string", "enum": list(PERIODS), "default": PERIODS[0]},
            "counted back from the newest loan",
            _choice(PERIODS),
        ),
    )
}
#: The parameters of each list route.
FILTERED = ("k", "library", "available_only", "audience", "format", "language", "exclude")
POPULAR = ("k", "library", "audience", "period")


def parse_query(query: bytes | str, accepted: Iterable[str]) -> ListQuery:
    """The list parameters of a raw query string; raises `QueryError` naming each bad one."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    names = frozenset(accepted)
    values: dict[str, Any] = {}
    excluded: list[str] = []
    unknown: list[str] = []
    problems: list[dict[str, Any]] = []
    for name, raw in parse_qsl(text, keep_blank_values=True, encoding="utf-8"):
        parameter = PARAMETERS.get(name)
        if parameter is None or name not in names:
            unknown.append(name)
            continue
        try:
            value = parameter.read(raw)
        except _Invalid as error:
            problems.append({"loc": ["query", name], "msg": str(error), "type": error.kind})
            continue
        if parameter.repeatable:
            excluded.append(value)
        else:
            values[name] = value  # the last of repeated values wins, as in FastAPI
    if problems:
        raise QueryError(problems)
    k = values.pop("k", DEFAULT_K)
    period = values.pop("period", PERIODS[0])
    filters = ListFilters(**values, exclude=tuple(excluded))
    return ListQuery(filters, k, period, tuple(unknown))


def openapi_parameters(accepted: Iterable[str]) -> list[dict[str, Any]]:
    """The OpenAPI `parameters` of a route taking `accepted` (what `parse_query` reads)."""
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": PARAMETERS[name].schema,
            "description": PARAMETERS[name].description,
            **({"style": "form", "explode": True} if PARAMETERS[name].repeatable else {}),
        }
        for name in accepted
    ]
