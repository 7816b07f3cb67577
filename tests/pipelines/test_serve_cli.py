"""`recsys serve`: its options reach uvicorn, and a bad one is a usage error."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from pipelines.cli import main
from pipelines.serve import DEFAULT_WORKER_TIMEOUT


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of each `uvicorn.run` call (the server itself is not started)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    return calls


def test_the_worker_timeout_reaches_uvicorn(
    published: list[str], uvicorn_calls: list[dict[str, Any]]
) -> None:
    assert main(["serve", "--workers", "2", "--worker-timeout", "90"]) == 0
    assert main(["serve", "--workers", "2"]) == 0
    assert [(c["workers"], c["timeout_worker_healthcheck"]) for c in uvicorn_calls] == [
        (2, 90),
        (2, DEFAULT_WORKER_TIMEOUT),
    ]


@pytest.mark.parametrize("bad", ["0", "-5", "1.5", "soon"])
def test_a_worker_timeout_below_one_second_is_a_usage_error(
    bad: str, published: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--worker-timeout", bad])
    assert exit_info.value.code == 2
    assert f"--worker-timeout: must be a whole number of seconds >= 1; got '{bad}'" in (
        capsys.readouterr().err
    )
