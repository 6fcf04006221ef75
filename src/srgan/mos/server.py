"""The rating page and the operator page of a MOS study: ``srgan mos serve``.

Built on tornado (already in the environment for Jupyter; it is a complete HTTP server, not
a development server, and has signed cookies and XSRF protection built in). One process,
one thread: requests are handled one at a time, and each rating is one SQLite transaction
committed before the answer (``srgan.mos.store``).

A rater enters a code, rates the calibration anchors (each shown with its score), then every
item of their plan on the 1-5 scale, in blocks separated by pauses, with a progress bar.
Every page is built from the database: a reload, a closed tab or a restarted server shows
the same next item; the back button shows it too (no going back, no re-rating). Stimuli are
served as ``/image/<opaque id>`` to the rater whose current item they are, and nothing else
the browser receives names a method or a file.

The operator page (``/operator``) needs the token printed at start (a new one each start,
never stored); it shows each rater's progress and exports the ratings as CSV. There are no
default passwords and no debug routes: unknown paths are 404, errors never show a traceback.

Limits for a server anyone on the lab network can reach (:class:`Limits`): a request body
larger than a rating form is refused from its ``Content-Length``, before a byte of it is read
(before any cookie is looked at); headers must arrive within seconds, idle connections close;
the open connections are capped per client address and in all, below the process's open-file
limit, and at the cap the connection that has waited longest for a complete request makes
room for a new one (:class:`GuardedServer`). Refusals are cheap (a fixed answer, the
connection closed) and logged once per kind and minute (:class:`OncePerKind`), never per
event. Every response, refusals and tornado's own "400" included, carries
``SECURITY_HEADERS`` and no ``Server`` header. A rating the database cannot store (a full
disk) is answered with a page saying it was NOT saved (JSON to a client that asks for it);
the operator's log says why.

This module uses paths, fileio, errors and store; tornado is imported here only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import http
import ipaddress
import json
import logging
import math
import os
import resource
import secrets
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.netutil
import tornado.web

from srgan.core import paths
from srgan.core.errors import UserError
from srgan.core.fileio import PRIVATE, LockBusy, file_lock, require_writable
from srgan.mos import store
from srgan.mos.store import Outcome

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
#: Signed cookies: the rater's code, and proof of the operator token (its sha256).
RATER_COOKIE, OPERATOR_COOKIE = "rater", "operator"
#: Bytes of the operator token (``secrets.token_urlsafe``).
TOKEN_BYTES = 24
#: A response time above this (one hour) is not believed and stored as unknown.
MAX_RESPONSE_MS = 3_600_000.0
#: Which HTTP status a refused request gets.
STATUS = {
    Outcome.UNKNOWN_RATER: 403,
    Outcome.FINISHED: 403,
    Outcome.BAD_SCORE: 400,
    Outcome.WRONG_ITEM: 400,
    Outcome.WRONG_ANCHOR: 400,
    Outcome.REPLAYED: 409,
    Outcome.OUT_OF_ORDER: 409,
    Outcome.PAUSED: 409,
    Outcome.NO_PAUSE: 409,
}
#: Every response: no caching, no referrer, no framing, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; "
    "script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
HERE = Path(__file__).resolve().parent
TEMPLATES, STATIC = HERE / "templates", HERE / "static"

# --- limits --------------------------------------------------------------------------------------

#: The largest request body accepted: a rating form is about 300 bytes.
MAX_BODY_BYTES = 16 * 1024
#: The largest request header (the study's three cookies take under 1 KiB; other sites'
#: cookies for the same host name may come along).
MAX_HEADER_BYTES = 16 * 1024
#: Bytes a connection may have read and not yet handled (tornado's read buffer).
READ_BUFFER_BYTES = 256 * 1024
#: Seconds a request's header may take to arrive; also how long an idle connection is kept.
HEADER_TIMEOUT_S = 20.0
#: Seconds a request's body may take to arrive.
BODY_TIMEOUT_S = 20.0
#: Open connections in all, and from one client address (a browser opens up to six).
MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_CLIENT = 32
#: Connections the kernel queues before the server accepts them (a burst beyond it makes
#: clients wait a second for their connection to be retried).
LISTEN_BACKLOG = 1024
#: Open files kept free for the database, its log, stimuli and the listening sockets: the
#: connection cap is lowered to fit below the process's open-file limit.
FILES_RESERVED = 64
#: A kind of log line is written at most once in this many seconds; the rest are counted.
LOG_INTERVAL_S = 60.0
#: tornado's own answer to a request it cannot parse (it writes no headers); replaced by one
#: with the security headers.
TORNADO_BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"
#: What a rater reads when the database cannot take their answer (a full disk, a read-only
#: folder); the operator's log says why.
NOT_SAVED = (
    "Your answer was NOT saved: the server cannot write to its study database just now. "
    "Please tell the study's operator. Everything you rated before is safe, and you can go "
    "on from this image once the operator has fixed it."
)
CANNOT_GO_ON = (
    "The study cannot go on just now: the server cannot use its study database. Nothing was "
    "changed. Please tell the study's operator."
)
#: What the database and the files can fail with: the page says "not saved", not a bug.
STORAGE_ERRORS = (sqlite3.Error, OSError)

log = logging.getLogger("srgan.mos.server")


@dataclass(frozen=True)
class Limits:
    """What one request and all connections together may take (module constants)."""

    body_bytes: int = MAX_BODY_BYTES
    header_bytes: int = MAX_HEADER_BYTES
    header_timeout_s: float = HEADER_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S
    connections: int = MAX_CONNECTIONS
    per_client: int = MAX_CONNECTIONS_PER_CLIENT

    def connection_cap(self) -> int:
        """``connections``, lowered to leave ``FILES_RESERVED`` of the open-file limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.connections
        return max(1, min(self.connections, soft - FILES_RESERVED))


@dataclass(frozen=True)
class Study:
    """What the handlers share: the study's files, its database and the operator token."""

    folder: paths.StudyFolder
    store: store.Store
    token: str

    def operator_proof(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()


def set_security_headers(handler: tornado.web.RequestHandler) -> None:
    handler.clear_header("Server")
    for name, value in SECURITY_HEADERS.items():
        handler.set_header(name, value)


def refusal(status: int, text: str) -> bytes:
    """A complete answer that closes the connection, with the security headers: what the
    server sends without handing a request to the application."""
    body = f"{text}\n".encode()
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- the operator's log ----------------------------------------------------------------------


class OncePerKind(logging.Filter):
    """Lets one log record of each kind through per ``interval_s`` and counts the others; the
    next one through says how many were held back. A record's kind is its ``kind`` attribute
    (``log.warning(..., extra={"kind": ...})``), else its logger, message template, HTTP status
    (access log) and exception type."""

    def __init__(
        self, interval_s: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s, self.clock = interval_s, clock
        self.logged_at: dict[tuple, float] = {}
        self.suppressed: collections.Counter[tuple] = collections.Counter()

    @staticmethod
    def kind(record: logging.LogRecord) -> tuple:
        if getattr(record, "kind", None):
            return ("srgan", record.kind)
        status = record.args[0] if record.name == "tornado.access" and record.args else None
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        return (record.name, str(record.msg), status, error)

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = self.kind(record), self.clock()
        if key in self.logged_at and now - self.logged_at[key] < self.interval_s:
            self.suppressed[key] += 1
            return False
        if self.suppressed[key]:
            held = self.suppressed.pop(key)
            record.msg = f"{record.getMessage()} [{held} more of this kind not logged]"
            record.args = ()
        self.logged_at[key] = now
        return True

    def held_back(self) -> int:
        """Records counted and not logged since each kind's last line."""
        return sum(self.suppressed.values())


#: Loggers the operator's log shows, with their levels (tornado's access log: 4xx and 5xx).
OPERATOR_LOGGERS = {log.name: logging.INFO, "tornado": logging.INFO, "tornado.access": 30}


@contextlib.contextmanager
def operator_log(stream: IO[str] | None = None) -> Iterator[OncePerKind]:
    """The server's log on ``stream`` (stderr) for the duration: its own lines and tornado's,
    once per kind and interval (``OncePerKind``, yielded); at the end, how many were held
    back. Restores the loggers as they were."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    once = OncePerKind()
    handler.addFilter(once)
    saved = {}
    for name, level in OPERATOR_LOGGERS.items():
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate)
        logger.setLevel(level)
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield once
    finally:
        if once.held_back():
            handler.handle(
                logging.makeLogRecord(
                    {"msg": f"{once.held_back()} repeated log lines were counted, not written"}
                )
            )
        for name, (level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


# --- the HTTP server with limits ------------------------------------------------------------


class _BodyGuard(tornado.httputil.HTTPMessageDelegate):
    """Passes a request to the application unless its declared body is too large: then the
    answer is 413 and the connection closes before a byte of the body is read. Once the
    request is complete, its connection is no longer one the server may close to make room
    (``GuardedServer.waiting``)."""

    def __init__(
        self,
        delegate: tornado.httputil.HTTPMessageDelegate,
        connection: tornado.httputil.HTTPConnection,
        server: GuardedServer,
        server_conn: object,
    ) -> None:
        self.delegate, self.connection, self.server = delegate, connection, server
        self.server_conn = server_conn

    def headers_received(self, start_line, headers):
        declared = headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > self.server.limits.body_bytes:
            stream = self.connection.detach()
            self.server.refuse(
                stream,
                413,
                "request body too large",
                f"{declared} bytes declared, {self.server.limits.body_bytes} allowed",
            )
            return None
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk):
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.server.waiting.pop(self.server_conn, None)  # handled now: not to be closed
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class GuardedServer(tornado.httpserver.HTTPServer):
    """tornado's HTTP server with a rating study's :class:`Limits`.

    A client address with ``per_client`` connections open gets 503 for the next one. When
    all ``connection_cap()`` connections are open, the one that has waited longest for a
    complete request (``waiting``: half-open, idle between requests, a body still coming) is
    closed to make room for the new one, so connections that send nothing cannot lock the
    raters out; only when every connection is being answered is the new one refused (503).
    """

    def initialize(self, request_callback, limits: Limits | None = None, **kwargs: Any) -> None:
        limits = limits or Limits()
        super().initialize(
            request_callback,
            max_header_size=limits.header_bytes,
            max_body_size=limits.body_bytes,
            idle_connection_timeout=limits.header_timeout_s,
            body_timeout=limits.body_timeout_s,
            max_buffer_size=READ_BUFFER_BYTES,
            decompress_request=False,
            **kwargs,
        )
        self.limits = limits
        self.cap = limits.connection_cap()
        #: Open connections per client address (those closed to make room no longer count).
        self.open: collections.Counter[str] = collections.Counter()
        #: Connections without a complete request, longest waiting first.
        self.waiting: dict[object, None] = {}
        self.made_room: set[object] = set()
        self.refused: collections.Counter[str] = collections.Counter()

    def handle_stream(self, stream: tornado.iostream.IOStream, address: Any) -> None:
        client = _client(address)
        if self.open[client] >= self.limits.per_client:
            self.refuse(
                stream, 503, "connections per client", f"{client} holds {self.open[client]}"
            )
            return
        if sum(self.open.values()) >= self.cap and not self._make_room():
            self.refuse(stream, 503, "connection cap", f"{self.cap} connections being answered")
            return
        self.open[client] += 1
        _dress_bare_answers(stream)
        super().handle_stream(stream, address)

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a complete request; False when
        there is none."""
        if not self.waiting:
            return False
        oldest = next(iter(self.waiting))
        del self.waiting[oldest]
        self._release(oldest)
        self.made_room.add(oldest)
        self.refused["closed to make room"] += 1
        log.warning(
            "%d connections open (the cap): closed the one that had waited longest without a "
            "complete request, from %s, to let a new one in (logged once a minute at most)",
            self.cap,
            _client(_address(oldest)),
            extra={"kind": "made room"},
        )
        oldest.stream.close()
        return True

    def _release(self, server_conn: object) -> None:
        client = _client(_address(server_conn))
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]

    def on_close(self, server_conn: object) -> None:
        self.waiting.pop(server_conn, None)
        if server_conn in self.made_room:
            self.made_room.discard(server_conn)
        else:
            self._release(server_conn)
        super().on_close(server_conn)

    def start_request(self, server_conn, request_conn):
        self.waiting.pop(server_conn, None)
        self.waiting[server_conn] = None  # waits for its next request: the newest now
        delegate = super().start_request(server_conn, request_conn)
        return _BodyGuard(delegate, request_conn, self, server_conn)

    def refuse(
        self, stream: tornado.iostream.IOStream, status: int, kind: str, detail: str
    ) -> None:
        """Answer ``status`` and close; count the refusal and log it (once per kind)."""
        self.refused[kind] += 1
        log.warning(
            "refused (%s): %s; answered %d and closed the connection (further refusals of "
            "this kind are counted, one line a minute at most)",
            kind,
            detail,
            status,
            extra={"kind": f"refused {kind}"},
        )
        text = "Too many connections; try again in a moment." if status == 503 else "Refused."
        try:
            written = stream.write(refusal(status, text))
        except tornado.iostream.StreamClosedError:
            return
        written.add_done_callback(lambda done: (done.exception(), _close(stream)))


def _close(stream: tornado.iostream.IOStream) -> None:
    """Close a refused connection. What the client has sent and nobody read is discarded
    first (at most ``READ_BUFFER_BYTES``, without waiting): closing a socket with unread data
    resets the connection, and the client might lose the answer."""
    sock = stream.socket
    with contextlib.suppress(OSError, AttributeError):
        drained = 0
        while drained < READ_BUFFER_BYTES and (chunk := sock.recv(65536, socket.MSG_DONTWAIT)):
            drained += len(chunk)
    stream.close()


def _address(server_conn: object) -> Any:
    return getattr(getattr(server_conn, "context", None), "address", None)


def _client(address: Any) -> str:
    """The client's address as the connection caps count it (a Unix socket's: "local")."""
    return str(address[0]) if isinstance(address, tuple) and address else "local"


def _dress_bare_answers(stream: tornado.iostream.IOStream) -> None:
    """tornado answers a request it cannot parse with a bare "400" line and closes; give that
    answer the security headers every response carries."""
    write = stream.write

    def dressed(data, *args: Any, **kwargs: Any):
        if data == TORNADO_BARE_400:
            data = refusal(400, "Bad request.")
        return write(data, *args, **kwargs)

    stream.write = dressed


def normalise_code(text: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


class Page(tornado.web.RequestHandler):
    """Common to every handler: headers, the rater's cookie, error pages."""

    def initialize(self, study: Study) -> None:
        self.study = study

    def set_default_headers(self) -> None:
        set_security_headers(self)

    def compute_etag(self) -> None:
        return None

    def rater(self) -> str | None:
        raw = self.get_signed_cookie(RATER_COOKIE)
        return raw.decode() if raw else None

    def message(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.render("message.html", title=title, text=text)

    def refuse(self, outcome: Outcome) -> None:
        text = f"{outcome.value.capitalize()}. Nothing was changed."
        self.message(STATUS[outcome], "Not accepted", text)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """An error page (JSON to a client that asks for JSON). A database or file failure
        is 503 and says that nothing was saved; so does any failed POST (each write is one
        transaction: it is stored whole or not at all)."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        storage = isinstance(error, STORAGE_ERRORS)
        if storage or (status_code >= 500 and self.request.method == "POST"):
            status_code = http.HTTPStatus.SERVICE_UNAVAILABLE
            self.set_status(status_code)
            title, text = "Not saved", NOT_SAVED if self.request.method == "POST" else CANNOT_GO_ON
        else:
            title, text = f"Error {status_code}", self._reason
        if self.wants_json():
            self.set_header("Content-Type", "application/json")
            saved = False if self.request.method == "POST" else None
            self.finish(json.dumps({"status": int(status_code), "saved": saved, "error": text}))
            return
        self.render("message.html", title=title, text=text)

    def wants_json(self) -> bool:
        accept = self.request.headers.get("Accept", "")
        return "application/json" in accept and "text/html" not in accept

    def log_exception(self, typ, value, tb) -> None:
        """A database or file failure is the machine's state: one line for the operator
        (once per kind and minute), no traceback. Anything else keeps tornado's log."""
        if isinstance(value, STORAGE_ERRORS):
            reason = getattr(value, "sqlite_errorname", None) or type(value).__name__
            log.error(
                "cannot use the study database %s: %s (%s %s); the rater was told that nothing "
                "was saved. Free some space or fix the folder: the server goes on by itself",
                self.study.folder.database,
                value,
                self.request.method,
                self.request.path,
                extra={"kind": f"storage {reason}"},
            )
            return
        super().log_exception(typ, value, tb)

    def form_int(self, name: str) -> int | None:
        try:
            return int(self.get_body_argument(name, ""))
        except ValueError:
            return None


class StartPage(Page):
    def get(self) -> None:
        self.render("start.html", labels=store.SCORE_LABELS)

    def post(self) -> None:
        code = normalise_code(self.get_body_argument("code", ""))
        outcome = self.study.store.start(code)
        if outcome is not Outcome.RECORDED:
            self.refuse(outcome)
            return
        self.set_signed_cookie(RATER_COOKIE, code, httponly=True, samesite="Strict")
        self.redirect("/rate", status=303)


class RatePage(Page):
    def get(self) -> None:
        code = self.rater()
        position = self.study.store.position(code) if code else None
        if position is None:
            self.redirect("/", status=303)
        elif position.finished:
            self.render("done.html", total=position.total)
        elif position.pause:
            self.render("pause.html", position=position)
        else:
            self.study.store.mark_shown(code, position.index)
            self.render("item.html", position=position, labels=store.SCORE_LABELS)

    def post(self) -> None:
        code, index = self.rater(), self.form_int("index")
        if code is None:
            self.refuse(Outcome.UNKNOWN_RATER)
            return
        if index is None:
            self.message(400, "Not accepted", "The request names no position.")
            return
        score = self.form_int("score")
        outcome = self.study.store.record(
            code,
            index,
            self.get_body_argument("item", ""),
            score if score is not None else -1,
            self._response_ms(),
        )
        if outcome is Outcome.RECORDED:
            self.redirect("/rate", status=303)
        else:
            self.refuse(outcome)

    def _response_ms(self) -> float | None:
        try:
            value = float(self.get_body_argument("response_ms", ""))
        except ValueError:
            return None
        return value if math.isfinite(value) and 0 <= value <= MAX_RESPONSE_MS else None


class ResumePage(Page):
    def post(self) -> None:
        code, index = self.rater(), self.form_int("index")
        if code is None or index is None:
            self.refuse(Outcome.UNKNOWN_RATER if code is None else Outcome.NO_PAUSE)
            return
        outcome = self.study.store.resume(code, index)
        if outcome is Outcome.RECORDED:
            self.redirect("/rate", status=303)
        else:
            self.refuse(outcome)


class StimulusImage(Page):
    """``/image/<id>``: the rater's current stimulus only (404 for anything else)."""

    def get(self, stimulus_id: str) -> None:
        code = self.rater()
        if code is None or self.study.store.current_stimulus(code) != stimulus_id:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "image/png")
        self.write(self.study.folder.stimulus(stimulus_id).read_bytes())


class OperatorPage(Page):
    """The operator's progress page; ``?token=`` once, then a signed cookie."""

    def operator(self) -> bool:
        proof = self.get_signed_cookie(OPERATOR_COOKIE)
        return proof is not None and hmac.compare_digest(
            proof.decode(), self.study.operator_proof()
        )

    def get(self) -> None:
        token = self.get_query_argument("token", "")
        if token:
            if not hmac.compare_digest(token, self.study.token):
                raise tornado.web.HTTPError(403)
            self.set_signed_cookie(
                OPERATOR_COOKIE, self.study.operator_proof(), httponly=True, samesite="Strict"
            )
            self.redirect("/operator", status=303)  # the token leaves the address bar
            return
        if not self.operator():
            raise tornado.web.HTTPError(403)
        rows = self.study.store.progress()
        self.render("operator.html", rows=rows, study=str(self.study.folder.root))


class RatingsExport(OperatorPage):
    def get(self) -> None:
        if not self.operator():
            raise tornado.web.HTTPError(403)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="ratings.csv"')
        self.write(self.study.store.export_csv())


class NotFound(Page):
    """Every address no route matches: 404, with the headers every page has."""

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404)


class StaticFiles(tornado.web.StaticFileHandler):
    """The page's stylesheet, script and icon, with the same headers as every page."""

    def set_default_headers(self) -> None:
        set_security_headers(self)

    def get_cache_time(self, *args) -> int:
        return 0  # keeps Cache-Control: no-store


def make_app(study: Study) -> tornado.web.Application:
    """The web application of ``study`` (no debug mode, XSRF-checked forms)."""
    routes = [
        (r"/", StartPage),
        (r"/rate", RatePage),
        (r"/resume", ResumePage),
        (r"/image/([A-Za-z0-9_-]+)", StimulusImage),
        (r"/operator", OperatorPage),
        (r"/operator/ratings\.csv", RatingsExport),
    ]
    return tornado.web.Application(
        [(pattern, handler, {"study": study}) for pattern, handler in routes],
        template_path=str(TEMPLATES),
        static_path=str(STATIC),
        static_handler_class=StaticFiles,
        default_handler_class=NotFound,
        default_handler_args={"study": study},
        cookie_secret=study.store.meta["cookie_secret"],
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Strict"},
        debug=False,
        compress_response=False,
    )


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
