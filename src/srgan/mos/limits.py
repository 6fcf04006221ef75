"""The rating server's limits: what one request and all connections together may take.

For a server anyone on the lab network can reach (:class:`Limits`): a request body larger
than a rating form is refused from its ``Content-Length``, before a byte of it is read (before
any cookie is looked at); headers must arrive within seconds, idle connections close; the open
connections are capped per client address and in all, below the process's open-file limit,
and at the cap the connection that has waited longest for a complete request makes room for a
new one (:class:`GuardedServer`). Refusals are cheap (a fixed answer, the connection closed)
and logged once per kind and minute (:class:`OncePerKind`, :func:`operator_log`), never per
event. Every response, refusals and tornado's own "400" included, carries
``SECURITY_HEADERS`` and no ``Server`` header (:func:`set_security_headers` for the pages).

This module imports tornado and nothing of the package; ``pages`` and ``server`` import it.
"""

from __future__ import annotations

import collections
import contextlib
import http
import logging
import resource
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.web

#: Every response: no caching, no referrer, no framing, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; "
    "script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

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

#: The operator's log: the one logger of ``srgan mos serve`` (the pages log to it too).
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
