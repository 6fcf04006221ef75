"""Shared by the MOS tests: a small synthetic study, a server in a thread, an HTTP client."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srgan.core import paths, variants
from srgan.core.config import load_config
from srgan.image.io import write_png

REPO = Path(__file__).resolve().parents[1]
#: Test images with names that cannot occur by chance in a page.
STEMS = {"SetQuokka": ("zebrafinch", "lighthouse", "watermill")}
CALIBRATION_STEMS = ("harbourcat", "snowowl", "tramline", "orchard")
CALIBRATION_SET = "calset_k9"
#: Methods of the small study (besides HR): both baselines and one trained model.
METHODS = (*variants.BASELINES, variants.SRGAN_VGG54)
HR_SIZE = (34, 50)  # not a multiple of 4: HR stimuli are cropped to 32 x 48


def _photo(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def make_outputs(root: Path, seed: int = 0) -> Path:
    """A workflow's outputs in miniature under ``root``: HR test images, SR images of every
    method, calibration images. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for dataset, stems in STEMS.items():
        for stem in stems:
            hr = _photo(rng, HR_SIZE)
            write_png(root / "data" / paths.FETCHED_TEST_DIR / dataset / f"{stem}.png", hr)
            crop = hr[: HR_SIZE[0] // 4 * 4, : HR_SIZE[1] // 4 * 4]
            for method in METHODS:
                noisy = np.clip(crop.astype(int) + rng.integers(-20, 20, crop.shape), 0, 255)
                images = root / paths.SR_IMAGES_DIR
                write_png(paths.sr_image(method, dataset, stem, images), noisy.astype(np.uint8))
    for stem in CALIBRATION_STEMS:
        write_png(root / CALIBRATION_SET / f"{stem}.png", _photo(rng, (40, 44)))
    return root


def study_config(root: Path, **mos):
    """The configuration of the small study (``mos`` keys override its settings)."""
    settings = {
        "raters": 2,
        "calibration_images": 2,
        "attention_items": 2,
        "block_size": 5,
        "calibration_dir": str(root / CALIBRATION_SET),
        **mos,
    }
    sets = [
        f"data.root={root / 'data'}",
        f"evaluate.datasets=[{', '.join(STEMS)}]",
        f"workflow.variants=[{variants.SRGAN_VGG54}]",
        *(f"mos.{key}={value}" for key, value in settings.items()),
    ]
    return load_config(REPO / "params.yaml", [], sets)


def make_study(root: Path, **mos) -> paths.StudyFolder:
    from srgan.mos.study import create_study

    make_outputs(root)
    config = study_config(root, **mos)
    return create_study(config, root / "study", root / paths.SR_IMAGES_DIR, progress=False)


@dataclass
class Running:
    url: str
    token: str
    port: int
    study: object
    server: object


@contextmanager
def running_server(folder: paths.StudyFolder, limits=None) -> Iterator[Running]:
    """``srgan mos serve``'s server (``server.make_server``, with ``limits``) on a free port
    of 127.0.0.1, in a thread."""
    import tornado.netutil

    from srgan.mos import server

    study = server.open_study(folder.root)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    made = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        http = server.make_server(study, limits)
        http.add_sockets(sockets)
        made.append(http)
        started.set()
        loop.run_forever()
        http.stop()
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait()
    try:
        yield Running(f"http://127.0.0.1:{port}", study.token, port, study, made[0])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        study.store.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A browser without a browser: cookies, the XSRF token, forms; no redirects followed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(self, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        data = None
        if form is not None:
            form = {"_xsrf": self.xsrf(), **form}
            data = urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.url + path, data=data, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode("latin-1")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode("latin-1")

    def xsrf(self) -> str:
        for cookie in self.jar:
            if cookie.name == "_xsrf":
                return cookie.value
        status, _, body = self.request("/")
        match = re.search(r'name="_xsrf" value="([^"]+)"', body)
        assert match, body
        return match.group(1)

    def current(self) -> dict:
        """The form fields of the page at /rate: index, item (or the pause's index)."""
        status, _, body = self.request("/rate")
        fields = dict(re.findall(r'name="(index|item)" value="([^"]*)"', body))
        fields["page"] = body
        return fields


# --- a simulated panel ------------------------------------------------------------------------

#: True quality of each method on the 1-5 scale, in increasing order (the panel's truth).
TRUE_QUALITY = {
    variants.NEAREST: 1.3,
    variants.BICUBIC: 1.9,
    variants.SRRESNET_MSE: 2.6,
    variants.SRGAN_VGG54: 3.5,
    "hr": 4.4,
}


def simulated_panel(
    raters: int = 26,
    images: int = 20,
    datasets: tuple[str, ...] = ("BSD100",),
    quality: dict[str, float] = TRUE_QUALITY,
    seed: int = 0,
    bad_raters: tuple[str, ...] = (),
):
    """Ratings of a panel with known biases and noise: rater r scores stimulus (image i,
    method m) round(q_m + e_i + b_r + n), clipped to 1-5, with image effects e_i ~ N(0, 0.3),
    rater biases b_r ~ N(0, 0.4) and noise n ~ N(0, s_r), s_r uniform in [0.3, 0.9]. Each
    rater also answers attention items correctly. ``bad_raters``: "random" (uniform scores,
    attention failed) or "straight" (always 3)."""
    import pandas as pd

    from srgan.mos import store

    rng = np.random.default_rng(seed)
    rows = []
    effects = rng.normal(0, 0.3, size=images)
    kinds = [*(["good"] * raters), *bad_raters]
    for number, kind in enumerate(kinds, start=1):
        rater = f"R{number:02d}"
        bias, noise = rng.normal(0, 0.4), rng.uniform(0.3, 0.9)
        for dataset in datasets:
            for image in range(images):
                for method, q in quality.items():
                    if kind == "random":
                        score = int(rng.integers(1, 6))
                    elif kind == "straight":
                        score = 3
                    else:
                        score = int(
                            np.clip(np.rint(q + effects[image] + bias + rng.normal(0, noise)), 1, 5)
                        )
                    rows.append((rater, store.TEST, dataset, f"img{image}", method, None, score))
        for i, (method, expected) in enumerate(store.ANCHOR_SCORES.items()):
            wrong = kind == "random"
            score = 6 - expected if wrong else expected
            rows.append((rater, store.ATTENTION, "BSD200", f"att{i}", method, expected, score))
    columns = ["rater", "kind", "dataset", "image", "method", "expected", "score"]
    return pd.DataFrame(rows, columns=columns)
