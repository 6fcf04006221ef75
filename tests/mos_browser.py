"""Scripted raters in a real browser (Debian's chromium, driven by Playwright; no download).

Used by tests/test_mos_browser.py, and by hand to rate a served study end to end:

    python tests/mos_browser.py --url http://127.0.0.1:8000 --study results/mos/study

rates every code of the study with a simulated panel: each rater scores an image by its
method's quality (read from the study's manifest, which a real rater never sees), plus the
rater's bias and noise. It prints where each rater reloaded the page.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BROWSER = Path("/usr/bin/chromium")
#: Headless chromium without a sandbox (root in CI) and without talking to anyone.
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright):
    return playwright.chromium.launch(
        executable_path=str(BROWSER), headless=True, args=BROWSER_ARGS
    )


@dataclass
class Received:
    """Everything a browser context received: (url, status, headers, body) per response."""

    responses: list[tuple[str, int, dict, bytes]] = field(default_factory=list)

    def attach(self, context) -> None:
        context.on("response", self._keep)

    def _keep(self, response) -> None:
        try:
            body = response.body()
        except Exception:  # a redirect has no body to fetch
            body = b""
        self.responses.append((response.url, response.status, response.all_headers(), body))

    def text(self, images: bool = True) -> str:
        """Every URL, header and body (bodies decoded as Latin-1: bytes kept one to one;
        without the PNG bodies unless ``images``)."""
        parts = []
        for url, status, headers, body in self.responses:
            parts += [url, str(status), *(f"{k}: {v}" for k, v in headers.items())]
            if images or headers.get("content-type") != "image/png":
                parts.append(body.decode("latin-1"))
        return "\n".join(parts)


class Rater:
    """One rater in one browser context, a page action per :meth:`step`."""

    def __init__(self, browser, url: str, code: str, choose: Callable[[str, int | None], int]):
        self.browser, self.url, self.code, self.choose = browser, url, code, choose
        self.received = Received()
        self.given: list[tuple[int, str, int]] = []  # (position, stimulus, score)
        self.done = False
        self.open()

    def open(self) -> None:
        """A new browser context (no cookies: a closed tab, another day), code entered."""
        self.context = self.browser.new_context()
        self.received.attach(self.context)
        self.page = self.context.new_page()
        self.page.goto(f"{self.url}/")
        self.page.fill("#code", self.code)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()

    def where(self) -> int | None:
        """The position the page shows (None on a pause or the end page)."""
        field = self.page.query_selector("input[name=item]")
        if field is None:
            return None
        return int(self.page.input_value("#rating input[name=index]"))

    def step(self) -> None:
        page = self.page
        if page.query_selector("#continue"):
            page.click("#continue")
            page.wait_for_load_state()
            return
        if self.where() is None:
            assert "Thank you" in page.content(), page.content()[:2000]
            self.done = True
            return
        index = self.where()
        stimulus = page.input_value("#rating input[name=item]")
        page.wait_for_selector("button[name=score]:not([disabled])")  # the image has loaded
        enabled = page.query_selector_all("button[name=score]:not([disabled])")
        anchor = int(enabled[0].get_attribute("value")) if len(enabled) == 1 else None
        score = anchor if anchor is not None else self.choose(stimulus, index)
        with page.expect_navigation():
            page.click(f"button[name=score][value='{score}']")
        self.given.append((index, stimulus, score))

    def run(self) -> None:
        while not self.done:
            self.step()


def panel_chooser(manifest: dict, number: int, seed: int = 0) -> Callable[[str, int | None], int]:
    """A simulated rater: the method's quality (HR best, NN worst, the models between, in
    the manifest's order of methods), plus a bias and noise of its own."""
    methods = manifest["settings"]["methods"]
    quality = dict(zip(methods, np.linspace(1.3, 4.5, len(methods)), strict=True))
    method_of = {s["id"]: s["method"] for s in manifest["stimuli"]}
    rng = np.random.default_rng([seed, number])
    bias, noise = rng.normal(0, 0.3), rng.uniform(0.3, 0.7)

    def choose(stimulus: str, _index: int | None) -> int:
        value = quality[method_of[stimulus]] + bias + rng.normal(0, noise)
        return int(np.clip(np.rint(value), 1, 5))

    return choose


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the raters' address, as serve prints it")
    parser.add_argument("--study", type=Path, required=True, help="the study folder")
    parser.add_argument("--raters", type=int, default=None, help="how many codes to rate")
    args = parser.parse_args(argv)
    manifest = json.loads((args.study / "manifest.json").read_text())
    url = re.sub(r"/+$", "", args.url)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for entry in manifest["raters"][: args.raters]:
            rater = Rater(browser, url, entry["code"], panel_chooser(manifest, entry["number"]))
            half = manifest["settings"]["positions"] // 2
            while not rater.done:
                rater.step()
                if len(rater.given) == half and rater.where() is not None:
                    rater.page.reload()  # mid-study: the same item comes back
            rater.close()
            print(f"{entry['code']}: {len(rater.given)} ratings (reloaded after {half})")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
