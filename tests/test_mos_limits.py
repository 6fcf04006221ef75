"""The rating server under a hostile or unlucky client: oversized and unfinished requests, too
many connections, the headers of every answer, refusals logged once, private secrets, a
read-only study folder and a full disk."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srgan.core import paths
from srgan.mos import server
from srgan.mos.limits import (
    FILES_RESERVED,
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    SECURITY_HEADERS,
    Limits,
    OncePerKind,
    operator_log,
)

sys.path.insert(0, str(Path(__file__).parent))
from mos_helpers import Client, make_study, running_server
from test_mos_server import anchor_score, dump, login

REPO = Path(__file__).resolve().parents[1]
OVERSIZED = 95 * 1024 * 1024  # the probe's anonymous 95 MiB POSTs


def connect(port: int, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    """A TCP connection to the server from ``source`` (any 127.x.y.z is this machine)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def send(port: int, data: bytes, source: str = "127.0.0.1") -> tuple[int, dict, bytes]:
    """Send raw bytes, read the answer until the server closes: (status, headers, body)."""
    with connect(port, source) as sock:
        sock.sendall(data)
        return parse(read_all(sock))


def parse(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, headers, body


def assert_security_headers(headers: dict, what: str) -> None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        assert lowered.get(name.lower()) == value, (what, name, headers)
    assert "server" not in lowered, (what, headers)


def oversized_post(length: int = OVERSIZED) -> bytes:
    return (
        f"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode() + b"score=5&" * 128


def wait_for(condition, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


@pytest.fixture
def study(tmp_path: Path) -> paths.StudyFolder:
    return make_study(tmp_path)


@pytest.mark.process
def test_an_oversized_body_is_refused_from_its_header_before_it_is_read(study) -> None:
    with running_server(study) as running:
        started = time.monotonic()
        # only the header and 1 KiB of the 95 MiB are sent: the answer cannot wait for the rest
        status, headers, body = send(running.port, oversized_post())
        assert time.monotonic() - started < 3
        assert status == 413 and b"Refused" in body
        assert headers["Connection"] == "close"
        assert_security_headers(headers, "413")
        # no cookie, no XSRF token, no rater: refused all the same (before authentication)
        assert Client(running.url).request("/")[0] == 200  # and the server goes on
    assert dump(study)["ratings"] == []


@pytest.mark.process
def test_unfinished_requests_are_closed_after_the_timeouts(study) -> None:
    limits = Limits(header_timeout_s=0.5, body_timeout_s=0.5)
    with running_server(study, limits) as running:
        started = time.monotonic()
        with connect(running.port) as half_header:
            half_header.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert read_all(half_header) == b""  # closed by the server
        assert 0.4 < time.monotonic() - started < 3
        with connect(running.port) as half_body:
            half_body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
            assert read_all(half_body) == b""
        with connect(running.port) as idle:  # a kept-alive connection that goes quiet
            idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_all(idle).startswith(b"HTTP/1.1 200 OK")
        assert not Limits().header_timeout_s > 60  # the default is seconds, not hours


@pytest.mark.process
def test_connections_are_capped_per_client_and_idle_ones_make_room(study) -> None:
    limits = Limits(connections=4, per_client=2)
    with running_server(study, limits) as running:
        held = [connect(running.port, "127.0.0.2") for _ in range(2)]
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # half a request each
        wait_for(lambda: running_open(running) == {"127.0.0.2": 2})
        request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, headers, body = send(running.port, request, "127.0.0.2")
        assert status == 503 and b"Too many connections" in body
        assert_security_headers(headers, "503 per client")
        assert Client(running.url).request("/")[0] == 200  # another client is served
        wait_for(lambda: running_open(running) == {"127.0.0.2": 2})
        held += [connect(running.port, source) for source in ("127.0.0.3", "127.0.0.4")]
        for sock in held[2:]:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        wait_for(lambda: sum(running_open(running).values()) == 4)  # the cap
        # a fifth client is let in: the connection that waited longest is closed for it
        assert send(running.port, request, "127.0.0.5")[0] == 200
        assert read_all(held[0]) == b""
        assert running.server.refused == {
            "connections per client": 1,
            "closed to make room": 1,
        }
        for sock in held:
            sock.close()
        wait_for(lambda: not running_open(running))
        assert Client(running.url).request("/")[0] == 200
    capped = Limits(connections=10**6).connection_cap()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert capped == (10**6 if soft == resource.RLIM_INFINITY else soft - FILES_RESERVED)


def running_open(running) -> dict:
    return dict(running.server.open)  # the server's count of open connections per client


@pytest.mark.process
def test_every_answer_carries_the_security_headers(study) -> None:
    with running_server(study) as running:
        client = Client(running.url)
        for path in ("/no-such-page", "/static/missing.css", "/image/unknown", "/operator"):
            status, headers, body = client.request(path)
            assert status in (403, 404), path
            assert_security_headers(headers, path)
            assert "Traceback" not in body and "Tornado" not in body
        answers = {
            "unknown method": b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "PUT": b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "no XSRF": b"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
            b"Connection: close\r\n\r\nscore=5",
            "malformed": b"GARBAGE\r\n\r\n",
            "bad header": b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            "too large": oversized_post(),
        }
        for what, data in answers.items():
            status, headers, _ = send(running.port, data)
            assert status in (400, 403, 405, 413), what
            assert_security_headers(headers, what)


@pytest.mark.process
def test_refusals_are_logged_once_per_kind(study) -> None:
    stream = io.StringIO()
    with operator_log(stream), running_server(study) as running:
        for _ in range(30):
            assert send(running.port, oversized_post())[0] == 413
        for _ in range(5):
            assert send(running.port, b"GARBAGE\r\n\r\n")[0] == 400
        assert running.server.refused == {"request body too large": 30}
    lines = stream.getvalue().splitlines()
    assert len([line for line in lines if "refused (request body too large)" in line]) == 1
    assert len([line for line in lines if "Malformed HTTP message" in line]) == 1
    assert lines[-1].endswith("33 repeated log lines were counted, not written")
    assert len(lines) == 3


def test_once_per_kind_counts_what_it_holds_back() -> None:
    now = [0.0]
    once = OncePerKind(interval_s=60, clock=lambda: now[0])
    logger = logging.getLogger("srgan.test.once")
    records = [
        logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "refused %s", (n,), None)
        for n in range(101)
    ]
    assert [once.filter(r) for r in records[:100]] == [True] + [False] * 99
    assert once.held_back() == 99
    now[0] = 61.0
    assert once.filter(records[100])
    assert records[100].getMessage() == "refused 100 [99 more of this kind not logged]"
    assert once.held_back() == 0


@pytest.mark.process
def test_the_study_secrets_are_private_and_an_old_study_is_made_so(tmp_path: Path) -> None:
    saved = os.umask(0o022)
    try:
        study = make_study(tmp_path)
        with running_server(study) as running:
            login(running.url, json.loads(study.manifest.read_text())["raters"][0]["code"])
            modes = {p.name: p.stat().st_mode & 0o777 for p in study.secrets if p.exists()}
    finally:
        os.umask(saved)
    assert modes == {
        "study.sqlite": 0o600,
        "study.sqlite-wal": 0o600,
        "study.sqlite-shm": 0o600,
        "codes.txt": 0o600,
        "manifest.json": 0o600,
    }
    assert {p.stat().st_mode & 0o777 for p in study.stimuli.iterdir()} == {0o644}
    study.database.chmod(0o644)  # as an older version left it
    study.manifest.chmod(0o444)  # as Snakemake's protected() leaves it
    assert server.make_private(study) == [study.database, study.manifest]
    assert study.database.stat().st_mode & 0o777 == 0o600
    assert study.manifest.stat().st_mode & 0o777 == 0o400
    assert server.make_private(study) == []


# --- a read-only folder and a full disk, for real (a private mount namespace) ----------------


def namespace_shell(script: str, *args: str) -> list[str]:
    """``script`` run by sh as root of a private user and mount namespace (``unshare -rm``),
    with ``args`` as $0, $1, ...; skips the test where the machine does not allow it."""
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /mnt"]
    if not shutil.which("unshare") or subprocess.run(probe, capture_output=True).returncode:
        pytest.skip("no private mount namespace here (unshare -rm refused)")
    return ["unshare", "-rm", "sh", "-c", script, *args]


def srgan_command(*args: str) -> str:
    return " ".join([sys.executable, "-m", "srgan.cli", *args])


@pytest.mark.process
def test_a_read_only_study_is_one_line_for_serve_and_read_by_analyse(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    code = json.loads(study.manifest.read_text())["raters"][0]["code"]
    with running_server(study) as running:  # one rating, then the server stops cleanly
        client = login(running.url, code)
        page = client.current()
        form = {"index": page["index"], "item": page["item"], "score": anchor_score(page["page"])}
        assert client.request("/rate", form)[0] == 303
    read_only = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    srgan = [sys.executable, "-m", "srgan.cli", "mos"]
    serve = namespace_shell(read_only, str(study.root), *srgan, "serve", "--study", str(study.root))
    result = subprocess.run(serve, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"srgan mos: error: --study {study.root}: cannot write there: ")
    assert "read-only file system" in line and "the server stores every rating there" in line
    out = tmp_path / "analysed"
    analyse = namespace_shell(
        read_only, str(study.root), *srgan, "analyse", "--study", str(study.root),
        "--out-dir", str(out), "--no-report",
    )  # fmt: skip
    result = subprocess.run(analyse, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [header, row] = (out / "ratings.csv").read_text().splitlines()
    assert row.startswith(f"{code},0,calibration,") and header.startswith("rater,position,")


FULL_DISK_SCRIPT = """
mount -t tmpfs -o size=4m none "$0" && cp -a "$1"/. "$0"/ || exit 1
"$3" -m srgan.cli mos serve --study "$0" --port 0 &
while [ ! -e "$2/fill" ]; do sleep 0.05; done
cat /dev/zero > "$0/filler" 2>/dev/null; touch "$2/full"
while [ ! -e "$2/free" ]; do sleep 0.05; done
rm "$0/filler"; touch "$2/freed"
wait
"""


@pytest.mark.process
def test_a_full_disk_tells_the_rater_the_rating_was_not_saved(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    code = json.loads(study.manifest.read_text())["raters"][0]["code"]
    mount, signals = tmp_path / "mnt", tmp_path / "signals"
    mount.mkdir()
    signals.mkdir()
    command = namespace_shell(
        FULL_DISK_SCRIPT, str(mount), str(study.root), str(signals), sys.executable
    )
    shell = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        lines = [shell.stdout.readline() for _ in range(4)]
        url = re.search(r"Raters: (\S+)/", lines[1]).group(1)
        client = login(url, code)
        page = client.current()
        form = {"index": page["index"], "item": page["item"], "score": anchor_score(page["page"])}
        (signals / "fill").touch()
        wait_for(lambda: (signals / "full").exists(), timeout=30)
        for accept in ("text/html", "text/html", "application/json"):
            client.opener.addheaders = [("Accept", accept)]
            status, headers, body = client.request("/rate", form)
            assert status == 503, body
            assert_security_headers(headers, "not saved")
            if accept == "application/json":
                answer = json.loads(body)
                assert answer["saved"] is False and "NOT saved" in answer["error"]
            else:
                assert "Your answer was NOT saved" in body and "Traceback" not in body
        (signals / "free").touch()
        wait_for(lambda: (signals / "freed").exists(), timeout=30)
        client.opener.addheaders = []
        status, headers, _ = client.request("/rate", form)  # room again: the same answer
        assert (status, headers["Location"]) == (303, "/rate")
    finally:
        os.killpg(shell.pid, 2)
        out, err = shell.communicate(timeout=30)
    log = [line for line in err.splitlines() if "cannot use the study database" in line]
    assert len(log) == 1, err  # three failures, one line
    assert "database or disk is full" in log[0]
    assert "holds every rating" in out


@pytest.mark.process
def test_a_chunked_body_and_a_header_are_cut_at_their_limits(study) -> None:
    with running_server(study) as running:
        with connect(running.port) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            with contextlib.suppress(OSError):  # the server may close while this still sends
                for _ in range(2 * MAX_BODY_BYTES // 1024):
                    sock.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
            status, headers, _ = parse(read_all(sock))
        assert status == 400
        assert_security_headers(headers, "chunked")
        with connect(running.port) as sock:
            big = b"a" * (MAX_HEADER_BYTES + 1024)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                assert read_all(sock) == b""  # closed, nothing read beyond the limit
