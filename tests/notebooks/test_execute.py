"""Every notebook executed against a tiny freshly trained model, as `make notebooks` runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from recsys import artifacts
from recsys.notebooks import execute_notebook, notebook_paths, write_html

from .conftest import CANARY, Site

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: Figures each notebook must draw (at least).
MIN_FIGURES = {"01": 2, "02": 4, "03": 5, "04": 1, "05": 3, "06": 0}


@pytest.fixture(scope="session")
def executed(
    site: Site, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[nbformat.NotebookNode, str]]:
    """Each notebook's executed form and HTML report (settings from the kernel's environment)."""
    out = tmp_path_factory.mktemp("reports")
    results = {}
    for path in notebook_paths(NOTEBOOKS_DIR):
        notebook = execute_notebook(path, parameters={"k": 5}, cwd=site.root, env=site.environ)
        html = write_html(notebook, out / f"{path.stem}.html").read_text(encoding="utf-8")
        results[path.name[:2]] = (notebook, html)
    return results


def _figures(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_every_notebook_completes_and_draws_its_figures(
    executed: dict[str, tuple[nbformat.NotebookNode, str]],
) -> None:
    assert sorted(executed) == sorted(MIN_FIGURES)
    for number, (notebook, html) in executed.items():
        errors = [
            o
            for c in notebook.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert errors == [], number
        assert _figures(notebook) >= MIN_FIGURES[number], number
        assert html.count("data:image/png;base64,") >= MIN_FIGURES[number], number


def test_no_report_holds_a_raw_reader_id_or_a_pseudonym(
    site: Site,
    executed: dict[str, tuple[nbformat.NotebookNode, str]],
) -> None:
    assert site.raw_ids and site.pseudonyms
    for number, (notebook, html) in executed.items():
        text = nbformat.writes(notebook)
        for document in (text, html):
            assert CANARY not in document, number
            leaked = [p for p in site.pseudonyms if p in document]
            assert leaked == [], number


def test_readers_notebook_labels_readers_and_gives_reasons(
    executed: dict[str, tuple[nbformat.NotebookNode, str]],
) -> None:
    html = executed["04"][1]
    assert "Reader A" in html and "Reader C" in html
    assert "because you borrowed" in html
    assert "Recent loans" in html
    assert "Records grouped into works" in html
    assert "records placed by the catalog&#x27;s work_id" in html or "catalog's work_id" in html


def test_curation_notebook_shows_what_each_rule_touches(
    executed: dict[str, tuple[nbformat.NotebookNode, str]],
) -> None:
    html = executed["06"][1]
    assert "suppress" in html and "damaged copy" in html  # the rule the site's librarian made
    assert "reader lists touched" in html and "Winter reads" in html


def test_compare_notebook_compares_the_two_nightly_runs(
    site: Site,
    executed: dict[str, tuple[nbformat.NotebookNode, str]],
) -> None:
    html = executed["05"][1]
    runs = artifacts.list_runs(site.settings.models_dir)
    assert len(runs) == 2
    assert all(run_id in html for run_id in runs)
    assert "Only one complete run exists" not in html


def test_cli_writes_one_html_report_per_notebook(site: Site, tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01-quality-overview.ipynb").write_bytes(
        (NOTEBOOKS_DIR / "01-quality-overview.ipynb").read_bytes()
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "notebooks",
            "--notebooks",
            str(notebooks),
            "--out",
            str(tmp_path / "reports"),
            "--k",
            "5",
        ],
        env=site.environ,
        cwd=site.root,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = tmp_path / "reports" / "01-quality-overview.html"
    assert result.stdout.split() == [str(report)]
    html = report.read_text(encoding="utf-8")
    current = artifacts.current_run_id(site.settings.models_dir)
    assert current is not None and current in html
    assert "How to read these numbers" in html


def test_cli_refuses_an_unknown_run(site: Site, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "notebooks",
            "--run-id",
            "20200101T000000Z-dead",
            "--out",
            str(tmp_path),
        ],
        env=site.environ,
        cwd=site.root,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "recsys notebooks: error: bundle" in result.stderr
    assert "20200101T000000Z-dead does not exist" in result.stderr
    assert not any(tmp_path.iterdir())
