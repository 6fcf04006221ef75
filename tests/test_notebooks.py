"""The report notebooks as code: ``notebooks/<name>.py`` (jupytext's percent format) is the
source; the committed ``notebooks/<name>.ipynb`` that papermill runs is generated from it
(``make notebooks``, ``reports.write_notebooks``) and must be up to date."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from srgan.report import notebooks as reports

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: The parameters every report notebook takes (papermill's ``-p``), in order.
PARAMETERS = [
    "results_dir",
    "runs_dir",
    "reports_dir",
    "data_dir",
    "profile",
    "config_files",
    "config_sets",
    "params_file",
]
EXTRA_PARAMETERS = {"figures": ["comparison_images"], "mos": ["ratings_file", "study_dir"]}


def _cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in notebook.cells]


@pytest.mark.parametrize("name", list(reports.NOTEBOOKS))
def test_the_committed_notebook_is_what_jupytext_generates(name: str) -> None:
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    generated = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert _cells(committed) == _cells(generated)
    assert committed.metadata["kernelspec"]["name"] == reports.KERNEL
    assert [c.id for c in committed.cells] == [
        f"{name}-{i:02d}" for i in range(len(generated.cells))
    ]
    # The magic is commented out in the .py file (ruff reads it) and live in the notebook.
    assert committed.cells[2].source.startswith("%matplotlib inline\n")


@pytest.mark.parametrize("name", list(reports.NOTEBOOKS))
def test_the_parameters_cell(name: str) -> None:
    """Cell 1 (after the title) is the one tagged for papermill; it sets the parameters."""
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [1] and notebook.cells[0].cell_type == "markdown"
    body = ast.parse(notebook.cells[1].source).body
    assigned = [target.id for node in body for target in node.targets]
    assert assigned == PARAMETERS + EXTRA_PARAMETERS.get(name, [])


def test_make_notebooks_is_byte_for_byte_stable(tmp_path: Path) -> None:
    """Regenerating from the same source gives the committed files, byte for byte."""
    for name in reports.NOTEBOOKS:
        shutil.copy(NOTEBOOKS / f"{name}.py", tmp_path)
    written = reports.write_notebooks(tmp_path)
    assert [p.name for p in written] == [f"{name}.ipynb" for name in reports.NOTEBOOKS]
    for path in written:
        assert path.read_bytes() == (NOTEBOOKS / path.name).read_bytes()
    assert reports.write_notebooks(tmp_path) == written
    assert all(path.read_bytes() == (NOTEBOOKS / path.name).read_bytes() for path in written)
