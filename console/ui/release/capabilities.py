"""What a place must offer for the release tools (the local engine's EngineBackend does), and
small helpers to find such places. Checked with isinstance, as the SLO dialog does."""

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
    def record(self, endpoint: str, since: str | datetime | None = None,
               until: str | datetime | None = None) -> ReleaseRecord: ...


def place_name(console: Console, place_id: str) -> str:
    config = console.place(place_id)
    return config.name if config else place_id


def places_with(console: Console, capability: type) -> list[tuple[str, Any]]:
    """(place id, backend) of every monitored place whose backend offers `capability`."""
    return [(pid, m.backend) for pid, m in console.monitors.items() if isinstance(m.backend, capability)]
