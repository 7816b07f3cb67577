"""The committed notebooks: no outputs (they can hold reader histories), and the agreed shape.

Each starts with the question it answers, has a `parameters` cell, ends with "How to read these
numbers", defines no functions and imports only from recsys (helpers live in recsys, tested).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from recsys.notebooks import INJECTED_TAG, PARAMETERS_TAG, notebook_paths

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = [
    "01-quality-overview.ipynb",
    "02-coverage-and-popularity-bias.ipynb",
    "03-quality-by-segment.ipynb",
    "04-readers-histories-and-suggestions.ipynb",
    "05-compare-two-models.ipynb",
    "06-librarians-rules-and-reading-lists.ipynb",
]
SHARED_PARAMETERS = ("run_id = None", "k = 10", "database_url = None", "models_dir = None")
IMPORT = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.MULTILINE)
DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s|\blambda\b", re.MULTILINE)


def test_the_notebooks_are_committed_in_reading_order() -> None:
    assert [p.name for p in notebook_paths(NOTEBOOKS_DIR)] == EXPECTED


@pytest.fixture(params=EXPECTED)
def notebook(request: pytest.FixtureRequest) -> nbformat.NotebookNode:
    path = NOTEBOOKS_DIR / request.param
    node = nbformat.read(path, as_version=4)
    nbformat.validate(node)
    return node


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def test_notebook_is_committed_without_outputs(notebook: nbformat.NotebookNode) -> None:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
        assert INJECTED_TAG not in _tags(cell)


def test_notebook_has_one_parameters_cell_with_the_shared_parameters(
    notebook: nbformat.NotebookNode,
) -> None:
    tagged = [cell for cell in notebook.cells if PARAMETERS_TAG in _tags(cell)]
    assert len(tagged) == 1
    assert tagged[0].cell_type == "code"
    for assignment in SHARED_PARAMETERS:
        assert re.search(rf"^{re.escape(assignment)}\b", tagged[0].source, re.MULTILINE)


def test_notebook_opens_with_its_question_and_closes_with_how_to_read(
    notebook: nbformat.NotebookNode,
) -> None:
    first, last = notebook.cells[0], notebook.cells[-1]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "**The question:**" in first.source
    assert last.cell_type == "markdown"
    assert last.source.startswith("## How to read these numbers")


def test_notebook_code_defines_nothing_and_imports_only_recsys(
    notebook: nbformat.NotebookNode,
) -> None:
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        assert not DEFINITION.search(cell.source), cell.source
        for module in IMPORT.findall(cell.source):
            assert module.split(".")[0] == "recsys", cell.source
