"""Control API: HTTP + JSON on loopback, every route behind the engine's bearer token."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import __version__
from console.domain.audit import first_broken
from console.domain.models import DeploymentStatus, EndpointStatus, Revision
from console.domain.specs import KINDS, SpecError, parse_specs
from console.engine.core import Engine, EngineError
from console.engine.identity import CURRENT, IDENTITY_PATTERN
from console.engine.release_api import add_release_routes
from console.engine.rollout_api import add_rollout_routes

HEARTBEAT_SECONDS = 15.0
MAX_SLO_BYTES = 64 * 1024


class TrafficBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    traffic: dict[str, StrictInt]
    mirror: dict[str, StrictInt] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=2000)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_revision: StrictInt | None = Field(default=None, ge=1)
    reason: str = Field(default="", max_length=2000)


class ApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    specs: list[dict[str, Any]] | None = None
    yaml: str | None = Field(default=None, max_length=1024 * 1024)
    base_dir: str | None = Field(default=None, description="folder that relative model paths start from")


class DeleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


async def actor_of(
    x_actor: Annotated[str | None, Header(max_length=200)] = None,
    x_switchboard_identity: Annotated[str | None, Header(pattern=IDENTITY_PATTERN)] = None,
) -> str:
    """The caller's actor; its identity goes to every audit event this request writes (async: it
    runs in the request's own task, where the endpoint runs, so the context variable carries)."""
    CURRENT.set(x_switchboard_identity)
    return x_actor or "api"


Actor = Annotated[str, Depends(actor_of)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=100)]


def build_app(engine: Engine, token: str, info: dict[str, Any]) -> FastAPI:
    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        supplied = (authorization or "").removeprefix("Bearer ").encode()
        if not authorization or not authorization.startswith("Bearer ") or not hmac.compare_digest(
            supplied, token.encode()
        ):
            raise EngineError(401, "missing or wrong bearer token (see the engine's state dir: token)")

    app = FastAPI(
        title="Switchboard engine control API", version=__version__, docs_url=None, redoc_url=None,
        openapi_url=None, dependencies=[Depends(require_token)],
    )

    @app.exception_handler(EngineError)
    async def _engine_error(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse({"error": exc.message, **exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "; ".join(problems), "problems": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/v1/engine")
    async def engine_info() -> dict[str, Any]:
        return {**info, **engine.engine_info()}

    @app.get("/v1/endpoints")
    async def endpoints() -> list[EndpointStatus]:
        return [engine.endpoint(n) for n in engine.endpoint_names()]

    @app.get("/v1/endpoints/{name}")
    async def endpoint(name: str) -> EndpointStatus:
        return engine.endpoint(name)

    @app.get("/v1/endpoints/{name}/revisions")
    async def revisions(name: str) -> list[Revision]:
        return engine.revisions(name)

    @app.get("/v1/endpoints/{name}/keys")
    async def keys(name: str) -> dict[str, str]:
        return {"endpoint": name, "key": engine.key(name)}

    @app.put("/v1/endpoints/{name}/traffic")
    async def set_traffic(name: str, body: TrafficBody, actor: Actor, if_match: IfMatch = None) -> EndpointStatus:
        return await engine.set_traffic(name, if_match, body.traffic, body.mirror, body.reason, actor)

    @app.put("/v1/endpoints/{name}/slo")
    async def set_slo(name: str, request: Request, actor: Actor) -> EndpointStatus:
        raw = await request.body()
        if len(raw) > MAX_SLO_BYTES:
            raise EngineError(413, f"an SLO body is at most {MAX_SLO_BYTES} bytes")
        return await engine.set_slo(name, raw, actor)

    @app.post("/v1/endpoints/{name}/rollback")
    async def rollback(
        name: str, actor: Actor, if_match: IfMatch = None, body: RollbackBody | None = None
    ) -> EndpointStatus:
        body = body or RollbackBody()
        return await engine.rollback(name, if_match, body.to_revision, body.reason, actor)

    @app.get("/v1/deployments")
    async def deployments() -> list[DeploymentStatus]:
        return [d.status() for _, d in sorted(engine.supervisor.deployments.items())]

    @app.get("/v1/deployments/{name}")
    async def deployment(name: str) -> DeploymentStatus:
        return engine.deployment(name)

    @app.delete("/v1/deployments/{name}")
    async def delete(name: str, actor: Actor, body: DeleteBody | None = None) -> dict[str, str]:
        await engine.delete_deployment(name, actor, (body or DeleteBody()).reason)
        return {"deleted": name}

    @app.post("/v1/apply")
    async def apply(body: ApplyBody, actor: Actor) -> dict[str, list[str]]:
        base = Path(body.base_dir) if body.base_dir else None
        if base is not None and not base.is_absolute():
            raise EngineError(422, f"base_dir must be an absolute path, got {body.base_dir!r}")
        try:
            if body.yaml is not None:
                specs = parse_specs(body.yaml, "request")
            elif body.specs:
                specs = parse_specs(yaml.safe_dump_all(body.specs, sort_keys=False), "request")
            else:
                raise EngineError(422, f"send 'yaml' or a non-empty 'specs' list (kinds: {sorted(KINDS)})")
        except SpecError as exc:
            raise EngineError(422, "; ".join(exc.problems), problems=exc.problems) from None
        return await engine.apply(specs, actor, base)

    @app.get("/v1/audit")
    async def audit(since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> list[dict[str, Any]]:
        return engine.store.audit_rows(since)

    @app.get("/v1/audit/verify")
    async def audit_verify() -> dict[str, Any]:
        rows = engine.store.audit_rows()
        broken = first_broken(rows)
        return {
            "ok": broken is None, "events": len(rows),
            "first_broken": broken[0] if broken else None, "why": broken[1] if broken else None,
        }

    @app.get("/v1/deployments/{name}/logs", response_model=None)
    async def logs(
        name: str,
        tail: Annotated[int, Query(ge=0, le=5000)] = 100,
        follow: bool = False,
        replica: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        engine.deployment(name)
        lines = [ln.render() + "\n" for ln in engine.logs.tail(name, tail, replica)]
        if not follow:
            return PlainTextResponse("".join(lines))

        async def stream() -> AsyncIterator[str]:
            queue = engine.logs.subscribe(name)
            try:
                if lines:
                    yield "".join(lines)
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                    except TimeoutError:
                        continue
                    # A busy log goes out in one chunk per 20 ms, not one per line: a reader at
                    # 10,000 lines a second then parses a few dozen chunks a second, not 10,000.
                    await asyncio.sleep(0.02)
                    batch = [item] + [queue.get_nowait() for _ in range(queue.qsize())]
                    text = "".join(ln.render() + "\n" for ln in batch if replica is None or ln.source == replica)
                    if text:
                        yield text
            finally:
                engine.logs.unsubscribe(name, queue)

        return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")

    @app.get("/v1/telemetry/stream", response_model=None)
    async def telemetry(history: Annotated[float, Query(ge=0, le=3600)] = 0) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            queue = engine.telemetry.subscribe()
            try:
                for sample in engine.telemetry.recent(history) if history else []:
                    yield f"event: sample\ndata: {json.dumps(sample)}\n\n"
                yield ": live\n\n"
                while True:
                    try:
                        sample = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        continue
                    yield f"event: sample\ndata: {json.dumps(sample)}\n\n"
            finally:
                engine.telemetry.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    add_release_routes(app, engine)  # policy, proposals and approvals, release records
    add_rollout_routes(app, engine, Actor)  # progressive rollouts run by the engine

    @app.get("/metrics", response_model=None)
    async def metrics() -> Response:
        return Response(generate_latest(engine.telemetry.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app

