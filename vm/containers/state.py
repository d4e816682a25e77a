"""The daemon's state in SQLite: every container, its settings, its final state and its logs.

Each change is committed as it happens (write-ahead log, so a commit costs no disk flush): a daemon
killed at any moment restarts with every container it had created, the output its guests had written
and the final state of those that ended. Containers that were running are marked lost then.
Two threads use the database, each with a connection of its own: the daemon's event loop, for the
containers, and the LogWriter, which stores the guests' output in batches, off the loop.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
STATUSES = ("created", "running", "exited", "lost")
STREAMS = {1: "stdout", 2: "stderr"}
MAX_BATCH = 4096  # chunks of output stored in one transaction
MAX_QUEUED = 256  # chunks waiting for the log writer (each at most 1 MiB, what a guest's pipe holds)
MAX_ROW_BYTES = 1 << 20  # consecutive chunks of one stream in a batch are stored as one row up to this size
_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,          -- the reference it was created from
    digest TEXT NOT NULL,         -- the image's manifest digest
    settings TEXT NOT NULL,       -- JSON: mode, memory, fuel, limits, auto_remove
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    exit_status INTEGER,          -- what `vm run` would exit with
    result TEXT                   -- JSON: the final machine state, message, statistics
);
CREATE TABLE IF NOT EXISTS logs (
    container TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    stream INTEGER NOT NULL,      -- 1 standard output, 2 standard error
    time REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (container, seq)
);
"""


def default_root() -> Path:
    """$VM_DAEMON_ROOT, else ~/.local/share/vm/daemon: the state database, the socket, containers' files."""
    configured = os.environ.get("VM_DAEMON_ROOT")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "vm" / "daemon"


def default_host() -> str:
    """Where the daemon listens unless told otherwise, as clients name it."""
    return f"unix://{default_root() / 'daemon.sock'}"


class StateError(Exception):
    """A database that is not the daemon's, or from another version of it."""


@dataclass
class Container:
    """One row of `containers`, decoded."""

    id: str
    name: str
    image: str
    digest: str
    settings: dict
    status: str
    created: float
    started: float | None
    finished: float | None
    exit_status: int | None
    result: dict | None

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "image": self.image, "digest": self.digest,
                "status": self.status, "settings": self.settings, "created": self.created,
                "started": self.started, "finished": self.finished, "exit_status": self.exit_status,
                "result": self.result}


class ContainerState:
    """The containers and logs tables, and the queries the daemon makes of them."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each statement is durable
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StateError(f"{path} holds state of version {version}; this daemon keeps version {SCHEMA_VERSION}")
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def mark_lost(self) -> list[str]:
        """Containers left running by a daemon that stopped without ending them: now lost. Their ids."""
        lost = [row[0] for row in self.db.execute("SELECT id FROM containers WHERE status = 'running'")]
        result = json.dumps({"message": "vm: the daemon stopped while this container ran; its guest ended with it"})
        self.db.execute("UPDATE containers SET status = 'lost', finished = ?, result = ? WHERE status = 'running'",
                        (time.time(), result))
        return lost

    def create(self, container_id: str, name: str, image: str, digest: str, settings: dict) -> None:
        self.db.execute("INSERT INTO containers (id, name, image, digest, settings, status, created) "
                        "VALUES (?, ?, ?, ?, ?, 'created', ?)",
                        (container_id, name, image, digest, json.dumps(settings), time.time()))

    def name_taken(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM containers WHERE name = ?", (name,)).fetchone() is not None

    def started(self, container_id: str) -> None:
        self.db.execute("UPDATE containers SET status = 'running', started = ? WHERE id = ?",
                        (time.time(), container_id))

    def finished(self, container_id: str, exit_status: int | None, result: dict) -> None:
        self.db.execute("UPDATE containers SET status = 'exited', finished = ?, exit_status = ?, result = ? "
                        "WHERE id = ?", (time.time(), exit_status, json.dumps(result), container_id))

    def remove(self, container_id: str) -> None:
        self.db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def get(self, container_id: str) -> Container | None:
        row = self.db.execute("SELECT * FROM containers WHERE id = ?", (container_id,)).fetchone()
        return _container(row) if row else None

    def find(self, text: str) -> list[Container]:
        """The containers `text` names: an id, a name, or the start of an id."""
        rows = self.db.execute("SELECT * FROM containers WHERE id = ? OR name = ?", (text, text)).fetchall()
        if not rows and text.isalnum():
            rows = self.db.execute("SELECT * FROM containers WHERE id LIKE ? || '%'", (text.lower(),)).fetchall()
        return [_container(row) for row in rows]

    def all(self) -> list[Container]:
        return [_container(row) for row in self.db.execute("SELECT * FROM containers ORDER BY created")]

    def logs(self, container_id: str, after: int = 0, limit: int = -1) -> list[tuple[int, int, bytes]]:
        """(seq, stream, data) of the chunks after sequence number `after`, in order (at most `limit`)."""
        return list(self.db.execute("SELECT seq, stream, data FROM logs WHERE container = ? AND seq > ? "
                                    "ORDER BY seq LIMIT ?", (container_id, after, limit)))


class LogWriter:
    """The guests' output into the logs table, off the event loop: a thread with a connection of its own
    takes every chunk that came since its last batch, joins the consecutive ones of a stream, stores them
    in one transaction, then calls `stored(containers, actions)`: the containers that have new output, and
    the actions (`then`: a container's end) whose container's output is all stored by then."""

    def __init__(self, path: Path, stored: Callable[[set[str], list[Callable[[], None]]], None]) -> None:
        self.path, self.stored = path, stored
        self.queue: queue.Queue = queue.Queue(MAX_QUEUED)  # full: the guests wait, as on a full pipe
        self.lock = threading.Lock()  # over the counts and the ends waiting on them
        self.queued: dict[str, int] = {}  # chunks given to write(), per container
        self.written: dict[str, int] = {}  # of those, chunks the writer is done with (stored, or lost to an error)
        self.ends: dict[str, Callable[[], None]] = {}
        self.ended: set[str] = set()  # containers whose sequence numbers the writer may forget
        self.thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self.thread.start()

    def write(self, container_id: str, stream: int, data: bytes) -> None:
        """Store a chunk of a container's output (from its thread)."""
        with self.lock:
            self.queued[container_id] = self.queued.get(container_id, 0) + 1
        self.queue.put((container_id, stream, time.time(), data))

    def then(self, container_id: str, action: Callable[[], None]) -> None:
        """Run `action` (through `stored`) once the container's output written so far is stored: at once if
        it is, without waiting behind other containers' output."""
        with self.lock:
            if self.written.get(container_id, 0) < self.queued.get(container_id, 0):
                self.ends[container_id] = action
                return
            self._forget(container_id)
        self.stored(set(), [action])

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _forget(self, container_id: str) -> None:
        self.queued.pop(container_id, None)
        self.written.pop(container_id, None)
        self.ended.add(container_id)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        next_seq: dict[str, int] = {}
        try:
            while True:
                items = [self.queue.get()]
                while len(items) < MAX_BATCH and items[-1] is not None:
                    try:
                        items.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                chunks = [item for item in items if item is not None]
                changed: set[str] = set()
                try:
                    rows, changed = self._rows(db, chunks, next_seq)
                    with db:
                        db.execute("BEGIN")
                        db.executemany("INSERT INTO logs (container, seq, stream, time, data) VALUES (?, ?, ?, ?, ?)",
                                       rows)
                except Exception:  # a failing disk: this batch's output is lost, its containers still end
                    traceback.print_exc()
                    print(f"vm daemon: {len(chunks)} chunk(s) of output could not be stored", file=sys.stderr,
                          flush=True)
                actions = self._done(chunks, next_seq)
                if changed or actions:
                    self.stored(changed, actions)
                if items[-1] is None:
                    return
        finally:
            db.close()

    def _done(self, chunks: list, next_seq: dict[str, int]) -> list[Callable[[], None]]:
        """Count the batch's chunks as written: the ends that were waiting only on them."""
        counts: dict[str, int] = {}
        for container_id, *_ in chunks:
            counts[container_id] = counts.get(container_id, 0) + 1
        actions = []
        with self.lock:
            for container_id, count in counts.items():
                self.written[container_id] = self.written.get(container_id, 0) + count
                if container_id in self.ends and self.written[container_id] >= self.queued[container_id]:
                    actions.append(self.ends.pop(container_id))
                    self._forget(container_id)
            for container_id in self.ended:
                next_seq.pop(container_id, None)
            self.ended.clear()
        return actions

    @staticmethod
    def _rows(db: sqlite3.Connection, chunks: list, next_seq: dict[str, int]) -> tuple[list, set[str]]:
        """The batch's rows (consecutive chunks of a stream joined) and the containers they are of."""
        rows: list[list] = []
        changed: set[str] = set()
        last: dict[str, list] = {}  # each container's last row of this batch, to join a chunk to
        for container_id, stream, when, data in chunks:
            row = last.get(container_id)
            if row is not None and row[2] == stream and len(row[4]) + len(data) <= MAX_ROW_BYTES:
                row[4] += data
                continue
            seq = next_seq.get(container_id)
            if seq is None:
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM logs WHERE container = ?",
                                 (container_id,)).fetchone()[0]
            next_seq[container_id] = seq + 1
            row = last[container_id] = [container_id, seq, stream, when, bytearray(data)]
            rows.append(row)
            changed.add(container_id)
        for row in rows:
            row[4] = bytes(row[4])
        return rows, changed


def _container(row: tuple) -> Container:
    cid, name, image, digest, settings, status, created, started, finished, exit_status, result = row
    return Container(cid, name, image, digest, json.loads(settings), status, created, started, finished,
                     exit_status, json.loads(result) if result else None)
