"""Pending proposals of every engine place and of every connected Kubernetes place: a poller on the
TaskRunner and the table model.

`ApprovalsWatcher` asks each place that keeps proposals for its pending ones every few seconds
(one call per place in flight at most), and reads the proposals on the route objects of the
Kubernetes places from their watch caches (console/ui/release/cluster.py).
`sig_proposals_changed` carries them all; a proposal seen for the first time that this console's
identity did not make is announced once (`sig_proposal_arrived`, and the `notify` callback:
messages and the tray).
A cluster proposal's identity is the context's user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from console.domain.approvals import ChangeProposal, ProposalState
from console.ui.models.tables import KeyedTableModel, split_text, when
from console.ui.release.capabilities import SupportsApprovals, SupportsClusterApprovals, place_name, places_with
from console.ui.release.cluster import ClusterProposal, read_places

if TYPE_CHECKING:
    from console.ui.controller import Console

POLL_MS = 3000


@dataclass(frozen=True)
class PlacedProposal:
    """A proposal and the place it waits at."""

    place_id: str
    place: str
    proposal: ChangeProposal

    @property
    def key(self) -> tuple[str, int]:
        return self.place_id, self.proposal.id

    # the row's fields, as ClusterProposal has them
    @property
    def label(self) -> int:
        return self.proposal.id

    @property
    def where(self) -> str:
        return self.proposal.endpoint

    @property
    def proposer(self) -> str:
        return self.proposal.proposer

    @property
    def change(self) -> str:
        p = self.proposal
        before, after = split_text(p.before.traffic), split_text(p.after.traffic)
        return f"{before or 'no live traffic'} → {after or 'no live traffic'}"

    @property
    def reason(self) -> str:
        return self.proposal.reason

    @property
    def created(self) -> datetime:
        return self.proposal.created

    @property
    def expires(self) -> datetime:
        return self.proposal.expires


Row = PlacedProposal | ClusterProposal


def expires_text(expires: datetime, now: datetime) -> str:
    left = (expires - now).total_seconds()
    if left <= 0:
        return "expired"
    if left < 120:
        return f"in {left:.0f} s"
    return f"in {left / 60:.0f} min" if left < 7200 else f"in {left / 3600:.1f} h"


def _expires_cell(row: Row) -> str:
    return when(row.expires) + (" (expired)" if row.expires <= datetime.now(UTC) else "")


class ProposalsTableModel(KeyedTableModel[Row]):
    columns = (
        ("Id", lambda p: p.label),
        ("Endpoint", lambda p: p.where),
        ("Proposer", lambda p: p.proposer),
        ("Split (before → after)", lambda p: p.change),
        ("Reason", lambda p: p.reason),
        ("Expires", _expires_cell),
        ("Place", lambda p: p.place),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(lambda p: p.key, parent)


class ApprovalsWatcher(QObject):
    sig_proposals_changed = Signal(object)  # list[PlacedProposal], every place's pending ones
    sig_proposal_arrived = Signal(object)  # PlacedProposal: new, and not made by this console
    sig_place_failed = Signal(str, str)  # place id, why its proposals could not be read

    def __init__(self, console: Console, notify: Callable[[str, str], None] | None = None,
                 interval_ms: int = POLL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self._notify = notify
        self.pending: dict[str, list[PlacedProposal]] = {}
        self.clusters: dict[str, list[ClusterProposal]] = {}
        self.errors: dict[str, str] = {}
        self._seen: set[tuple[str, Any]] = set()
        self._in_flight: set[str] = set()
        self.polls = 0  # answers handled, for tests and the dock's "updated" line
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self.timer.start()
        self.poll()

    def stop(self) -> None:
        self.timer.stop()

    def items(self) -> list[Row]:
        rows: list[Row] = [p for found in self.pending.values() for p in found]
        rows += [p for found in self.clusters.values() for p in found]
        return sorted(rows, key=lambda p: p.created)

    def _on_timer_timeout(self) -> None:
        self.poll()

    def poll(self) -> None:
        """Ask every place that keeps proposals for its pending ones now."""
        places = places_with(self.console, SupportsApprovals)
        for gone in set(self.pending) - {pid for pid, _ in places}:
            del self.pending[gone]
        for place_id, backend in places:
            if place_id in self._in_flight:
                continue
            self._in_flight.add(place_id)
            self.console.runner.submit(backend.proposals, ProposalState.PENDING.value,
                                       on_done=partial(self._on_place_read, place_id),
                                       on_error=partial(self._on_place_failed, place_id),
                                       name=f"pending proposals of {place_name(self.console, place_id)}")
        self._poll_clusters()

    def _poll_clusters(self) -> None:
        """Read the proposals on the routes of every Kubernetes place from its watch cache (on a worker)."""
        clusters = [(pid, place_name(self.console, pid), backend)
                    for pid, backend in places_with(self.console, SupportsClusterApprovals)]
        for gone in set(self.clusters) - {pid for pid, _n, _b in clusters}:
            del self.clusters[gone]
        if not clusters or "clusters" in self._in_flight:
            return
        self._in_flight.add("clusters")
        self.console.runner.submit(read_places, clusters, on_done=self._on_clusters_read,
                                   on_error=self._on_clusters_failed, name="proposals on cluster routes")

    def _on_clusters_read(self, found: dict[str, list[ClusterProposal]]) -> None:
        self._in_flight.discard("clusters")
        self.polls += 1
        self.errors.pop("clusters", None)
        self.clusters = {pid: rows for pid, rows in found.items() if rows}
        for rows in self.clusters.values():
            for item in rows:
                self._announce(item)
        self.sig_proposals_changed.emit(self.items())

    def _on_clusters_failed(self, error: BaseException) -> None:
        self._in_flight.discard("clusters")
        self.polls += 1
        self.errors["clusters"] = f"proposals on cluster routes: {error}"
        self.sig_place_failed.emit("clusters", self.errors["clusters"])

    def _announce(self, item: ClusterProposal) -> None:
        """A cluster proposal seen for the first time, made by someone else: notified once."""
        seen = (item.place_id, f"{item.key[1]} @{item.resource_version}")  # a new proposal on the route is news
        if seen in self._seen or item.error:
            return
        self._seen.add(seen)
        if item.mine:
            return
        self.sig_proposal_arrived.emit(item)
        if self._notify is not None:
            self._notify(f"Approval wanted: {item.kind} {item.where}",
                         f"{item.proposer} asks for {item.change} ({item.reason or 'no reason given'})")

    def _on_place_read(self, place_id: str, found: list[ChangeProposal]) -> None:
        self._in_flight.discard(place_id)
        self.polls += 1
        self.errors.pop(place_id, None)
        name = place_name(self.console, place_id)
        placed = [PlacedProposal(place_id, name, p) for p in found if p.state is ProposalState.PENDING]
        self.pending[place_id] = placed
        for item in placed:
            if item.key in self._seen:
                continue
            self._seen.add(item.key)
            if not self._mine(item.proposal):
                self.sig_proposal_arrived.emit(item)
                if self._notify is not None:
                    p = item.proposal
                    self._notify(f"Approval wanted: proposal {p.id} of {p.endpoint}",
                                 f"{p.proposer} asks for {split_text(p.after.traffic) or 'no live traffic'}"
                                 f" ({p.reason or 'no reason given'}) at {name}")
        self.sig_proposals_changed.emit(self.items())

    def _on_place_failed(self, place_id: str, error: BaseException) -> None:
        self._in_flight.discard(place_id)
        self.polls += 1
        self.errors[place_id] = f"{place_name(self.console, place_id)}: {error}"
        self.sig_place_failed.emit(place_id, self.errors[place_id])

    def _mine(self, proposal: ChangeProposal) -> bool:
        identity = self.console.identity
        return identity is not None and proposal.proposer_identity == identity
