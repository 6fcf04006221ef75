"""The rating server's limits under a bounded hostile load on 127.0.0.1.

    python benchmarks/bench_mos_limits.py [--rounds 5] [--oversized 20] [--half-open 1000]
                                          [--hold-s 6] [--sources 4] [--dir DIR]

Serves a small synthetic study with ``srgan mos serve`` (a subprocess with an open-file limit
of 1024, like a default Linux login) and, for ``--rounds`` rounds, sends ``--oversized``
anonymous POSTs that declare a 95 MiB body and keep sending it until the server closes, and
opens ``--half-open`` connections that send half a request header and hold it for
``--hold-s`` seconds, from ``--sources`` misbehaving machines (client addresses 127.0.0.10
and up; the oversized POSTs from 127.0.0.2). With more than 256 / 32 = 8 sources the
half-open connections fill the server's connection cap, and other clients are refused too.
Meanwhile one rater on 127.0.0.1 rates the study as fast as the pages allow. Printed: the
server process's resident memory (before, the highest sampled every 20 ms during the load,
after), its CPU time, how much of each oversized body left the client, the latency of the
rater's ratings (POST /rate, committed) and pages (GET /rate) without and during the load,
the rater's failed requests, and the lines the server logged.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from bench_mos import DATASET, synthetic_outputs

from srgan.core import paths
from srgan.core.config import load_config
from srgan.mos import study

REPO = Path(__file__).resolve().parents[1]
#: The probe's oversized body, and what the benchmark sends of it at a time.
DECLARED_BYTES = 95 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
#: The server's open-file limit (a default Linux login's).
SERVER_FILES = 1024
#: Client addresses of the misbehaving machines (any 127.x.y.z reaches this machine).
FIRST_SOURCE = 10
OVERSIZED_SOURCE = "127.0.0.2"
SAMPLE_S = 0.02
HTTP_OK = 200


def rss_kib(pid: int) -> int:
    """The resident memory of process ``pid`` [KiB] (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_study(root: Path, images: int) -> paths.StudyFolder:
    synthetic_outputs(root, images)
    config = load_config(
        REPO / "params.yaml",
        [],
        [
            f"data.root={root / 'data'}",
            f"evaluate.datasets=[{DATASET}]",
            "mos.raters=2",
            f"mos.calibration_dir={root / 'calibration'}",
        ],
    )
    return study.create_study(config, root / "study", root / paths.SR_IMAGES_DIR, progress=False)


def start_server(folder: paths.StudyFolder, log: Path) -> tuple[subprocess.Popen, str]:
    def limit_files() -> None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FILES, hard))

    command = [sys.executable, "-m", "srgan.cli", "mos", "serve", "--study", str(folder.root)]
    process = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        preexec_fn=limit_files,
    )
    lines = [process.stdout.readline() for _ in range(4)]
    url = re.search(r"Raters: (\S+)/", lines[1]).group(1)
    return process, url


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Rater:
    """One rater's browser without a browser: cookies, the XSRF token, the forms."""

    def __init__(self, url: str, code: str) -> None:
        self.url = url
        jar = http.cookiejar.CookieJar()
        self.jar = jar
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), NoRedirect()
        )
        body = self.request("/")[1]
        self.token = re.search(r'name="_xsrf" value="([^"]+)"', body).group(1)
        assert self.request("/", {"code": code})[0] == 303

    def request(self, path: str, form: dict | None = None) -> tuple[int, str]:
        data = None
        if form is not None:
            data = urllib.parse.urlencode({"_xsrf": getattr(self, "token", ""), **form}).encode()
        try:
            with self.opener.open(self.url + path, data=data, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, OSError) as error:  # refused and closed mid-request
            return 0, str(error)

    def rate_one(self, pages: list[float], ratings: list[float], failures: list[str]) -> bool:
        """One step (a pause or a rating); False when the study is finished."""
        start = time.perf_counter()
        status, page = self.request("/rate")
        pages.append(time.perf_counter() - start)
        if "Thank you" in page:
            return False
        fields = dict(re.findall(r'name="(index|item)" value="([^"]*)"', page))
        if status != HTTP_OK or "index" not in fields:
            failures.append(f"GET /rate {status}: {page[:80]}")
            return True
        if "item" not in fields:
            self.request("/resume", {"index": fields["index"]})
            return True
        anchor = re.search(r"an example of <b>(\d)", page)
        form = {**fields, "score": anchor.group(1) if anchor else "3", "response_ms": "800"}
        start = time.perf_counter()
        status, body = self.request("/rate", form)
        ratings.append(time.perf_counter() - start)
        if status != 303:
            failures.append(f"POST /rate {status}: {body[:80]}")
        return True


def oversized_post(port: int) -> int:
    """Bytes of the body sent before the server closed the connection."""
    sent = 0
    head = (
        f"POST /rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {DECLARED_BYTES}\r\n\r\n"
    ).encode()
    chunk = b"a" * CHUNK_BYTES
    with socket.socket() as sock:
        sock.settimeout(10)
        try:
            sock.bind((OVERSIZED_SOURCE, 0))
            sock.connect(("127.0.0.1", port))
            sock.sendall(head)
            while sent < DECLARED_BYTES:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
    return sent


def half_open(port: int, source: str) -> socket.socket | None:
    sock = socket.socket()
    sock.settimeout(5)
    try:
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: ")
    except OSError:
        sock.close()
        return None
    return sock


def attack(port: int, args: argparse.Namespace, sent: list[int]) -> None:
    for _ in range(args.rounds):
        sources = [
            f"127.0.{n // 256}.{n % 256}" for n in range(FIRST_SOURCE, FIRST_SOURCE + args.sources)
        ]
        held = [half_open(port, sources[i % len(sources)]) for i in range(args.half_open)]
        sent += [oversized_post(port) for _ in range(args.oversized)]
        time.sleep(args.hold_s)
        for sock in held:
            if sock is not None:
                sock.close()


def sample(pid: int, attacker: threading.Thread, peak: list[int]) -> None:
    while attacker.is_alive():
        peak.append(rss_kib(pid))
        time.sleep(SAMPLE_S)


def summary(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return (
        f"median {np.median(ms):.1f} ms, 95th percentile {np.percentile(ms, 95):.1f} ms, "
        f"max {ms.max():.1f} ms ({len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--oversized", type=int, default=20, help="per round")
    parser.add_argument("--half-open", type=int, default=1000, help="per round")
    parser.add_argument("--hold-s", type=float, default=6.0)
    parser.add_argument("--sources", type=int, default=4, help="client addresses, half-open")
    parser.add_argument("--images", type=int, default=40, help="test images of the study")
    parser.add_argument("--dir", type=Path, default=None, help="where the study is built")
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this process holds the sockets
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        folder = build_study(root, args.images)
        codes = folder.codes.read_text().split()
        log = root / "server.log"
        process, url = start_server(folder, log)
        port = int(url.rsplit(":", 1)[1])
        try:
            quiet = Rater(url, codes[0])
            quiet_pages, quiet_ratings, failures = [], [], []
            for _ in range(30):
                quiet.rate_one(quiet_pages, quiet_ratings, failures)
            before, cpu_before = rss_kib(process.pid), cpu_seconds(process.pid)
            rater = Rater(url, codes[1])
            pages, ratings, sent, peak = [], [], [], [before]
            attacker = threading.Thread(target=attack, args=(port, args, sent))
            sampler = threading.Thread(target=sample, args=(process.pid, attacker, peak))
            attacker.start()
            sampler.start()
            while attacker.is_alive():
                if not rater.rate_one(pages, ratings, failures):
                    time.sleep(SAMPLE_S)
            attacker.join()
            sampler.join()
            time.sleep(1.0)
            after, cpu = rss_kib(process.pid), cpu_seconds(process.pid) - cpu_before
        finally:
            process.send_signal(2)
            out, _ = process.communicate(timeout=60)
        logged = log.read_text()
    print(
        f"load: {args.rounds} rounds of {args.oversized} oversized POSTs (95 MiB declared) and "
        f"{args.half_open} half-open connections from {args.sources} addresses held "
        f"{args.hold_s:g} s; server open-file limit {SERVER_FILES}"
    )
    print(
        f"server memory (RSS): {before / 1024:.1f} MiB before, highest {max(peak) / 1024:.1f} "
        f"MiB during ({len(peak)} samples), {after / 1024:.1f} MiB after; CPU {cpu:.1f} s"
    )
    print(
        f"oversized bodies: {len(sent)}; at most {max(sent) / 1024:.0f} KiB of each left the "
        f"client (median {statistics.median(sent) / 1024:.0f} KiB) before the server closed the "
        "connection (they fill socket buffers: the server reads none of it)"
    )
    print(f"ratings without load: {summary(quiet_ratings)}; pages {summary(quiet_pages)}")
    print(f"ratings during load:  {summary(ratings)}; pages {summary(pages)}")
    print(f"failed requests of the rater: {len(failures)} {failures[:3]}")
    lines = logged.splitlines()
    print(f"server log: {len(lines)} lines, {len(logged)} bytes")
    for line in lines:
        print(f"  {line}")
    print(f"server at stop: {out.strip().splitlines()[-2:]}")


if __name__ == "__main__":
    main()
