"""The engine's policy, proposal/approval and release-record calls (console/engine/release_api.py),
mixed into EngineClient (`ReleaseCalls`) and EngineBackend (`ReleaseBackendCalls`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from console.backends.base import Invalid
from console.domain.approvals import ChangeProposal, ProposalState
from console.domain.endpoint_policy import EndpointPolicy
from console.domain.guards import Verdict
from console.domain.models import EndpointStatus
from console.domain.records import ReleaseRecord

M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], raw: Any, what: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(f"the engine's {what} is not in the expected shape: {exc.errors()[0]}") from exc


def _when(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class ReleaseCalls:
    """Needs `request(method, path, **kwargs)` (EngineClient's)."""

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def policy(self, endpoint: str) -> EndpointPolicy | None:
        """The endpoint's stored policy; None: it has none and the defaults (EndpointPolicy()) apply."""
        raw = self.request("GET", f"/v1/endpoints/{endpoint}/policy")
        stored = raw.get("policy") if isinstance(raw, dict) else None
        return None if stored is None else _model(EndpointPolicy, stored, "policy")

    def set_policy(self, endpoint: str, policy: EndpointPolicy | None) -> EndpointStatus:
        """Replace the endpoint's policy, or clear it with None (audited with before and after)."""
        body = b"null" if policy is None else policy.model_dump_json().encode()
        raw = self.request("PUT", f"/v1/endpoints/{endpoint}/policy", content=body,
                           headers={"Content-Type": "application/json"})
        return _model(EndpointStatus, raw, "endpoint")

    def propose(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int] | None = None, *,
                revision: int, reason: str = "", expires_in_s: float | None = None,
                verdicts: Iterable[Verdict] = ()) -> ChangeProposal:
        body: dict[str, Any] = {"traffic": traffic, "mirror": mirror or {}, "revision": revision, "reason": reason,
                                "verdicts": [v.model_dump(mode="json") for v in verdicts]}
        if expires_in_s is not None:
            body["expires_in_s"] = expires_in_s
        return _model(ChangeProposal, self.request("POST", f"/v1/endpoints/{endpoint}/proposals", json=body),
                      "proposal")

    def proposals(self, state: ProposalState | str | None = None, endpoint: str | None = None
                  ) -> list[ChangeProposal]:
        params = {k: str(v) for k, v in (("state", state), ("endpoint", endpoint)) if v is not None}
        raw = self.request("GET", "/v1/proposals", params=params)
        if not isinstance(raw, list):
            raise Invalid(f"the engine answered {type(raw).__name__} where a list of proposals was expected")
        return [_model(ChangeProposal, item, "proposal") for item in raw]

    def proposal(self, proposal_id: int) -> ChangeProposal:
        return _model(ChangeProposal, self.request("GET", f"/v1/proposals/{proposal_id}"), "proposal")

    def approve(self, proposal_id: int, reason: str = "") -> tuple[ChangeProposal, EndpointStatus]:
        """Approve and apply; the approved proposal and the endpoint as it now stands."""
        raw = self.request("POST", f"/v1/proposals/{proposal_id}/approve", json={"reason": reason})
        if not isinstance(raw, dict):
            raise Invalid("the engine's approval answer is not an object")
        return _model(ChangeProposal, raw.get("proposal"), "proposal"), _model(EndpointStatus, raw.get("endpoint"),
                                                                                "endpoint")

    def reject(self, proposal_id: int, reason: str) -> ChangeProposal:
        raw = self.request("POST", f"/v1/proposals/{proposal_id}/reject", json={"reason": reason})
        return _model(ChangeProposal, raw, "proposal")

    def record(self, endpoint: str, since: str | datetime | None = None,
               until: str | datetime | None = None) -> ReleaseRecord:
        """The release record of `endpoint` from `since` (e.g. '1h', or a time) to `until` (default now)."""
        params = {k: v for k, v in (("since", _when(since)), ("until", _when(until))) if v is not None}
        return _model(ReleaseRecord, self.request("GET", f"/v1/endpoints/{endpoint}/record", params=params),
                      "release record")


class ReleaseBackendCalls:
    """Needs `_call(method, *args, **kwargs)` (EngineBackend's): each call re-finds the engine."""

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def policy(self, endpoint: str) -> EndpointPolicy | None:
        result: EndpointPolicy | None = self._call("policy", endpoint)
        return result

    def set_policy(self, endpoint: str, policy: EndpointPolicy | None) -> EndpointStatus:
        result: EndpointStatus = self._call("set_policy", endpoint, policy)
        return result

    def propose(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int] | None = None, *,
                revision: int, reason: str = "", expires_in_s: float | None = None,
                verdicts: Iterable[Verdict] = ()) -> ChangeProposal:
        result: ChangeProposal = self._call("propose", endpoint, traffic, mirror, revision=revision, reason=reason,
                                            expires_in_s=expires_in_s, verdicts=tuple(verdicts))
        return result

    def proposals(self, state: ProposalState | str | None = None, endpoint: str | None = None
                  ) -> list[ChangeProposal]:
        return list(self._call("proposals", state, endpoint))

    def approve(self, proposal_id: int, reason: str = "") -> tuple[ChangeProposal, EndpointStatus]:
        result: tuple[ChangeProposal, EndpointStatus] = self._call("approve", proposal_id, reason)
        return result

    def reject(self, proposal_id: int, reason: str) -> ChangeProposal:
        result: ChangeProposal = self._call("reject", proposal_id, reason)
        return result

    def record(self, endpoint: str, since: str | datetime | None = None,
               until: str | datetime | None = None) -> ReleaseRecord:
        result: ReleaseRecord = self._call("record", endpoint, since, until)
        return result

    # rollouts (EngineClient's calls): the rollout's JSON as the engine answers it
    def start_rollout(self, endpoint: str, plan_yaml: str, reason: str = "") -> dict[str, Any]:
        return dict(self._call("start_rollout", endpoint, plan_yaml, reason))

    def rollout(self, endpoint: str) -> dict[str, Any]:
        return dict(self._call("rollout", endpoint))

    def rollout_action(self, endpoint: str, action: str, reason: str = "") -> dict[str, Any]:
        return dict(self._call("rollout_action", endpoint, action, reason))

    def rollouts(self) -> list[dict[str, Any]]:
        return list(self._call("rollouts"))
