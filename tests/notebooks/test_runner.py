"""Parameter injection, notebook discovery, HTML writing and kernel execution."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from recsys.notebooks import (
    INJECTED_TAG,
    PARAMETERS_TAG,
    NotebookError,
    execute_notebook,
    inject_parameters,
    notebook_paths,
    parameter_source,
    write_html,
)


def _notebook(*sources: str, parameters_at: int | None = 1) -> nbformat.NotebookNode:
    cells = [new_markdown_cell("# Question")]
    cells += [new_code_cell(source) for source in sources]
    if parameters_at is not None:
        cells[parameters_at].metadata["tags"] = [PARAMETERS_TAG]
    return new_notebook(cells=cells)


def test_parameters_are_injected_right_after_the_parameters_cell() -> None:
    original = _notebook("k = 10", "print(k)")
    injected = inject_parameters(original, {"k": 5, "run_id": "20261121T234501Z-3f9a"})
    assert [c.source for c in injected.cells[1:3]] == [
        "k = 10",
        "# Parameters injected by recsys.notebooks\nk = 5\nrun_id = '20261121T234501Z-3f9a'",
    ]
    assert injected.cells[2].metadata["tags"] == [INJECTED_TAG]
    assert len(original.cells) == 3  # the original is left alone


def test_injecting_again_replaces_the_earlier_injected_cell() -> None:
    twice = inject_parameters(inject_parameters(_notebook("k = 10"), {"k": 5}), {"k": 7})
    injected = [c for c in twice.cells if INJECTED_TAG in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert injected[0].source.endswith("k = 7")


def test_a_notebook_without_parameters_cell_is_refused() -> None:
    with pytest.raises(NotebookError, match="no cell tagged 'parameters'"):
        inject_parameters(_notebook("k = 10", parameters_at=None), {"k": 5})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"not a name": 1}, "parameter name must be a Python identifier; got 'not a name'"),
        (
            {"k": object()},
            "parameter k must be a str, number, bool, None or a list of them; got object",
        ),
        ({"k": [1, {2}]}, "parameter k must be"),
    ],
)
def test_parameter_source_accepts_only_names_and_literals(
    parameters: dict[str, object], message: str
) -> None:
    with pytest.raises(NotebookError, match=re.escape(message)):
        parameter_source(parameters)  # type: ignore[arg-type]


def test_notebook_paths_are_numbered_notebooks_in_order(tmp_path: Path) -> None:
    for name in ("02-b.ipynb", "01-a.ipynb", "scratch.ipynb", "03-c.txt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in notebook_paths(tmp_path)] == ["01-a.ipynb", "02-b.ipynb"]
    with pytest.raises(NotebookError, match="does not exist"):
        notebook_paths(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotebookError, match=r"no notebooks named NN-topic\.ipynb"):
        notebook_paths(tmp_path / "empty")


def test_html_hides_code_and_library_warnings_by_default(tmp_path: Path) -> None:
    notebook = _notebook("secret_code_line = 1")
    notebook.cells[1].outputs = [
        new_output("stream", name="stderr", text="LibraryWarning: noise"),
        new_output("stream", name="stdout", text="shown result"),
    ]
    html = write_html(notebook, tmp_path / "out" / "report.html").read_text()
    assert "shown result" in html
    assert "LibraryWarning" not in html
    assert "secret_code_line" not in html
    with_code = write_html(notebook, tmp_path / "code.html", show_code=True).read_text()
    assert "secret_code_line" in with_code
    assert notebook.cells[1].outputs[0].name == "stderr"  # the notebook itself is unchanged


@pytest.mark.notebooks
def test_execute_uses_this_interpreter_and_the_injected_values(tmp_path: Path) -> None:
    path = tmp_path / "01-probe.ipynb"
    nbformat.write(
        _notebook("k = 10", "import sys, os\nprint(sys.executable, k, os.getcwd())"), path
    )
    executed = execute_notebook(path, parameters={"k": 3}, cwd=tmp_path)
    text = executed.cells[-1].outputs[0].text.split()
    assert text == [sys.executable, "3", str(tmp_path.resolve())]


@pytest.mark.notebooks
def test_a_failing_cell_names_the_notebook_and_the_error(tmp_path: Path) -> None:
    path = tmp_path / "01-broken.ipynb"
    nbformat.write(_notebook("k = 10", "k / 0"), path)
    with pytest.raises(NotebookError, match=r"notebook 01-broken\.ipynb failed: ZeroDivisionError"):
        execute_notebook(path, parameters={"k": 3}, cwd=tmp_path)
