"""A MOS study's database: the plan of every rater and every rating, in SQLite (WAL).

Tables: ``meta`` (study settings and the server's cookie secret), ``stimuli`` (opaque id ->
kind, data set, image, method, expected score), ``raters`` (code, number, start and finish
times), ``plan`` (each rater's stimulus at each position), ``shown`` (when a position was
first displayed), ``ratings`` (one row per position rated: stimulus, score, timestamps,
response time) and ``pauses`` (which pauses a rater has ended).

Every rating is one ``BEGIN IMMEDIATE`` transaction, committed before the answer goes back,
with ``synchronous=FULL`` (the WAL is fsynced on each commit): a crash, a reload or a closed
tab loses nothing. A transaction that fails (a full disk) is rolled back whole and raises,
and the connection stays usable once the disk has room again. The database is created
readable by its owner only (it holds every rater code and the cookie secret); a reader
(``Store(path, writable=False)``) opens it read-only, also on a read-only file system.
:meth:`Store.record` accepts only the rater's next position, with the stimulus planned there
and a score of 1-5; anything else (a replay, an item out of order or from another rater's
list, a finished code) is refused before anything is written.

This module is torch-free: it uses the standard library and the leaves errors, fileio (the
private mode), paper and variants (the names of HR and NN).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import io
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from srgan.core import paper, variants
from srgan.core.errors import UserError
from srgan.core.fileio import PRIVATE

#: The absolute category rating scale of the paper (and ITU-T P.910 / ITU-R BT.500).
SCORE_LABELS = {1: "bad", 2: "poor", 3: "fair", 4: "good", 5: "excellent"}
MIN_SCORE, MAX_SCORE = min(SCORE_LABELS), max(SCORE_LABELS)
#: Stimulus kinds: anchors shown with their score first; the images rated; hidden checks.
CALIBRATION, TEST, ATTENTION = "calibration", "test", "attention"
KINDS = (CALIBRATION, TEST, ATTENTION)
#: The study's name for the original images (Table 2's "HR" column) and for NN.
HR = paper.TABLE2_REFERENCE[0]
NN = variants.NEAREST
#: The scores the anchors stand for (the paper: NN as 1, HR as 5).
ANCHOR_SCORES = {NN: MIN_SCORE, HR: MAX_SCORE}
#: Seconds a writer waits for another's transaction (the server writes one at a time anyway).
BUSY_TIMEOUT_S = 30.0
#: The columns of an exported ratings file (``srgan mos analyse`` reads them back).
EXPORT_COLUMNS = (
    "rater",
    "position",
    "kind",
    "dataset",
    "image",
    "method",
    "expected",
    "stimulus",
    "score",
    "shown_at",
    "rated_at",
    "response_ms",
    "server_ms",
)

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE stimuli (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('calibration', 'test', 'attention')),
    dataset TEXT NOT NULL,
    image TEXT NOT NULL,
    method TEXT NOT NULL,
    expected INTEGER CHECK (expected BETWEEN 1 AND 5)
);
CREATE TABLE raters (
    code TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE plan (
    rater TEXT NOT NULL REFERENCES raters (code),
    position INTEGER NOT NULL,
    stimulus TEXT NOT NULL REFERENCES stimuli (id),
    PRIMARY KEY (rater, position)
);
CREATE TABLE shown (
    rater TEXT NOT NULL,
    position INTEGER NOT NULL,
    shown_at REAL NOT NULL,
    PRIMARY KEY (rater, position),
    FOREIGN KEY (rater, position) REFERENCES plan (rater, position)
);
CREATE TABLE ratings (
    rater TEXT NOT NULL,
    position INTEGER NOT NULL,
    stimulus TEXT NOT NULL REFERENCES stimuli (id),
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    shown_at REAL,
    rated_at REAL NOT NULL,
    response_ms REAL,
    PRIMARY KEY (rater, position),
    FOREIGN KEY (rater, position) REFERENCES plan (rater, position)
);
CREATE TABLE pauses (
    rater TEXT NOT NULL REFERENCES raters (code),
    position INTEGER NOT NULL,
    resumed_at REAL NOT NULL,
    PRIMARY KEY (rater, position)
);
"""


class Outcome(enum.Enum):
    """What became of a rating (or the end of a pause) sent to :meth:`Store.record`."""

    RECORDED = "recorded"
    UNKNOWN_RATER = "unknown rater code"
    FINISHED = "this code has finished the study"
    BAD_SCORE = "the score must be a whole number from 1 to 5"
    REPLAYED = "this position was already rated"
    OUT_OF_ORDER = "this is not the next position"
    WRONG_ITEM = "this item is not the rater's item at this position"
    PAUSED = "a pause has to be ended first"
    NO_PAUSE = "there is no pause here"
    WRONG_ANCHOR = "a calibration image takes the score it is shown with"


@dataclass(frozen=True)
class Position:
    """Where a rater stands: the next position (``total`` when finished), its stimulus and
    kind, whether a pause comes first, and the block of the test it belongs to."""

    code: str
    index: int
    total: int
    stimulus: str | None
    kind: str | None
    expected: int | None
    pause: bool
    block: int
    blocks: int

    @property
    def finished(self) -> bool:
        return self.index >= self.total


@dataclass(frozen=True)
class Layout:
    """Where the pauses fall: after the ``calibration`` positions, then every ``block_size``
    rated positions; ``total`` positions in all (the same for every rater)."""

    calibration: int
    block_size: int
    total: int

    def pause_before(self, index: int) -> bool:
        """Whether a pause comes before position ``index`` (never before the first or after
        the last)."""
        if index <= 0 or index >= self.total or index < self.calibration:
            return False
        if index == self.calibration:
            return True
        return (index - self.calibration) % self.block_size == 0

    def block(self, index: int) -> int:
        """The test block (1-based) of position ``index``; 0 during calibration."""
        if index < self.calibration:
            return 0
        return (min(index, self.total - 1) - self.calibration) // self.block_size + 1

    @property
    def blocks(self) -> int:
        return -(-(self.total - self.calibration) // self.block_size)


def connect(path: Path) -> sqlite3.Connection:
    """Open a study database in autocommit mode (transactions are explicit), WAL, fsync on
    every commit, foreign keys checked."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open a study database for reading only. In a folder SQLite cannot write (a read-only
    file system, an archived study), a database whose write-ahead log is empty is opened as
    immutable; one with ratings still in its log is a UserError (they cannot be read there)."""
    path = Path(path).absolute()
    uri = f"file:{urllib.parse.quote(str(path))}"
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise UserError(
                f"{path}: its latest ratings are in {wal.name}, which SQLite reads only in a "
                "folder it can write: copy the study folder to a writable place and read it "
                "there"
            ) from None
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def create_private(path: Path) -> None:
    """An empty file at ``path`` readable and writable by its owner only (SQLite gives the
    database's WAL files the same mode). The file must not exist."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; on any exception, the COMMIT's included, what is
    left of the transaction is rolled back (SQLite has already rolled back after a full disk)
    and the exception raised, so the connection is ready for the next transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def initialise(
    path: Path,
    meta: dict[str, str],
    stimuli: Iterable[dict],
    plans: dict[str, list[str]],
) -> None:
    """Create a study database (mode 0600): settings, stimuli and each rater's plan (``{code:
    [stimulus id per position]}``, raters numbered in the dict's order). One transaction."""
    create_private(path)
    conn = connect(path)
    try:
        with transaction(conn):
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            conn.executemany(
                "INSERT INTO stimuli VALUES (:id, :kind, :dataset, :image, :method, :expected)",
                list(stimuli),
            )
            for number, (code, plan) in enumerate(plans.items(), start=1):
                conn.execute("INSERT INTO raters (code, number) VALUES (?, ?)", (code, number))
                conn.executemany(
                    "INSERT INTO plan VALUES (?, ?, ?)",
                    [(code, index, stimulus) for index, stimulus in enumerate(plan)],
                )
    finally:
        conn.close()


def _iso(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """One open study database (the server holds one for its lifetime); ``writable=False``
    opens it for reading only (``connect_read_only``). A file SQLite cannot open or read is a
    UserError naming it."""

    def __init__(self, path: Path, writable: bool = True) -> None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"no study database {path} (make one with `srgan mos create`)")
        self.path = path
        try:
            self.conn = connect(path) if writable else connect_read_only(path)
            rows = self.conn.execute("SELECT * FROM meta").fetchall()
        except sqlite3.Error as exc:
            raise UserError(f"cannot open the study database {path}: {exc}") from None
        self.meta = {row["key"]: row["value"] for row in rows}
        self.layout = Layout(
            calibration=int(self.meta["calibration_positions"]),
            block_size=int(self.meta["block_size"]),
            total=int(self.meta["positions"]),
        )

    def close(self) -> None:
        self.conn.close()

    # --- reading ---------------------------------------------------------------------------

    def _rater(self, code: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM raters WHERE code = ?", (code,)).fetchone()

    def known(self, code: str) -> bool:
        return self._rater(code) is not None

    def _next_index(self, code: str) -> int:
        row = self.conn.execute(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM ratings WHERE rater = ?", (code,)
        ).fetchone()
        return int(row[0])

    def _pause_pending(self, code: str, index: int) -> bool:
        if not self.layout.pause_before(index):
            return False
        done = self.conn.execute(
            "SELECT 1 FROM pauses WHERE rater = ? AND position = ?", (code, index)
        ).fetchone()
        return done is None

    def position(self, code: str) -> Position | None:
        """Where rater ``code`` stands (None for an unknown code)."""
        if not self.known(code):
            return None
        index = self._next_index(code)
        planned = self.conn.execute(
            "SELECT s.id, s.kind, s.expected FROM plan p JOIN stimuli s ON s.id = p.stimulus "
            "WHERE p.rater = ? AND p.position = ?",
            (code, index),
        ).fetchone()
        return Position(
            code=code,
            index=index,
            total=self.layout.total,
            stimulus=planned["id"] if planned else None,
            kind=planned["kind"] if planned else None,
            expected=planned["expected"] if planned else None,
            pause=self._pause_pending(code, index),
            block=self.layout.block(index),
            blocks=self.layout.blocks,
        )

    def current_stimulus(self, code: str) -> str | None:
        """The stimulus rater ``code`` is to rate now (None: unknown, finished or pausing)."""
        position = self.position(code)
        if position is None or position.finished or position.pause:
            return None
        return position.stimulus

    # --- writing ---------------------------------------------------------------------------

    def start(self, code: str) -> Outcome:
        """A rater entered their code: note the first time. Finished codes are refused."""
        with transaction(self.conn):
            rater = self._rater(code)
            if rater is None:
                return Outcome.UNKNOWN_RATER
            if rater["finished_at"] is not None:
                return Outcome.FINISHED
            if rater["started_at"] is None:
                self.conn.execute(
                    "UPDATE raters SET started_at = ? WHERE code = ?", (time.time(), code)
                )
        return Outcome.RECORDED

    def mark_shown(self, code: str, index: int) -> None:
        """The first time position ``index`` was displayed to ``code`` (reloads keep it)."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR IGNORE INTO shown VALUES (?, ?, ?)", (code, index, time.time())
            )

    def _refusal(self, code: str, index: int) -> Outcome | None:
        """Why ``code`` may not act at position ``index`` now (None: it may)."""
        rater = self._rater(code)
        if rater is None:
            return Outcome.UNKNOWN_RATER
        if rater["finished_at"] is not None:
            return Outcome.FINISHED
        expected_index = self._next_index(code)
        if index < expected_index:
            return Outcome.REPLAYED
        if index > expected_index:
            return Outcome.OUT_OF_ORDER
        return None

    def record(
        self, code: str, index: int, stimulus: str, score: int, response_ms: float | None
    ) -> Outcome:
        """Store one rating if it is ``code``'s next one, of the planned stimulus, 1-5; refuse
        it otherwise, writing nothing. The last rating marks the code finished."""
        if not isinstance(score, int) or not MIN_SCORE <= score <= MAX_SCORE:
            return Outcome.BAD_SCORE
        with transaction(self.conn):
            refusal = self._refusal(code, index)
            if refusal is not None:
                return refusal
            planned = self.conn.execute(
                "SELECT s.id, s.expected, s.kind FROM plan p JOIN stimuli s ON s.id = p.stimulus "
                "WHERE p.rater = ? AND p.position = ?",
                (code, index),
            ).fetchone()
            if planned is None or planned["id"] != stimulus:
                return Outcome.WRONG_ITEM
            if self._pause_pending(code, index):
                return Outcome.PAUSED
            if planned["kind"] == CALIBRATION and score != planned["expected"]:
                return Outcome.WRONG_ANCHOR
            shown = self.conn.execute(
                "SELECT shown_at FROM shown WHERE rater = ? AND position = ?", (code, index)
            ).fetchone()
            now = time.time()
            self.conn.execute(
                "INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?)",
                (code, index, stimulus, score, shown[0] if shown else None, now, response_ms),
            )
            if index + 1 >= self.layout.total:
                self.conn.execute("UPDATE raters SET finished_at = ? WHERE code = ?", (now, code))
        return Outcome.RECORDED

    def resume(self, code: str, index: int) -> Outcome:
        """End the pause before position ``index`` (refused where there is none pending)."""
        with transaction(self.conn):
            refusal = self._refusal(code, index)
            if refusal is not None:
                return refusal
            if not self._pause_pending(code, index):
                return Outcome.NO_PAUSE
            self.conn.execute("INSERT INTO pauses VALUES (?, ?, ?)", (code, index, time.time()))
        return Outcome.RECORDED

    # --- the operator's view ----------------------------------------------------------------

    def progress(self) -> list[dict]:
        """Per rater: code, number, ratings given, positions in all, start, finish, last
        rating (ISO times), median response time [ms]."""
        rows = self.conn.execute(
            "SELECT r.code, r.number, r.started_at, r.finished_at, COUNT(g.position) AS rated, "
            "MAX(g.rated_at) AS last_at FROM raters r LEFT JOIN ratings g ON g.rater = r.code "
            "GROUP BY r.code ORDER BY r.number"
        ).fetchall()
        times: dict[str, list[float]] = {}
        for rater, ms in self.conn.execute(
            "SELECT rater, response_ms FROM ratings WHERE response_ms IS NOT NULL"
        ):
            times.setdefault(rater, []).append(ms)
        out = []
        for row in rows:
            spent = sorted(times.get(row["code"], []))
            out.append(
                {
                    "code": row["code"],
                    "number": row["number"],
                    "rated": row["rated"],
                    "total": self.layout.total,
                    "started": _iso(row["started_at"]),
                    "finished": _iso(row["finished_at"]),
                    "last_rating": _iso(row["last_at"]),
                    "median_response_ms": spent[len(spent) // 2] if spent else None,
                }
            )
        return out

    def export_rows(self) -> list[dict]:
        """Every rating with its stimulus unblinded (``EXPORT_COLUMNS``), by rater and
        position. One read transaction: a consistent snapshot while raters go on."""
        rows = self.conn.execute(
            "SELECT g.rater, g.position, s.kind, s.dataset, s.image, s.method, s.expected, "
            "g.stimulus, g.score, g.shown_at, g.rated_at, g.response_ms "
            "FROM ratings g JOIN stimuli s ON s.id = g.stimulus "
            "JOIN raters r ON r.code = g.rater ORDER BY r.number, g.position"
        ).fetchall()
        out = []
        for row in rows:
            record = dict(row)
            shown, rated = record["shown_at"], record["rated_at"]
            record["server_ms"] = round((rated - shown) * 1000.0, 1) if shown else None
            record["shown_at"], record["rated_at"] = _iso(shown), _iso(rated)
            out.append(record)
        return out

    def export_csv(self) -> str:
        """``export_rows`` as CSV text (header ``EXPORT_COLUMNS``)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.export_rows())
        return buffer.getvalue()


def count_ratings(path: Path) -> int:
    """How many ratings the study database at ``path`` holds (0 if there is none)."""
    if not Path(path).is_file():
        return 0
    conn = connect_read_only(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0])
    finally:
        conn.close()
