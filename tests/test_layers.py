"""The package's layers: every import of ``srgan`` points down (or within its own subpackage).

A subpackage may import those of a lower rank only; two subpackages of one rank do not import
each other. Imports inside functions count too. docs/architecture.md draws the same layers.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "srgan"

#: Rank of each subpackage: imports go to a lower rank only.
RANKS = {
    "core": 0,  # config, paths, data-set catalogue, paper, variants, files, errors, runtime
    "image": 1,  # MATLAB resize, colour, image files
    "metrics": 2,  # PSNR, SSIM, CIEDE2000, LPIPS, NIQE
    "models": 2,  # networks, losses, VGG, checkpoint files
    "data": 2,  # image sets on disk, training batches
    "training": 3,  # one step, the run, resume, signals
    "evaluation": 3,  # the protocol, tiled upscaling
    "report": 4,  # tables, provenance, charts, figures, pages
    "mos": 5,  # the opinion-score study kit
    "cli": 6,  # the srgan command: nothing imports it
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported srgan module) of every import in ``path``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("srgan")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("srgan"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n if n.split(".")[1] in RANKS else node.module) for n in names]
    return found


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_is_in_a_ranked_subpackage():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir())
    assert [n for n in top if n not in RANKS and n not in ("__init__.py", "__pycache__")] == []


@pytest.mark.parametrize("name", sorted(RANKS))
def test_imports_point_down(name):
    upward = []
    for path in sorted((PACKAGE / name).rglob("*.py")):
        for line, module in _imports(path):
            target = _subpackage(module)
            if target is None or target == name:
                continue
            if target not in RANKS or RANKS[target] >= RANKS[name]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert upward == []


def test_the_checker_sees_an_upward_import(tmp_path):
    """The check itself: an import of the CLI from a model module is found."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from srgan.cli import main\n")
    assert _imports(module) == [(2, "srgan.cli.main")]
    assert RANKS[_subpackage("srgan.cli.main")] > RANKS["models"]
