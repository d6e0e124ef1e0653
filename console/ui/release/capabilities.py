"""What a place must offer for the release tools (the local engine's EngineBackend does; a Kubernetes
place offers cluster approvals), and small helpers to find such places. Checked with isinstance, as
the SLO dialog does."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from console.domain.approvals import ChangeProposal
from console.domain.models import EndpointStatus
from console.domain.records import ReleaseRecord

if TYPE_CHECKING:
    from console.ui.controller import Console


@runtime_checkable
class SupportsApprovals(Protocol):
    def proposals(self, state: Any = None, endpoint: str | None = None) -> list[ChangeProposal]: ...

    def approve(self, proposal_id: int, reason: str = "") -> tuple[ChangeProposal, EndpointStatus]: ...

    def reject(self, proposal_id: int, reason: str) -> ChangeProposal: ...


@runtime_checkable
class SupportsRollouts(Protocol):
    def start_rollout(self, endpoint: str, plan_yaml: str, reason: str = "") -> dict[str, Any]: ...

    def rollout(self, endpoint: str) -> dict[str, Any]: ...

    def rollout_action(self, endpoint: str, action: str, reason: str = "") -> dict[str, Any]: ...


@runtime_checkable
class SupportsRecords(Protocol):
    """A release record is assembled from the place's proposals too (a Kubernetes place has a `record`, its audit
    log writer, and no proposals: it is not one)."""

    def record(self, endpoint: str, since: str | datetime | None = None,
               until: str | datetime | None = None) -> ReleaseRecord: ...

    def proposals(self, state: Any = None, endpoint: str | None = None) -> list[ChangeProposal]: ...


@runtime_checkable
class SupportsClusterApprovals(Protocol):
    """A Kubernetes place (KubernetesBackend): proposals stored on the route objects, read from the watch cache."""

    read_only: bool

    def cluster_identity(self) -> str: ...

    def route_proposals(self) -> list[dict[str, Any]]: ...

    def may_patch_route(self, kind: str, namespace: str, name: str = "") -> tuple[bool, str]: ...

    def route_split(self, kind: str, obj: dict[str, Any]) -> dict[str, int]: ...

    def decide_route_proposal(self, verb: str, kind: str, namespace: str, name: str, *, reason: str = "",
                              read: dict[str, Any] | None = None, endpoint: str | None = None) -> Any: ...


def place_name(console: Console, place_id: str) -> str:
    config = console.place(place_id)
    return config.name if config else place_id


def places_with(console: Console, capability: type) -> list[tuple[str, Any]]:
    """(place id, backend) of every monitored place whose backend offers `capability`."""
    return [(pid, m.backend) for pid, m in console.monitors.items() if isinstance(m.backend, capability)]
