"""The daemon's state in SQLite: every container, its settings, its final state and its logs.

Each change is committed as it happens (write-ahead log, so a commit costs no disk flush): a daemon
killed at any moment restarts with every container it had created, the output its guests had written
and the final state of those that ended. Containers that were running are marked lost then.
One thread uses a database: the daemon's event loop.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
STATUSES = ("created", "running", "exited", "lost")
STREAMS = {1: "stdout", 2: "stderr"}
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
        self.next_seq: dict[str, int] = {}

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
        self.next_seq.pop(container_id, None)

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

    def append_log(self, container_id: str, stream: int, data: bytes) -> int:
        """Store a chunk of output; its sequence number (1, 2, ... per container)."""
        seq = self.next_seq.get(container_id)
        if seq is None:
            seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM logs WHERE container = ?",
                                  (container_id,)).fetchone()[0]
        self.db.execute("INSERT INTO logs (container, seq, stream, time, data) VALUES (?, ?, ?, ?, ?)",
                        (container_id, seq, stream, time.time(), data))
        self.next_seq[container_id] = seq + 1
        return seq

    def logs(self, container_id: str, after: int = 0) -> list[tuple[int, int, bytes]]:
        """(seq, stream, data) of every chunk after sequence number `after`, in order."""
        return list(self.db.execute("SELECT seq, stream, data FROM logs WHERE container = ? AND seq > ? ORDER BY seq",
                                    (container_id, after)))


def _container(row: tuple) -> Container:
    cid, name, image, digest, settings, status, created, started, finished, exit_status, result = row
    return Container(cid, name, image, digest, json.loads(settings), status, created, started, finished,
                     exit_status, json.loads(result) if result else None)
