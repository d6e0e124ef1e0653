"""An endpoint's policy on the engine: read, replaced (PUT) or cleared, every change audited
with the policy before and after, every refusal audited too."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from console.domain.endpoint_policy import EndpointPolicy
from console.engine.errors import parse_object_or_null

if TYPE_CHECKING:
    from console.engine.core import Engine

NO_POLICY_BODY = ("send a policy object (steps, max_step, bake_s, freshness_s, min_requests, "
                  "max_utilization_percent, production, approval_required, approvers), or null to clear it")


def parse_policy(raw: bytes) -> EndpointPolicy | None:
    """A PUT body: a policy object as JSON, or null to clear it (the defaults apply)."""
    return parse_object_or_null(raw, EndpointPolicy, NO_POLICY_BODY)


def _attempt(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:2000].decode(errors="replace")


def effective_policy(engine: Engine, endpoint: str) -> EndpointPolicy:
    """The endpoint's policy, or the defaults where it has none."""
    engine.endpoint(endpoint)
    return engine._endpoints[endpoint][0].policy or EndpointPolicy()


def policy_answer(engine: Engine, endpoint: str) -> dict[str, Any]:
    """GET /v1/endpoints/{name}/policy."""
    stored = engine.endpoint(endpoint).policy
    return {
        "endpoint": endpoint,
        "policy": stored.model_dump(mode="json") if stored else None,
        "effective": (stored or EndpointPolicy()).model_dump(mode="json"),
    }


async def set_policy(engine: Engine, endpoint: str, raw: bytes, actor: str) -> None:
    """Replace (a policy object) or clear (null) the endpoint's policy."""
    async with engine.lock:
        with engine._audit_refusal(actor, "endpoint.policy", endpoint, None, _attempt(raw), ""):
            engine.endpoint(endpoint)
            policy = parse_policy(raw)
            spec = engine._endpoints[endpoint][0]
            if spec.policy == policy:
                return
            with engine.store.transaction() as db:
                engine.store.put_endpoint(db, spec.model_copy(update={"policy": policy}))
                engine.store.append_audit(
                    db, actor, "endpoint.policy", "ok", endpoint=endpoint,
                    before=spec.policy.model_dump(mode="json") if spec.policy else None,
                    after=policy.model_dump(mode="json") if policy else None,
                )
            engine._endpoints = engine.store.endpoints()
