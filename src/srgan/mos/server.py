"""``srgan mos serve``: the rating server of a MOS study, from its folder to its socket.

Built on tornado (already in the environment for Jupyter; it is a complete HTTP server, not
a development server, and has signed cookies and XSRF protection built in). One process,
one thread: requests are handled one at a time, and each rating is one SQLite transaction
committed before the answer (``srgan.mos.store``).

This module opens a study for serving (a folder and database it can write, its secrets made
private, one server per study, a new operator token each start), binds the socket, prints
where raters and the operator go, and serves until SIGINT or SIGTERM. The pages are
``srgan.mos.pages``'s; the server's limits (body size, timeouts, connection caps, security
headers, refusals and the operator's log) are ``srgan.mos.limits``'s.

This module uses paths, fileio, errors, store, pages and limits; it imports tornado.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path

import tornado.netutil

from srgan.core import paths
from srgan.core.errors import UserError
from srgan.core.fileio import PRIVATE, LockBusy, file_lock, require_writable
from srgan.mos import store
from srgan.mos.limits import LISTEN_BACKLOG, GuardedServer, Limits, operator_log
from srgan.mos.pages import Study, make_app

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
#: Bytes of the operator token (``secrets.token_urlsafe``).
TOKEN_BYTES = 24


def open_study(study_dir: Path, token: str | None = None) -> Study:
    """A study folder's database opened for serving, with ``token`` (default: a new one). A
    folder or database the server cannot write is a UserError (it writes every rating)."""
    folder = paths.StudyFolder(study_dir)
    if not folder.manifest.is_file():
        raise UserError(f"no study in {folder.root} (make one with `srgan mos create`)")
    try:
        require_writable(folder.root, f"--study {folder.root}")
        if not os.access(folder.database, os.W_OK):
            raise UserError(f"--study {folder.root}: cannot write {folder.database.name}")
    except UserError as exc:
        raise UserError(
            f"{exc}: the server stores every rating there (`srgan mos analyse` reads a "
            "read-only study)"
        ) from None
    database = store.Store(folder.database)
    return Study(folder, database, token or secrets.token_urlsafe(TOKEN_BYTES))


def make_private(folder: paths.StudyFolder) -> list[Path]:
    """Take the group's and others' access away from the study's secrets (a study made by an
    older version may have them readable); the files changed."""
    changed = []
    for path in folder.secrets:
        with contextlib.suppress(FileNotFoundError):
            mode = path.stat().st_mode & 0o777
            if mode & ~PRIVATE:
                path.chmod(mode & PRIVATE)
                changed.append(path)
    return changed


def make_server(study: Study, limits: Limits | None = None) -> GuardedServer:
    """The HTTP server of ``study``'s application with ``limits`` (default: ``Limits()``);
    add sockets to it."""
    return GuardedServer(make_app(study), limits=limits)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def announce_lines(study: Study, url: str) -> list[str]:
    """What ``serve`` prints at start: where raters go, the operator's address with token."""
    positions = study.store.layout.total
    return [
        f"MOS study {study.folder.root}: {len(study.store.progress())} rater codes "
        f"({study.folder.codes}), {positions} ratings each",
        f"Raters: {url}/",
        f"Operator (keep this address private): {url}/operator?token={study.token}",
        "Ctrl-C stops the server; every rating is already saved.",
    ]


def serve(
    study_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the study until SIGINT or SIGTERM. ``port`` 0 picks a free port. One server per
    study (a second is a UserError)."""
    study = open_study(study_dir)
    try:
        with file_lock(study.folder.lock, wait=False):
            for path in make_private(study.folder):
                announce(f"made {path} readable by its owner only (it unblinds the study)")
            with operator_log():
                _run(study, host, port, announce)
    except LockBusy:
        raise UserError(f"another `srgan mos serve` is serving {study.folder.root}") from None
    finally:
        study.store.close()


def _run(study: Study, host: str, port: int, announce: Callable[[str], None]) -> None:
    try:
        sockets = tornado.netutil.bind_sockets(port, host, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = sockets[0].getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        announce(
            f"warning: listening on {host}, reachable from other machines; the pages are plain "
            "HTTP, so keep the study on a trusted lab network"
        )
    for line in announce_lines(study, f"http://{shown_host}:{bound}"):
        announce(line)

    async def main() -> None:
        server = make_server(study)
        server.add_sockets(sockets)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        server.stop()
        await server.close_all_connections()
        if server.refused:
            announce(f"refused while serving: {refusal_summary(server.refused)}")

    asyncio.run(main())
    announce(f"stopped; {study.folder.database} holds every rating")


def refusal_summary(refused: collections.Counter[str]) -> str:
    """How many requests of each kind were refused, in one line."""
    return ", ".join(f"{count} ({kind})" for kind, count in sorted(refused.items()))
