"""A real browser rates a small study end to end: Debian's chromium, driven by Playwright
(``executable_path``; no browser is downloaded), against ``srgan mos serve`` on a free port.

Outside CI the test skips when chromium or Playwright is missing; in CI (``CI`` set) it fails,
like the data mirror (.ci/run installs Debian's chromium when it is missing).
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srgan.core import paper, paths, variants

sys.path.insert(0, str(Path(__file__).parent))
from mos_browser import BROWSER, Rater, launch
from mos_helpers import CALIBRATION_SET, CALIBRATION_STEMS, STEMS, make_study


@pytest.fixture(scope="module")
def playwright():
    reason = None
    if not BROWSER.is_file():
        reason = f"no {BROWSER} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "Playwright for Python is not installed (make setup)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    with sync_playwright() as running:
        yield running


@pytest.fixture
def served(tmp_path: Path):
    folder = make_study(tmp_path, block_size=4)
    command = [sys.executable, "-m", "srgan.cli", "mos", "serve", "--study", str(folder.root)]
    process = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = [process.stdout.readline() for _ in range(4)]
    url = re.search(r"Raters: (http://127\.0\.0\.1:\d+)/", "".join(lines))
    assert url, lines
    try:
        yield folder, json.loads(folder.manifest.read_text()), url.group(1)
    finally:
        process.send_signal(2)
        process.communicate(timeout=30)
    assert process.returncode == 0


def ratings_in(folder) -> dict[str, list[tuple[int, str, int]]]:
    conn = sqlite3.connect(folder.database)
    rows = conn.execute("SELECT rater, position, stimulus, score FROM ratings ORDER BY 1, 2")
    found: dict[str, list] = {}
    for rater, position, stimulus, score in rows:
        found.setdefault(rater, []).append((position, stimulus, score))
    conn.close()
    return found


#: What must never reach a rater's browser: method names (ours and the paper's), image file
#: names, data set names. Short labels ("NN", "HR") as whole words, case-sensitive.
SECRETS = [
    *variants.NAMES,
    *variants.BASELINES,
    *(label for label in paper.LABELS.values() if len(label) > 2),
    *STEMS["SetQuokka"],
    *CALIBRATION_STEMS,
    *STEMS,
    CALIBRATION_SET,
]
WORDS = re.compile(r"\b(NN|HR|hr)\b")


@pytest.mark.browser
def test_two_raters_rate_in_a_browser_with_a_reload_and_a_closed_tab(playwright, served):
    folder, manifest, url = served
    total = manifest["settings"]["positions"]
    browser = launch(playwright)
    first, second = (r["code"] for r in manifest["raters"])

    def by_position(offset: int):
        return lambda _stimulus, index: (index + offset) % 5 + 1

    alice = Rater(browser, url, first, by_position(0))
    bob = Rater(browser, url, second, by_position(2))
    reloaded = closed = None
    while not (alice.done and bob.done):  # the two take turns, action by action
        for rater in (alice, bob):
            if not rater.done:
                rater.step()
        if len(alice.given) == 6 and reloaded is None and alice.where() is not None:
            reloaded = alice.where()
            alice.page.reload()  # mid-study: the same item comes back
            assert alice.where() == reloaded
        if len(bob.given) == 9 and closed is None and bob.where() is not None:
            closed = bob.where()
            bob.close()  # the tab is closed; later the code is entered again
            bob.open()
            assert bob.where() == closed
    # the database holds exactly the ratings given, in order, nothing else
    found = ratings_in(folder)
    assert found == {first: alice.given, second: bob.given}
    assert [p for p, _, _ in alice.given] == list(range(total)) == [p for p, _, _ in bob.given]
    # nothing the browsers received names a method, an image file or a data set
    for rater in (alice, bob):
        text = rater.received.text().lower()
        assert len(rater.received.responses) > 2 * total
        assert [s for s in SECRETS if s.lower() in text] == []
        pages = rater.received.text(images=False)  # two letters occur in PNG bytes by chance
        assert WORDS.findall(pages) == []
        for response_url, status, headers, _ in rater.received.responses:
            assert "server" not in headers, response_url
            if status == 200:
                assert headers["cache-control"] == "no-store", response_url
                assert "default-src 'none'" in headers["content-security-policy"]
        images = [r for r in rater.received.responses if "/image/" in r[0]]
        assert len(images) >= total and all(r[2]["content-type"] == "image/png" for r in images)
    # a finished code cannot rate again
    again = browser.new_context()
    page = again.new_page()
    page.goto(f"{url}/")
    page.fill("#code", first)
    page.click("button[type=submit]")
    assert "finished the study" in page.content()
    assert ratings_in(folder) == found
    browser.close()


#: Window sizes the rating page must work at: a laptop, a phone.
LAPTOP, PHONE = (1280, 800), (390, 844)
#: The calibration photos of the layout test: taller than a laptop's window (as the demo's
#: bundled photos are), and wider than a phone.
TALL = (900, 600)


def _big_study(root: Path):
    """The small study, its calibration photos replaced by TALL ones: the first items shown."""
    from mos_helpers import make_outputs, study_config

    from srgan.image.io import write_png
    from srgan.mos.study import create_study

    make_outputs(root)
    rng = np.random.default_rng(0)
    for stem in CALIBRATION_STEMS:
        photo = rng.integers(0, 256, size=(*TALL, 3), dtype=np.uint8)
        write_png(root / CALIBRATION_SET / f"{stem}.png", photo)
    config = study_config(root)
    return create_study(config, root / "study", root / paths.SR_IMAGES_DIR, progress=False)


@pytest.mark.browser
@pytest.mark.parametrize("window", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_the_rating_buttons_are_in_view_without_scrolling(playwright, tmp_path, window):
    """A reference photo taller than the window is scaled down (its shape kept, the scale
    said) so that every rating button is in view, and nothing overflows sideways."""
    from mos_helpers import running_server

    folder = _big_study(tmp_path)
    code = json.loads(folder.manifest.read_text())["raters"][0]["code"]
    width, height = window
    with running_server(folder) as running:
        browser = launch(playwright)
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        page.goto(f"{running.url}/")
        page.fill("#code", code)
        page.click("button[type=submit]")
        page.wait_for_selector("button[name=score]:not([disabled])")  # the image has loaded
        assert page.query_selector("#anchor") is not None  # a reference (calibration) photo
        for button in page.query_selector_all("button[name=score]"):
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
        image = page.query_selector("#stimulus").bounding_box()
        assert image["y"] + image["height"] <= height and image["width"] <= width
        assert image["width"] / image["height"] == pytest.approx(TALL[1] / TALL[0], rel=0.01)
        scale = image["height"] / TALL[0]
        assert 0.3 < scale < 1
        assert page.is_visible("#scaled")
        assert page.inner_text("#scaled").startswith(f"shown at {math.floor(scale * 100)}%")
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert page.evaluate(overflow) == 0
        assert page.evaluate("document.documentElement.scrollHeight") <= height
        browser.close()
