"""The rating server over HTTP (no browser): a whole study, bad requests, two raters at once,
the operator page, what the responses say and do not say."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from srgan.core import paths
from srgan.mos import server

sys.path.insert(0, str(Path(__file__).parent))
from mos_helpers import Client, make_study, running_server

REPO = Path(__file__).resolve().parents[1]
TABLES = ("raters", "plan", "shown", "ratings", "pauses", "stimuli", "meta")


@pytest.fixture
def served(tmp_path: Path):
    folder = make_study(tmp_path)
    manifest = json.loads(folder.manifest.read_text())
    with running_server(folder) as running:
        yield folder, manifest, running


def dump(folder: paths.StudyFolder) -> dict[str, list]:
    conn = sqlite3.connect(folder.database)
    tables = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}
    conn.close()
    return tables


def anchor_score(page: str) -> int | None:
    match = re.search(r"an example of <b>(\d)", page)
    return int(match.group(1)) if match else None


def rate_next(client: Client, score: int = 3) -> tuple[int, str, int] | None:
    """One step of a rater: pass a pause, or rate the current item (anchors as shown).
    Returns (position, stimulus, score) when a rating was given."""
    page = client.current()
    if "item" not in page:
        if "/resume" in page["page"]:
            status, _, _ = client.request("/resume", {"index": page["index"]})
            assert status == 303
        return None
    score = anchor_score(page["page"]) or score
    status, headers, _ = client.request(
        "/rate", {"index": page["index"], "item": page["item"], "score": score, "response_ms": 700}
    )
    assert (status, headers["Location"]) == (303, "/rate")
    return int(page["index"]), page["item"], score


def login(url: str, code: str) -> Client:
    client = Client(url)
    status, headers, _ = client.request("/", {"code": code})
    assert (status, headers.get("Location")) == (303, "/rate")
    return client


@pytest.mark.process
def test_a_rater_goes_through_the_study_and_resumes_after_a_restart(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    code = json.loads(folder.manifest.read_text())["raters"][0]["code"]
    given = []
    with running_server(folder) as running:
        client = login(running.url, code.lower())  # case does not matter
        while len(given) < 7:
            step = rate_next(client, score=len(given) % 5 + 1)
            given += [step] if step else []
        before = client.current()
    with running_server(folder) as running:  # a crashed server, restarted: same cookies work
        client.url = running.url
        assert client.current()["index"] == before["index"]
        while "Thank you" not in client.current()["page"]:
            step = rate_next(client, score=len(given) % 5 + 1)
            given += [step] if step else []
        # a finished code can neither rate again nor start again
        status, _, body = Client(running.url).request("/", {"code": code})
        assert status == 403 and "finished" in body
    rows = dump(folder)["ratings"]
    assert [(r[1], r[2], r[3]) for r in rows] == given
    assert len(given) == 18 and [r[1] for r in rows] == list(range(18))
    assert all(r[6] == 700.0 for r in rows)  # response times
    finished = {row[0]: row[3] for row in dump(folder)["raters"]}
    assert finished[code] is not None
    assert len(dump(folder)["pauses"]) == 3


@pytest.mark.process
def test_bad_requests_change_nothing(served) -> None:
    folder, manifest, running = served
    first, second = (r["code"] for r in manifest["raters"])
    alice, bob = login(running.url, first), login(running.url, second)
    for _ in range(2):
        rate_next(alice)
    page = alice.current()
    index, item = int(page["index"]), page["item"]
    theirs = bob.current()["item"]
    previous = dump(folder)["ratings"][-1]
    before = dump(folder)
    anon = Client(running.url)
    attempts = {
        "unknown code": (anon, "/", {"code": "ZZZZ9999"}, 403),
        "no code": (anon, "/rate", {"index": 0, "item": item, "score": 3}, 403),
        "score 0": (alice, "/rate", {"index": index, "item": item, "score": 0}, 400),
        "score 6": (alice, "/rate", {"index": index, "item": item, "score": 6}, 400),
        "score text": (alice, "/rate", {"index": index, "item": item, "score": "five"}, 400),
        "no position": (alice, "/rate", {"item": item, "score": 3}, 400),
        "replayed": (alice, "/rate", {"index": previous[1], "item": previous[2], "score": 1}, 409),
        "out of order": (alice, "/rate", {"index": index + 1, "item": item, "score": 3}, 409),
        "another rater's item": (alice, "/rate", {"index": index, "item": theirs, "score": 3}, 400),
        "no pause here": (alice, "/resume", {"index": index}, 409),
    }
    if theirs == item:
        del attempts["another rater's item"]
    for what, (client, path, form, status) in attempts.items():
        got, _, body = client.request(path, form)
        assert got == status, (what, body)
        assert "Traceback" not in body, what
    # without the XSRF token a form is refused by tornado itself
    plain = Client(running.url)
    plain.jar = alice.jar
    data = b"index=2&item=x&score=3"
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        plain.opener.open(urllib.request.Request(running.url + "/rate", data=data), timeout=10)
    assert refused.value.code == 403
    assert dump(folder) == before


@pytest.mark.process
def test_two_raters_at_once_do_not_interfere(served) -> None:
    folder, manifest, running = served
    codes = [r["code"] for r in manifest["raters"]]
    given: dict[str, list] = {code: [] for code in codes}
    errors: list[BaseException] = []

    def rate_all(code: str, offset: int) -> None:
        try:
            client = login(running.url, code)
            while "Thank you" not in client.current()["page"]:
                step = rate_next(client, score=(len(given[code]) + offset) % 5 + 1)
                given[code] += [step] if step else []
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=rate_all, args=(c, i)) for i, c in enumerate(codes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    rows = dump(folder)["ratings"]
    for code in codes:
        assert [(r[1], r[2], r[3]) for r in rows if r[0] == code] == given[code]
    plans = dump(folder)["plan"]
    for code in codes:
        assert [r[2] for r in plans if r[0] == code] == [g[1] for g in given[code]]


@pytest.mark.process
def test_images_only_for_their_rater_and_only_now(served) -> None:
    folder, manifest, running = served
    first, second = (r["code"] for r in manifest["raters"])
    alice, bob = login(running.url, first), login(running.url, second)
    mine, theirs = alice.current()["item"], bob.current()["item"]
    status, headers, _ = alice.request(f"/image/{mine}")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert "Content-Disposition" not in headers and "Etag" not in headers
    if theirs != mine:
        assert alice.request(f"/image/{theirs}")[0] == 404
    assert Client(running.url).request(f"/image/{mine}")[0] == 404
    rate_next(alice)
    assert alice.request(f"/image/{mine}")[0] == 404  # gone once rated


@pytest.mark.process
def test_pages_carry_strict_headers_and_no_debug_routes(served) -> None:
    _, _, running = served
    client = Client(running.url)
    status, headers, body = client.request("/")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "Server" not in headers
    for path in ("/debug", "/admin", "/static/../study.sqlite", "/operator/export", "/codes.txt"):
        got, _, text = client.request(path)
        assert got in (403, 404), path
        assert "Traceback" not in text
    assert client.request("/favicon.ico")[0] == 200  # tornado serves it from static/


@pytest.mark.process
def test_the_operator_page_needs_the_token(served) -> None:
    folder, manifest, running = served
    code = manifest["raters"][0]["code"]
    rate_next(login(running.url, code))
    stranger = Client(running.url)
    assert stranger.request("/operator")[0] == 403
    assert stranger.request("/operator?token=guess")[0] == 403
    assert stranger.request("/operator/ratings.csv")[0] == 403
    operator = Client(running.url)
    status, headers, _ = operator.request(f"/operator?token={running.token}")
    assert (status, headers["Location"]) == (303, "/operator")  # the token leaves the URL
    status, _, page = operator.request("/operator")
    assert status == 200 and code in page and "1 / 18" in page
    status, headers, text = operator.request("/operator/ratings.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1 and rows[0]["rater"] == code and rows[0]["kind"] == "calibration"


@pytest.mark.process
def test_serve_prints_the_addresses_and_refuses_a_second_server(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    command = [sys.executable, "-m", "srgan.cli", "mos", "serve", "--study", str(folder.root)]
    first = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = [first.stdout.readline() for _ in range(4)]
        assert lines[1].startswith("Raters: http://127.0.0.1:")
        token = re.search(r"/operator\?token=(\S+)", lines[2]).group(1)
        assert len(token) >= 32
        second = subprocess.run([*command, "--port", "0"], capture_output=True, text=True)
        assert second.returncode == 2
        assert "another `srgan mos serve` is serving" in second.stderr
    finally:
        first.send_signal(2)
        out, _ = first.communicate(timeout=30)
    assert first.returncode == 0 and "holds every rating" in out
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1")
    assert not server.is_loopback("0.0.0.0")
