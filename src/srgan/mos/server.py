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

This module uses paths, fileio, errors and store; tornado is imported here only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import math
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web

from srgan.core import paths
from srgan.core.errors import UserError
from srgan.core.fileio import LockBusy, file_lock
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

    def write_error(self, status_code: int, **kwargs) -> None:
        self.render("message.html", title=f"Error {status_code}", text=self._reason)

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
        cookie_secret=study.store.meta["cookie_secret"],
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Strict"},
        debug=False,
        compress_response=False,
    )


def open_study(study_dir: Path, token: str | None = None) -> Study:
    """A study folder's database opened for serving, with ``token`` (default: a new one)."""
    folder = paths.StudyFolder(study_dir)
    if not folder.manifest.is_file():
        raise UserError(f"no study in {folder.root} (make one with `srgan mos create`)")
    return Study(folder, store.Store(folder.database), token or secrets.token_urlsafe(TOKEN_BYTES))


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
            _run(study, host, port, announce)
    except LockBusy:
        raise UserError(f"another `srgan mos serve` is serving {study.folder.root}") from None
    finally:
        study.store.close()


def _run(study: Study, host: str, port: int, announce: Callable[[str], None]) -> None:
    try:
        sockets = tornado.netutil.bind_sockets(port, host)
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
        server = tornado.httpserver.HTTPServer(make_app(study))
        server.add_sockets(sockets)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        server.stop()
        await server.close_all_connections()

    asyncio.run(main())
    announce(f"stopped; {study.folder.database} holds every rating")
