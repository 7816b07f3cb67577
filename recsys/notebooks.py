"""Execute the librarians' notebooks with parameters and write them as HTML reports.

Parameters are injected papermill-style, without papermill: a code cell tagged
``injected-parameters`` is placed right after the cell tagged ``parameters`` (replacing an earlier
injected one), so the notebook's defaults stay visible and the overrides win.

The kernel is the ipykernel of the running interpreter (``sys.executable``), whatever kernelspecs
are installed on the machine, so a fresh virtual environment in CI runs the notebooks against
the same recsys it tests.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter
from nbformat import NotebookNode
from traitlets import default

from recsys.exceptions import RecsysError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
NOTEBOOK_NAME = re.compile(r"^\d{2}-[a-z0-9-]+\.ipynb$")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
CELL_TIMEOUT_SECONDS = 1_800
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]  # no plain-TCP warning in the morning log
#: nbclient and nbconvert log routine chatter (kernel names, zmq clean-up, image alt text) as
#: warnings; failures reach the caller as exceptions, so only errors are worth printing.
JUPYTER_LOG = logging.getLogger("recsys.notebooks.jupyter")
JUPYTER_LOG.setLevel(logging.ERROR)
ParameterValue = str | int | float | bool | None | list[Any] | tuple[Any, ...]


class NotebookError(RecsysError):
    """A notebook could not be prepared or one of its cells failed."""


def notebook_paths(directory: Path) -> list[Path]:
    """The numbered notebooks ``NN-topic.ipynb`` in `directory`, in reading order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotebookError(f"notebooks directory {directory} does not exist")
    paths = sorted(p for p in directory.iterdir() if NOTEBOOK_NAME.match(p.name))
    if not paths:
        raise NotebookError(f"no notebooks named NN-topic.ipynb in {directory}")
    return paths


def parameter_source(parameters: Mapping[str, ParameterValue]) -> str:
    """Python assignments for `parameters` (names must be identifiers, values literals)."""
    lines = ["# Parameters injected by recsys.notebooks"]
    for name, value in parameters.items():
        if not name.isidentifier():
            raise NotebookError(f"parameter name must be a Python identifier; got {name!r}")
        if not _is_literal(value):
            raise NotebookError(
                f"parameter {name} must be a str, number, bool, None or a list of them; "
                f"got {type(value).__name__}"
            )
        lines.append(f"{name} = {value!r}")
    return "\n".join(lines)


def _is_literal(value: object) -> bool:
    if isinstance(value, list | tuple):
        return all(_is_literal(item) for item in value)
    return value is None or isinstance(value, str | int | float | bool)


def inject_parameters(
    notebook: NotebookNode, parameters: Mapping[str, ParameterValue]
) -> NotebookNode:
    """A copy of `notebook` with an injected-parameters cell after the ``parameters`` cell."""
    copy = nbformat.from_dict(notebook)
    cells = [c for c in copy.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    tagged = [
        i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])
    ]
    if not tagged:
        raise NotebookError(f"the notebook has no cell tagged {PARAMETERS_TAG!r}")
    cell = nbformat.v4.new_code_cell(parameter_source(parameters))
    cell.metadata["tags"] = [INJECTED_TAG]
    cells.insert(tagged[0] + 1, cell)
    copy.cells = cells
    return copy


class ThisInterpreterKernelManager(KernelManager):
    """Starts the running interpreter's ipykernel, ignoring the kernelspecs a machine has.

    With no kernel directories, jupyter_client falls back to ipykernel's own spec, whose command
    is ``sys.executable -m ipykernel_launcher``.
    """

    @default("kernel_spec_manager")
    def _no_installed_kernelspecs(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[], parent=self)

    @default("log")
    def _quiet_log(self) -> logging.Logger:
        return JUPYTER_LOG


def execute_notebook(
    path: Path,
    *,
    parameters: Mapping[str, ParameterValue] | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: int = CELL_TIMEOUT_SECONDS,
) -> NotebookNode:
    """Run the notebook at `path` with `parameters` injected; returns the executed notebook.

    The kernel starts in `cwd` (default: the current directory, so ``.env`` and relative paths
    resolve as for the CLI) with environment `env` (default: this process's, BLAS threads 1).
    """
    path = Path(path)
    notebook = inject_parameters(nbformat.read(path, as_version=4), parameters or {})
    environment = dict(os.environ if env is None else env)
    environment.setdefault("OPENBLAS_NUM_THREADS", "1")
    environment.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    client = NotebookClient(
        notebook,
        kernel_manager_class=ThisInterpreterKernelManager,
        kernel_name=NATIVE_KERNEL_NAME,
        timeout=timeout,
        extra_arguments=KERNEL_ARGUMENTS,
        log=JUPYTER_LOG,
        resources={"metadata": {"path": str(Path(cwd or Path.cwd()).resolve())}},
    )
    try:
        client.execute(env=environment)
    except CellExecutionError as error:
        raise NotebookError(f"notebook {path.name} failed: {_first_line(error)}") from None
    except (CellTimeoutError, DeadKernelError) as error:
        raise NotebookError(f"notebook {path.name} did not finish: {_first_line(error)}") from None
    return notebook


def _first_line(error: BaseException) -> str:
    """The exception line of a cell error (the last non-empty line, without terminal colours)."""
    text = ANSI_ESCAPE.sub("", str(error))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def write_html(notebook: NotebookNode, target: Path, *, show_code: bool = False) -> Path:
    """Write `notebook` as a self-contained HTML page (plots embedded); code hidden by default.

    Text that libraries print to stderr (import-time warnings, progress bars) is left out: it
    is meant for engineers, and a failing cell raises before a report is written.
    """
    report = nbformat.from_dict(notebook)
    for cell in report.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.output_type == "stream" and o.get("name") == "stderr")
            ]
    exporter = HTMLExporter(
        exclude_input=not show_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        log=JUPYTER_LOG,
    )
    body, _ = exporter.from_notebook_node(report)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def run_notebooks(
    directory: Path,
    out_dir: Path,
    *,
    parameters: Mapping[str, ParameterValue] | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    show_code: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Execute every notebook of `directory` and write ``out_dir/NN-topic.html``; returns paths.

    Stops at the first failing notebook (raising `NotebookError`); reports already written stay.
    """
    written = []
    for path in notebook_paths(directory):
        if progress is not None:
            progress(f"notebooks: running {path.name}")
        executed = execute_notebook(path, parameters=parameters, cwd=cwd, env=env)
        written.append(
            write_html(executed, Path(out_dir) / f"{path.stem}.html", show_code=show_code)
        )
    return written
