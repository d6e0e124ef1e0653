"""The engine's durable state: SQLite in WAL mode.

Desired state (endpoint and deployment specs), the append-only revision history and the
hash-chained audit log. A revision and its audit event are committed in one transaction.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.domain.audit import GENESIS, event_hash
from console.domain.models import AuditEvent, DeploymentSpec, EndpointSpec, Revision
from console.engine.identity import CURRENT, FROM_REQUEST

SCHEMA = """
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, key TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY, endpoint TEXT NOT NULL, spec TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revisions (
    endpoint TEXT NOT NULL, number INTEGER NOT NULL, traffic TEXT NOT NULL, mirror TEXT NOT NULL,
    time TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, kind TEXT NOT NULL,
    restores INTEGER, PRIMARY KEY (endpoint, number));
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    endpoint TEXT, deployment TEXT, before TEXT, after TEXT, reason TEXT NOT NULL,
    outcome TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
"""


def now() -> datetime:
    return datetime.now(UTC)


class Store:
    """All reads and writes of the state database. Not thread-safe: one owner."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(audit)")}
        if "identity" not in columns:  # state dirs from before per-console identities
            self.db.execute("ALTER TABLE audit ADD COLUMN identity TEXT")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- desired state -------------------------------------------------------------

    def endpoints(self) -> dict[str, tuple[EndpointSpec, str, datetime]]:
        rows = self.db.execute("SELECT name, spec, key, created FROM endpoints ORDER BY name")
        return {
            r["name"]: (EndpointSpec.model_validate_json(r["spec"]), r["key"], datetime.fromisoformat(r["created"]))
            for r in rows
        }

    def deployments(self) -> dict[str, tuple[DeploymentSpec, datetime]]:
        rows = self.db.execute("SELECT name, spec, created FROM deployments ORDER BY name")
        return {
            r["name"]: (DeploymentSpec.model_validate_json(r["spec"]), datetime.fromisoformat(r["created"]))
            for r in rows
        }

    def put_endpoint(self, db: sqlite3.Connection, spec: EndpointSpec) -> str:
        """Insert or update; returns the endpoint's data-plane key."""
        row = db.execute("SELECT key FROM endpoints WHERE name = ?", (spec.name,)).fetchone()
        if row is not None:
            db.execute("UPDATE endpoints SET spec = ? WHERE name = ?", (spec.model_dump_json(), spec.name))
            return str(row["key"])
        key = secrets.token_urlsafe(24)
        db.execute(
            "INSERT INTO endpoints (name, spec, key, created) VALUES (?, ?, ?, ?)",
            (spec.name, spec.model_dump_json(), key, now().isoformat()),
        )
        return key

    def put_deployment(self, db: sqlite3.Connection, spec: DeploymentSpec) -> None:
        db.execute(
            "INSERT INTO deployments (name, endpoint, spec, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, endpoint = excluded.endpoint",
            (spec.name, spec.endpoint, spec.model_dump_json(), now().isoformat()),
        )

    def delete_deployment(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM deployments WHERE name = ?", (name,))

    # -- revisions -----------------------------------------------------------------

    def add_revision(
        self,
        db: sqlite3.Connection,
        endpoint: str,
        traffic: dict[str, int],
        mirror: dict[str, int],
        actor: str,
        reason: str,
        kind: str,
        restores: int | None = None,
    ) -> Revision:
        row = db.execute("SELECT MAX(number) AS n FROM revisions WHERE endpoint = ?", (endpoint,)).fetchone()
        revision = Revision(
            endpoint=endpoint,
            number=(row["n"] or 0) + 1,
            traffic=traffic,
            mirror=mirror,
            time=now(),
            actor=actor,
            reason=reason,
            kind=kind,
            restores=restores,
        )
        db.execute(
            "INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                endpoint, revision.number, json.dumps(traffic), json.dumps(mirror),
                revision.time.isoformat(), actor, reason, kind, restores,
            ),
        )
        return revision

    def revisions(self, endpoint: str) -> list[Revision]:
        rows = self.db.execute("SELECT * FROM revisions WHERE endpoint = ? ORDER BY number", (endpoint,))
        return [self._revision(r) for r in rows]

    def latest_revision(self, endpoint: str, db: sqlite3.Connection | None = None) -> Revision | None:
        row = (db or self.db).execute(
            "SELECT * FROM revisions WHERE endpoint = ? ORDER BY number DESC LIMIT 1", (endpoint,)
        ).fetchone()
        return self._revision(row) if row is not None else None

    @staticmethod
    def _revision(row: sqlite3.Row) -> Revision:
        return Revision(
            endpoint=row["endpoint"], number=row["number"], traffic=json.loads(row["traffic"]),
            mirror=json.loads(row["mirror"]), time=datetime.fromisoformat(row["time"]),
            actor=row["actor"], reason=row["reason"], kind=row["kind"], restores=row["restores"],
        )

    # -- audit ---------------------------------------------------------------------

    def append_audit(
        self,
        db: sqlite3.Connection,
        actor: str,
        action: str,
        outcome: str,
        endpoint: str | None = None,
        deployment: str | None = None,
        before: Any = None,
        after: Any = None,
        reason: str = "",
        identity: str | None = FROM_REQUEST,
    ) -> AuditEvent:
        """`identity` defaults to the calling console's, when serving a control API request."""
        identity = CURRENT.get() if identity == FROM_REQUEST else identity
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        fields: dict[str, Any] = {
            "seq": (last["seq"] + 1) if last else 1,
            "time": now().isoformat(),
            "actor": actor,
            "action": action,
            "endpoint": endpoint,
            "deployment": deployment,
            "before": json.loads(json.dumps(before, default=str)),
            "after": json.loads(json.dumps(after, default=str)),
            "reason": reason,
            "outcome": outcome,
            "prev_hash": last["hash"] if last else GENESIS,
            "identity": identity,
        }
        fields["hash"] = event_hash(fields)
        db.execute(
            "INSERT INTO audit (seq, time, actor, action, endpoint, deployment, before, after, reason, outcome,"
            " prev_hash, hash, identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fields["seq"], fields["time"], actor, action, endpoint, deployment,
                json.dumps(fields["before"]), json.dumps(fields["after"]), reason, outcome,
                fields["prev_hash"], fields["hash"], identity,
            ),
        )
        return AuditEvent.model_validate(fields)

    def audit_rows(self, since_seq: int = 0, since_time: str | None = None) -> list[dict[str, Any]]:
        """Raw events in order, as plain dicts (the form the hash is computed over)."""
        query = "SELECT * FROM audit WHERE seq > ?"
        args: list[Any] = [since_seq]
        if since_time:
            query += " AND time >= ?"
            args.append(since_time)
        rows = self.db.execute(query + " ORDER BY seq", args)
        return [
            {**dict(r), "before": json.loads(r["before"]), "after": json.loads(r["after"])} for r in rows
        ]
