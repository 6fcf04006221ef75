"""The rating page and the operator page of a MOS study: tornado's routes and handlers.

A rater enters a code, rates the calibration anchors (each shown with its score), then every
item of their plan on the 1-5 scale, in blocks separated by pauses, with a progress bar.
Every page is built from the database: a reload, a closed tab or a restarted server shows
the same next item; the back button shows it too (no going back, no re-rating). Stimuli are
served as ``/image/<opaque id>`` to the rater whose current item they are, and nothing else
the browser receives names a method or a file.

The operator page (``/operator``) needs the token printed at start (a new one each start,
never stored); it shows each rater's progress and exports the ratings as CSV. There are no
default passwords and no debug routes: unknown paths are 404, errors never show a traceback.
A rating the database cannot store (a full disk) is answered with a page saying it was NOT
saved (JSON to a client that asks for it); the operator's log says why. Every page carries
the security headers (``limits.SECURITY_HEADERS``).

This module uses paths, store and limits (the headers, the operator's log); it imports
tornado.
"""

from __future__ import annotations

import hashlib
import hmac
import http
import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.web

from srgan.core import paths
from srgan.mos import store
from srgan.mos.limits import log, set_security_headers
from srgan.mos.store import Outcome

#: Signed cookies: the rater's code, and proof of the operator token (its sha256).
RATER_COOKIE, OPERATOR_COOKIE = "rater", "operator"
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
#: The pages' templates and their stylesheet, script and icon.
HERE = Path(__file__).resolve().parent
TEMPLATES, STATIC = HERE / "templates", HERE / "static"
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


@dataclass(frozen=True)
class Study:
    """What the handlers share: the study's files, its database and the operator token."""

    folder: paths.StudyFolder
    store: store.Store
    token: str

    def operator_proof(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()


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
