"""Control API routes for policy, proposals and approvals, and release records.

    GET  /v1/endpoints/{name}/policy             {"endpoint", "policy": object|null, "effective": object}
    PUT  /v1/endpoints/{name}/policy             body: policy object, or null to clear → EndpointStatus
    POST /v1/endpoints/{name}/proposals          body: ProposeBody → 201 ChangeProposal
    GET  /v1/endpoints/{name}/proposals?state=   → [ChangeProposal]
    GET  /v1/proposals?state=&endpoint=          → [ChangeProposal]
    GET  /v1/proposals/{id}                      → ChangeProposal
    POST /v1/proposals/{id}/approve              body: {"reason"} → {"proposal", "endpoint": EndpointStatus}
    POST /v1/proposals/{id}/reject               body: {"reason"} (required) → ChangeProposal
    GET  /v1/endpoints/{name}/record?since=&until=&format=json|md  → ReleaseRecord (or Markdown)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from console.domain.approvals import DEFAULT_EXPIRY_S, MAX_EXPIRY_S, ChangeProposal, ProposalState
from console.domain.guards import Verdict
from console.domain.models import EndpointStatus, Split
from console.domain.records import parse_when, to_markdown
from console.engine.core import Engine
from console.engine.errors import EngineError
from console.engine.identity import CURRENT, IDENTITY_PATTERN, Caller
from console.engine.policies import policy_answer, set_policy

MAX_POLICY_BYTES = 64 * 1024


class ProposeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    traffic: dict[str, StrictInt]
    mirror: dict[str, StrictInt] = Field(default_factory=dict)
    revision: StrictInt = Field(ge=1, description="the endpoint revision the proposal was made on")
    reason: str = Field(default="", max_length=2000)
    expires_in_s: float = Field(default=DEFAULT_EXPIRY_S, ge=1, le=MAX_EXPIRY_S)
    verdicts: list[Verdict] = Field(default_factory=list, max_length=50,
                                    description="the guards' verdicts the proposer reviewed, for the record")


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


async def caller_of(
    x_actor: Annotated[str | None, Header(max_length=200)] = None,
    x_switchboard_identity: Annotated[str | None, Header(pattern=IDENTITY_PATTERN)] = None,
) -> Caller:
    CURRENT.set(x_switchboard_identity)
    return Caller(x_actor or "api", x_switchboard_identity)


Who = Annotated[Caller, Depends(caller_of)]
ProposalId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the proposal's number")]  # SQLite's INTEGER
StateQuery = Annotated[ProposalState | None, Query(description="pending, approved, rejected, expired or stale")]


def _when(text: str | None, default: datetime, now: datetime, name: str) -> datetime:
    if text is None or not text.strip():
        return default
    try:
        return parse_when(text, now)
    except ValueError as exc:
        raise EngineError(422, f"{name}: {exc}", problems=[f"{name}: {exc}"]) from None


def add_release_routes(app: FastAPI, engine: Engine) -> None:
    @app.get("/v1/endpoints/{name}/policy")
    async def get_policy(name: str) -> dict[str, Any]:
        return policy_answer(engine, name)

    @app.put("/v1/endpoints/{name}/policy")
    async def put_policy(name: str, request: Request, who: Who) -> EndpointStatus:
        raw = await request.body()
        if len(raw) > MAX_POLICY_BYTES:
            raise EngineError(413, f"a policy body is at most {MAX_POLICY_BYTES} bytes")
        await set_policy(engine, name, raw, who.actor)
        return engine.endpoint(name)

    @app.post("/v1/endpoints/{name}/proposals", status_code=201)
    async def propose(name: str, body: ProposeBody, who: Who) -> ChangeProposal:
        after = Split(traffic=body.traffic, mirror=body.mirror)
        return await engine.approvals.propose(name, after, body.revision, body.reason, body.expires_in_s,
                                              body.verdicts, who)

    @app.get("/v1/endpoints/{name}/proposals")
    async def endpoint_proposals(name: str, state: StateQuery = None) -> list[ChangeProposal]:
        engine.endpoint(name)
        return engine.approvals.find(state, name)

    @app.get("/v1/proposals")
    async def proposals(state: StateQuery = None,
                        endpoint: Annotated[str | None, Query(max_length=63)] = None) -> list[ChangeProposal]:
        return engine.approvals.find(state, endpoint)

    @app.get("/v1/proposals/{proposal_id}")
    async def proposal(proposal_id: ProposalId) -> ChangeProposal:
        return engine.approvals.get(proposal_id)

    @app.post("/v1/proposals/{proposal_id}/approve")
    async def approve(proposal_id: ProposalId, who: Who, body: DecisionBody | None = None) -> dict[str, Any]:
        done = await engine.approvals.approve(proposal_id, (body or DecisionBody()).reason, who)
        return {"proposal": done.model_dump(mode="json"),
                "endpoint": engine.endpoint(done.endpoint).model_dump(mode="json")}

    @app.post("/v1/proposals/{proposal_id}/reject")
    async def reject(proposal_id: ProposalId, who: Who, body: DecisionBody | None = None) -> ChangeProposal:
        return await engine.approvals.reject(proposal_id, (body or DecisionBody()).reason, who)

    @app.get("/v1/endpoints/{name}/record", response_model=None)
    async def record(
        name: str,
        since: Annotated[str | None, Query(max_length=64, description="1h, 30m, 2d or ISO 8601 with zone")] = None,
        until: Annotated[str | None, Query(max_length=64)] = None,
        format: Annotated[Literal["json", "md"], Query()] = "json",
    ) -> Response:
        now = datetime.now(UTC)
        start = _when(since, parse_when("24h", now), now, "since")
        end = _when(until, now, now, "until")
        made = engine.records.record(name, start, end)
        if format == "md":
            return PlainTextResponse(to_markdown(made), media_type="text/markdown; charset=utf-8")
        return JSONResponse(made.model_dump(mode="json"))
