"""The README and the documentation site: the site builds with every warning as an error (a
broken link, a missing page or heading, a page outside the table of contents), the README's
links point at files and headings that exist, and every key of params.yaml has its row in the
configuration page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
#: A README a user reads in a few minutes.
README_MAX_LINES = 300
#: A Markdown link to a relative target: [text](target) or [text](target#anchor).
LINK = re.compile(r"\[[^\]]*\]\((?!https?://)([^)#\s]+)(?:#([^)\s]+))?\)")


def make_docs(source: Path, out: Path) -> subprocess.CompletedProcess:
    """`make docs` (the command CI runs) on ``source``, into ``out``."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "docs", f"DOCS_SRC={source}", f"DOCS_OUT={out}"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.process
def test_the_docs_build_without_a_warning(tmp_path: Path) -> None:
    result = make_docs(DOCS, tmp_path / "html")
    assert result.returncode == 0, result.stdout + result.stderr
    built = sorted(p.stem for p in (tmp_path / "html").glob("*.html"))
    pages = sorted(p.stem for p in DOCS.glob("*.md"))
    assert set(pages) <= set(built)


@pytest.mark.process
def test_a_broken_link_or_a_page_outside_the_toc_fails_the_build(tmp_path: Path) -> None:
    """The check itself: each defect is named, and the build fails."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build"))
    with (source / "data.md").open("a") as page:
        page.write("\n[a](nowhere.md) [b](training.md#no-such-heading) {doc}`missing`\n")
    (source / "orphan.md").write_text("# Orphan\n")
    result = make_docs(source, tmp_path / "html")
    assert result.returncode != 0
    for named in ("nowhere.md", "no-such-heading", "missing", "orphan.md"):
        assert named in result.stderr, named


def _slug(heading: str) -> str:
    """A heading's anchor as MyST (and GitHub) make it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    lines = page.read_text(encoding="utf-8").splitlines()
    return {_slug(line.lstrip("#")) for line in lines if re.match(r"#{1,3} ", line)}


def test_the_readmes_links_point_at_files_and_headings_that_exist() -> None:
    links = LINK.findall(README.read_text(encoding="utf-8"))
    assert len(links) > 10
    for target, anchor in links:
        path = REPO / target
        assert path.exists(), target
        if anchor:
            assert anchor in _anchors(path), f"{target}#{anchor}"


def test_the_readme_is_short_and_speaks_of_the_project_only() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    for page in [README, *DOCS.glob("*.md")]:
        body = page.read_text(encoding="utf-8")
        assert "../shared" not in body, page.name
        assert not re.search(r"\bissue \d+|#\d{1,3}\b", body), page.name


def _leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            keys += _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_every_key_of_params_yaml_is_documented() -> None:
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = _leaf_keys(params)
    assert len(keys) > 50
    assert [key for key in keys if f"| `{key}` |" not in page] == []
