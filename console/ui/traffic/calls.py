"""The engine calls of the traffic controls, run on TaskRunner workers (never the GUI thread).

EngineBackend finds its engine again after a restart (`_call` re-reads engine.json when a call
failed); these functions go through it so that a change sent after a restart reaches the new
engine. They raise the typed BackendErrors of console/backends/base.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from console.backends.base import Invalid, NotFound, NotSupported
from console.backends.engine import EngineBackend
from console.domain.approvals import ChangeProposal
from console.domain.guards import Verdict
from console.domain.models import AuditEvent, EndpointStatus, Revision


@dataclass(frozen=True)
class Change:
    """One change as confirmed by a person: a shift, a rollback, or a proposal for approval."""

    place_id: str
    endpoint: str
    kind: str  # shift | rollback | propose
    revision: int  # the revision it was made on: sent as If-Match
    before: dict[str, int]
    traffic: dict[str, int]  # the split it asks for (a rollback: the split it restores)
    mirror_before: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    to_revision: int | None = None  # a rollback's target revision (None: the one before the latest)
    verdicts: tuple[Verdict, ...] = ()
    clicked: float = 0.0  # time.perf_counter() of the click on confirm

    def describe(self) -> str:
        what = {"shift": "traffic change", "rollback": "rollback", "propose": "proposal"}.get(self.kind, self.kind)
        target = f" to revision {self.to_revision}" if self.kind == "rollback" and self.to_revision else ""
        return f"{what}{target} of {self.endpoint} (made on revision {self.revision})"


@dataclass(frozen=True)
class EndpointRead:
    """An endpoint, its history and any rollout under way, as read at `read_at` (epoch seconds)."""

    status: EndpointStatus
    revisions: tuple[Revision, ...]
    read_at: float
    rollout: dict[str, Any] | None = None  # the active rollout's JSON, None when none is under way


def engine_of(backend: object) -> EngineBackend:
    if not isinstance(backend, EngineBackend):
        raise NotSupported("traffic changes from the console work on the local engine (this place is not one)")
    return backend


def read_endpoint(backend: object, endpoint: str, with_rollout: bool = True) -> EndpointRead:
    engine = engine_of(backend)
    status: EndpointStatus = engine._call("endpoint", endpoint)
    read_at = time.time()
    revisions = tuple(engine.revisions(endpoint))
    rollout: dict[str, Any] | None = None
    if with_rollout:
        try:
            found = engine._call("rollout", endpoint)
            rollout = found if isinstance(found, dict) and found.get("active") else None
        except NotFound:
            rollout = None
    return EndpointRead(status, revisions, read_at, rollout)


def send(backend: object, change: Change) -> EndpointStatus | ChangeProposal:
    """Send `change` with If-Match on its revision; the endpoint as it now stands (or the proposal)."""
    engine = engine_of(backend)
    if change.kind == "propose":
        return engine.propose(change.endpoint, change.traffic, change.mirror, revision=change.revision,
                              reason=change.reason, verdicts=change.verdicts)
    if change.kind == "rollback":
        raw = engine._call("rollback", change.endpoint, if_match=change.revision, to_revision=change.to_revision,
                           reason=change.reason)
        try:
            return EndpointStatus.model_validate(raw)
        except ValueError as exc:
            raise Invalid(f"the engine's answer to the rollback of {change.endpoint} is not an endpoint: {exc}") \
                from exc
    result: EndpointStatus = engine._call("set_traffic", change.endpoint, change.traffic, change.mirror,
                                          if_match=change.revision, reason=change.reason)
    return result


def conflict_details(backend: object, endpoint: str, since_revision: int) -> tuple[EndpointRead, list[AuditEvent]]:
    """The endpoint now, and the audit events of the changes made to it after `since_revision`."""
    read = read_endpoint(backend, endpoint, with_rollout=True)
    newer = [r for r in read.revisions if r.number > since_revision]
    events: list[AuditEvent] = []
    if newer:
        first = min(r.time for r in newer)
        events = [e for e in engine_of(backend).audit(0) if e.endpoint == endpoint and e.time >= first
                  and e.action.startswith(("traffic.", "rollout.", "proposal."))]
    return read, events


def rollout_abort(backend: object, endpoint: str, reason: str) -> dict[str, Any]:
    result: dict[str, Any] = engine_of(backend)._call("rollout_action", endpoint, "abort", reason)
    return result
