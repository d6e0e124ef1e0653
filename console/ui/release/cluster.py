"""Proposals stored on Kubernetes route objects (the `switchboard.dev/proposal` annotation, see
console/backends/kubernetes/history.py), as rows of the approvals dock, and the words for the cluster's
refusals.

They are read from the place's watch cache (so a proposal made by another console appears as soon as the watch
delivers it); the cluster decides who may approve (patch permission on the route, RBAC) and refuses a proposal
that expired, one made by the approver, and one whose route changed since it was made.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.backends.base import BackendError, Conflict, Forbidden, Invalid, NotFound
from console.ui.models.tables import split_text, when
from console.ui.release.capabilities import SupportsClusterApprovals

EPOCH = datetime.fromtimestamp(0, UTC)


def _moment(value: Any, fallback: Any = None) -> datetime:
    """An ISO 8601 time (or seconds since the epoch) of the annotation; the epoch when unreadable."""
    if isinstance(fallback, int | float):
        return datetime.fromtimestamp(float(fallback), UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return EPOCH


@dataclass(frozen=True, eq=False)
class ClusterProposal:
    """A pending proposal on a route of a connected Kubernetes place, as the watch cache holds it."""

    place_id: str
    place: str  # the context's name: the cluster, as the person knows it
    endpoint: str  # namespace/name (the inventory's display name)
    kind: str
    namespace: str
    name: str
    identity: str  # this console's identity at the cluster (the context's user)
    proposer: str = ""
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)  # the route's split now
    reason: str = ""
    created: datetime = EPOCH
    expires: datetime = EPOCH
    resource_version: str = ""  # of the route when the proposal was made
    route: dict[str, Any] = field(default_factory=dict)  # the route as read: the approval's precondition
    error: str = ""  # an unreadable annotation

    @classmethod
    def of(cls, place_id: str, place: str, identity: str, entry: dict[str, Any]) -> ClusterProposal:
        p = entry.get("proposal") or {}
        return cls(place_id, place, entry["endpoint"], entry["kind"], entry["namespace"], entry["name"], identity,
                   proposer=str(p.get("proposer", "?")), before=dict(p.get("before") or {}),
                   after=dict(p.get("after") or {}), live=dict(entry.get("split") or {}),
                   reason=str(p.get("reason", "")), created=_moment(p.get("created")),
                   expires=_moment(p.get("expires"), p.get("expires_at")),
                   resource_version=str(p.get("resourceVersion", "")), route=entry["object"],
                   error=str(entry.get("error") or ""))

    # the row's fields, as PlacedProposal has them
    @property
    def key(self) -> tuple[str, str]:
        return self.place_id, f"{self.kind} {self.namespace}/{self.name}"

    @property
    def label(self) -> str:
        return self.kind

    @property
    def where(self) -> str:
        return f"{self.place}/{self.namespace}/{self.name}"

    @property
    def change(self) -> str:
        if self.error:
            return self.error
        return f"{split_text(self.before) or 'no live traffic'} → {split_text(self.after) or 'no live traffic'}"

    @property
    def mine(self) -> bool:
        return self.proposer == self.identity

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires <= (now or datetime.now(UTC))

    @property
    def changed(self) -> bool:
        """The route's split is no longer the one the proposal was made on."""
        return bool(self.live) and self.live != self.before


def read_places(places: list[tuple[str, str, SupportsClusterApprovals]]) -> dict[str, list[ClusterProposal]]:
    """On a worker: the proposals in each place's watch cache (none for a place not yet connected)."""
    found: dict[str, list[ClusterProposal]] = {}
    for place_id, name, backend in places:
        entries = backend.route_proposals()
        identity = backend.cluster_identity() if entries else ""
        found[place_id] = [ClusterProposal.of(place_id, name, identity, e) for e in entries]
    return found


def permission_text(item: ClusterProposal, missing: str) -> str:
    return f"the cluster does not allow {missing} (for {item.identity or 'this identity'} at {item.place})"


def refusal_text(item: ClusterProposal, error: BaseException, now_split: dict[str, int] | None) -> str:
    """The cluster's refusal in the person's words."""
    text = str(error)
    if isinstance(error, Conflict):
        now = split_text(now_split) if now_split else ""
        return (f"the route changed since the proposal (Conflict): it is now {now or 'unknown'}; the proposal was "
                f"made on {split_text(item.before) or 'no live traffic'}. The proposal must be made again. "
                f"({text})")
    if isinstance(error, Forbidden) and "proposed this change" in text:
        return f"you proposed it yourself ({item.identity}): another identity must approve it"
    if isinstance(error, Forbidden) and "does not allow" in text:
        return text[text.index("the cluster does not allow"):]
    if isinstance(error, Invalid) and "expired" in text:
        return f"the proposal expired at {when(item.expires)} ({text})"
    if isinstance(error, NotFound):
        return f"the proposal is no longer there: {text}"
    return text if isinstance(error, BackendError) else f"{error.__class__.__name__}: {text}"


def details_html(item: ClusterProposal, now: datetime, permission: str) -> str:
    if item.error:
        return f"<p><b>{html.escape(item.where)}</b>: {html.escape(item.error)}</p>"
    expired = item.expired(now)
    mine = " (you)" if item.mine else ""
    live = html.escape(split_text(item.live) or "no live traffic")
    rows = [("Proposal", f"{html.escape(item.kind)} <b>{html.escape(item.where)}</b>"),
            ("Proposer", html.escape(item.proposer + mine)),
            ("Made on", f"resourceVersion {html.escape(item.resource_version)} of the route"),
            ("Before", html.escape(split_text(item.before) or "no live traffic")),
            ("After", f"<b>{html.escape(split_text(item.after) or 'no live traffic')}</b>"),
            ("Live now", f"<span style='color:#c0392b'>changed since the proposal: {live}</span>"
             if item.changed else live),
            ("Reason", html.escape(item.reason or "(none given)")),
            ("Created", when(item.created)),
            ("Expires", f"{when(item.expires)} " + ("<b style='color:#c0392b'>(expired)</b>" if expired else ""))]
    table = "".join(f"<tr><td><i>{k}</i>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
    who = f"<p><i>You are {html.escape(item.identity)} at {html.escape(item.place)}. {html.escape(permission)}</i></p>"
    return f"<table>{table}</table>{who}"
