"""Control API routes of progressive rollouts (the runner: console/engine/rollouts.py).

    POST /v1/endpoints/{name}/rollout           {"yaml": "..."} or {"plan": {...}}, "reason"  → the rollout
    GET  /v1/endpoints/{name}/rollout           the active rollout, else the last one         → the rollout
    POST /v1/endpoints/{name}/rollout/{action}  pause|resume|approve|abort|promote, {"reason"} → the rollout
    GET  /v1/rollouts                           the latest rollout of each endpoint that had one

No `from __future__ import annotations` here: the routes are declared inside a function, and
FastAPI reads their annotations (the server's Actor dependency among them) as objects.
"""

from typing import Annotated, Any

from fastapi import Body, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from console.domain.rollout_plan import MAX_PLAN_BYTES
from console.engine.core import Engine
from console.engine.errors import EngineError


class RolloutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str | None = Field(default=None, max_length=MAX_PLAN_BYTES, description="the plan as YAML")
    plan: dict[str, Any] | None = Field(default=None, description="the plan as JSON (endpoint: this one)")
    reason: str = Field(default="", max_length=2000)


class RolloutActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


def add_rollout_routes(app: FastAPI, engine: Engine, actor: Any) -> None:
    """`actor` is the server's Actor dependency (Annotated[str, Depends(actor_of)])."""
    rollouts = engine.rollouts

    @app.post("/v1/endpoints/{name}/rollout")
    async def start_rollout(name: str, body: RolloutBody, who: actor) -> dict[str, Any]:
        if (body.yaml is None) == (body.plan is None):
            raise EngineError(422, "send the plan as 'yaml' (text) or as 'plan' (an object), not both or neither",
                              problems=["body: send 'yaml' or 'plan'"])
        return await rollouts.begin(name, body.yaml if body.yaml is not None else body.plan or {}, who, body.reason)

    @app.get("/v1/endpoints/{name}/rollout")
    async def rollout_status(name: str) -> dict[str, Any]:
        return rollouts.status(name)

    @app.post("/v1/endpoints/{name}/rollout/{action}")
    async def rollout_action(
        name: str, action: str, who: actor,
        body: Annotated[RolloutActionBody | None, Body()] = None,
    ) -> dict[str, Any]:
        return await rollouts.act(name, action, who, (body or RolloutActionBody()).reason)

    @app.get("/v1/rollouts")
    async def all_rollouts() -> list[dict[str, Any]]:
        return rollouts.statuses()
