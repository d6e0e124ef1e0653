"""Figures before and after each change of a split, and release records.

When a revision commits, the engine stores what each deployment of the endpoint served over
the window before it (from its telemetry history), and schedules the window after it: once
that window has passed, `tick` stores its figures too (cut short by the next revision). Both
live in the state database (table `change_figures`), so records survive a restart.

The window is the endpoint's SLO window (60 s without an SLO); the environment variable
SWITCHBOARD_RECORD_WINDOW_S (1..3600 seconds) sets it for every endpoint, e.g. in tests.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.domain.approvals import ProposalState
from console.domain.models import Revision, Split
from console.domain.policy import summarize
from console.domain.records import RecordChange, RecordEvent, ReleaseRecord, WindowFigures
from console.domain.telemetry import Sample
from console.engine.errors import EngineError

if TYPE_CHECKING:
    from console.engine.core import Engine

SCHEMA = """
CREATE TABLE IF NOT EXISTS change_figures (
    endpoint TEXT NOT NULL, revision INTEGER NOT NULL, phase TEXT NOT NULL, start TEXT NOT NULL, due TEXT NOT NULL,
    body TEXT, PRIMARY KEY (endpoint, revision, phase));
"""
WINDOW_ENV = "SWITCHBOARD_RECORD_WINDOW_S"
DEFAULT_WINDOW_S = 60.0
SAMPLE_FIELDS = ("time", "endpoint", "deployment", "mirror", "requests", "errors_4xx", "errors_5xx", "latency_ms")


def window_override() -> float | None:
    text = os.environ.get(WINDOW_ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{WINDOW_ENV}={text!r} is not a number of seconds") from None
    if not 1 <= value <= 3600:
        raise ValueError(f"{WINDOW_ENV} must be 1..3600 seconds, got {text}")
    return value


class Records:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.store.db.executescript(SCHEMA)
        self.override = window_override()
        self.started = datetime.now(UTC)

    def window_s(self, endpoint: str) -> float:
        if self.override is not None:
            return self.override
        spec = self.engine._endpoints.get(endpoint)
        slo = spec[0].slo if spec else None
        return float(slo.window_s) if slo is not None else DEFAULT_WINDOW_S

    # -- measuring -------------------------------------------------------------------

    def figures(self, endpoint: str, start: datetime, end: datetime) -> WindowFigures:
        """What each deployment of `endpoint` served in (start, end], from telemetry history."""
        first, last = start.timestamp(), end.timestamp()
        by_deployment: dict[str, list[Sample]] = defaultdict(list)
        for raw in self.engine.telemetry.recent(time.time() - first + 1):
            if raw["endpoint"] == endpoint and first < raw["time"] <= last:
                by_deployment[raw["deployment"]].append(
                    Sample.model_validate({k: raw[k] for k in SAMPLE_FIELDS if k in raw}))
        found = {name: fig for name, samples in sorted(by_deployment.items())
                 if (fig := summarize(samples, last, last - first)) is not None}
        note = ""
        if start < self.started:
            note = "the engine started during this window: figures cover only what it saw"
        if not found:
            note = note or "no telemetry in this window"
        return WindowFigures(start=start, end=end, deployments=found, note=note)

    def changed(self, db: sqlite3.Connection, revision: Revision) -> None:
        """A revision committed (in `db`'s transaction): store the window before it, schedule the one after."""
        window = timedelta(seconds=self.window_s(revision.endpoint))
        at = revision.time
        before = self.figures(revision.endpoint, at - window, at)
        db.execute("INSERT OR REPLACE INTO change_figures VALUES (?, ?, 'before', ?, ?, ?)",
                   (revision.endpoint, revision.number, (at - window).isoformat(), at.isoformat(),
                    before.model_dump_json()))
        db.execute("INSERT OR REPLACE INTO change_figures VALUES (?, ?, 'after', ?, ?, NULL)",
                   (revision.endpoint, revision.number, at.isoformat(), (at + window).isoformat()))

    def tick(self) -> None:
        """Store the figures of every after-window that has passed."""
        now = datetime.now(UTC)
        rows = self.store.db.execute(
            "SELECT endpoint, revision, start, due FROM change_figures WHERE phase = 'after' AND body IS NULL"
        ).fetchall()
        for row in rows:
            due = datetime.fromisoformat(row["due"])
            if due > now:
                continue
            start = datetime.fromisoformat(row["start"])
            following = self.store.db.execute(
                "SELECT number, time FROM revisions WHERE endpoint = ? AND number > ? ORDER BY number LIMIT 1",
                (row["endpoint"], row["revision"]),
            ).fetchone()
            end, note = due, ""
            if following is not None and datetime.fromisoformat(following["time"]) < due:
                end = datetime.fromisoformat(following["time"])
                note = f"cut short by revision {following['number']}"
            figures = self.figures(row["endpoint"], start, end)
            if note:
                figures = figures.model_copy(update={"note": "; ".join(n for n in (note, figures.note) if n)})
            with self.store.transaction() as db:
                db.execute("UPDATE change_figures SET body = ? WHERE endpoint = ? AND revision = ? AND phase = 'after'",
                           (figures.model_dump_json(), row["endpoint"], row["revision"]))

    # -- the record ----------------------------------------------------------------

    def _stored_figures(self, endpoint: str) -> dict[tuple[int, str], WindowFigures]:
        rows = self.store.db.execute(
            "SELECT revision, phase, body FROM change_figures WHERE endpoint = ? AND body IS NOT NULL", (endpoint,))
        return {(r["revision"], r["phase"]): WindowFigures.model_validate_json(r["body"]) for r in rows}

    def record(self, endpoint: str, since: datetime, until: datetime) -> ReleaseRecord:
        status = self.engine.endpoint(endpoint)
        if since > until:
            raise EngineError(422, f"the window is empty: since ({since.isoformat()}) is after until "
                              f"({until.isoformat()})", problems=["since: after until"])
        self.engine.approvals.settle()
        revisions = self.store.revisions(endpoint)
        figures = self._stored_figures(endpoint)
        proposals = self.engine.approvals.in_window(endpoint, since, until)
        by_revision = {p.applied_revision: p for p in self.engine.approvals.find(endpoint=endpoint)
                       if p.state is ProposalState.APPROVED and p.applied_revision is not None}
        identities = self._shift_identities(endpoint)
        changes, live_at_start = [], None
        previous: Revision | None = None
        for rev in revisions:
            proposal = by_revision.get(rev.number)
            change = RecordChange(
                revision=rev.number, time=rev.time, kind=rev.kind, actor=rev.actor,
                identity=identities.get(rev.number), reason=rev.reason,
                before=Split(traffic=previous.traffic, mirror=previous.mirror) if previous else None,
                after=Split(traffic=rev.traffic, mirror=rev.mirror), restores=rev.restores,
                proposal=proposal.id if proposal else None, proposer=proposal.proposer if proposal else None,
                approver=proposal.decided_by if proposal else None,
                verdicts=proposal.verdicts if proposal else (),
                figures_before=figures.get((rev.number, "before")), figures_after=figures.get((rev.number, "after")),
            )
            if rev.time < since:
                live_at_start = change
            elif rev.time <= until:
                changes.append(change)
            previous = rev
        return ReleaseRecord(
            endpoint=endpoint, since=since, until=until, generated=datetime.now(UTC),
            production=status.production, policy=status.policy, slo=status.slo, live_at_start=live_at_start,
            changes=tuple(changes), proposals=tuple(proposals), events=tuple(self._events(endpoint, since, until)),
        )

    def _audit(self, endpoint: str) -> list[dict[str, Any]]:
        rows = self.store.db.execute("SELECT * FROM audit WHERE endpoint = ? ORDER BY seq", (endpoint,))
        return [dict(r) for r in rows]

    def _shift_identities(self, endpoint: str) -> dict[int, str]:
        """revision number → the identity that made it, from the revisions' audit events."""
        out = {}
        for row in self._audit(endpoint):
            if row["action"].startswith("traffic.") and row["outcome"] == "ok" and row["identity"]:
                after = json.loads(row["after"]) if row["after"] else None
                if isinstance(after, dict) and isinstance(after.get("revision"), int):
                    out[after["revision"]] = row["identity"]
        return out

    def _events(self, endpoint: str, since: datetime, until: datetime) -> list[RecordEvent]:
        out = []
        for row in self._audit(endpoint):
            when = datetime.fromisoformat(row["time"])
            if since <= when <= until:
                out.append(RecordEvent(
                    seq=row["seq"], time=when, actor=row["actor"], identity=row["identity"], action=row["action"],
                    deployment=row["deployment"], outcome=row["outcome"], reason=row["reason"],
                    before=json.loads(row["before"]), after=json.loads(row["after"]),
                ))
        return out
