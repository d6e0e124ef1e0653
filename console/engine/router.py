"""Data plane: weighted routing, pinning, mirroring, per-deployment latency recording.

Each endpoint has an immutable RouteTable; a traffic change builds a new table and swaps
the reference, so a request routes entirely by one revision and in-flight requests finish
where they started.
"""

from __future__ import annotations

import asyncio
import bisect
import hmac
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from console.engine.logs import LogHub
from console.engine.supervisor import Replica, Supervisor
from console.engine.telemetry import Telemetry

MAX_BODY = 10 * 1024 * 1024
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=5)
HOP_HEADERS = {"content-type", "accept"}


@dataclass(frozen=True)
class RouteTable:
    endpoint: str
    revision: int
    key: str
    names: tuple[str, ...]  # deployments with live weight, in order
    cumulative: tuple[int, ...]  # running sum of their weights (ends at 100)
    mirror: tuple[tuple[str, int], ...]
    members: frozenset[str]  # every deployment of the endpoint (for pinning)

    @classmethod
    def build(
        cls, endpoint: str, revision: int, key: str, traffic: dict[str, int], mirror: dict[str, int],
        members: set[str],
    ) -> RouteTable:
        names, cumulative, total = [], [], 0
        for name, weight in sorted(traffic.items()):
            if weight > 0:
                total += weight
                names.append(name)
                cumulative.append(total)
        return cls(
            endpoint, revision, key, tuple(names), tuple(cumulative),
            tuple((n, p) for n, p in sorted(mirror.items()) if p > 0), frozenset(members),
        )

    def choose(self, roll: float) -> str | None:
        """The deployment for a roll in [0, 100)."""
        if not self.names:
            return None
        return self.names[min(bisect.bisect_right(self.cumulative, roll), len(self.names) - 1)]


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class Router:
    def __init__(self, supervisor: Supervisor, telemetry: Telemetry, logs: LogHub) -> None:
        self.supervisor = supervisor
        self.telemetry = telemetry
        self.logs = logs
        self.tables: dict[str, RouteTable] = {}
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()

    def install(self, table: RouteTable) -> None:
        """Swap the endpoint's table in one assignment: the router now routes by it."""
        self.tables[table.endpoint] = table

    def applied_revision(self, endpoint: str) -> int:
        table = self.tables.get(endpoint)
        return table.revision if table else 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_too_large_as_json])
        app.router.add_route("*", "/endpoints/{endpoint}/{tail:.*}", self.handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def _close(self, _: web.Application) -> None:
        for task in list(self._background):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def pick_replica(replicas: list[Replica]) -> Replica | None:
        """Least outstanding requests; ties broken at random so load spreads."""
        if not replicas:
            return None
        low = min(r.outstanding for r in replicas)
        return random.choice([r for r in replicas if r.outstanding == low])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        table = self.tables.get(endpoint)
        if table is None:
            return _error(404, f"no endpoint named {endpoint!r}")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not hmac.compare_digest(auth[7:].encode(), table.key.encode()):
            return _error(401, "missing or wrong endpoint key (Authorization: Bearer KEY)")
        pinned = request.headers.get("x-deployment")
        if pinned:
            if pinned not in table.members:
                return _error(404, f"endpoint {endpoint!r} has no deployment {pinned!r}", deployment=pinned)
            name: str | None = pinned
        else:
            name = table.choose(random.random() * 100)
        if name is None:
            return _error(503, f"endpoint {endpoint!r} has no deployment with live traffic")
        body = await request.read()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        for mirror_name, percent in table.mirror:
            if random.random() * 100 < percent:
                task = asyncio.get_running_loop().create_task(
                    self._mirror(endpoint, mirror_name, request, body, request_id)
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        return await self._forward(endpoint, name, request, body, request_id)

    async def _send(
        self, endpoint: str, name: str, request: web.Request, body: bytes, request_id: str, mirror: bool
    ) -> tuple[int, bytes, dict[str, str], str]:
        dep = self.supervisor.deployments.get(name)
        replica = self.pick_replica(dep.routable()) if dep else None
        if dep is None or replica is None or replica.url is None:
            return 503, b"", {}, ""
        headers = {k: v for k, v in request.headers.items() if k.lower() in HOP_HEADERS}
        headers["x-request-id"] = request_id
        tail = request.match_info["tail"]
        replica.outstanding += 1
        self.telemetry.started(endpoint, name, mirror)
        start = time.perf_counter()
        status, data, out_headers = 502, b"", {}
        try:
            assert self._session is not None
            async with self._session.request(
                request.method, f"{replica.url}/{tail}", data=body, headers=headers,
                params=request.query, timeout=UPSTREAM_TIMEOUT,
            ) as resp:
                data = await resp.read()
                status = resp.status
                out_headers = {"Content-Type": resp.headers.get("Content-Type", "application/json")}
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = 504 if isinstance(exc, TimeoutError) else 502
            data = f'{{"error": "replica {replica.id} failed: {type(exc).__name__}", "deployment": "{name}"}}'.encode()
            out_headers = {"Content-Type": "application/json"}
        finally:
            replica.outstanding -= 1
            elapsed = time.perf_counter() - start
            self.telemetry.finished(endpoint, name, mirror, status, elapsed)
        prefix = "mirror " if mirror else ""
        self.logs.write(name, "router", f"{prefix}request {request_id} status {status} {elapsed * 1000:.1f}ms")
        return status, data, out_headers, replica.id

    async def _forward(
        self, endpoint: str, name: str, request: web.Request, body: bytes, request_id: str
    ) -> web.StreamResponse:
        status, data, headers, _ = await self._send(endpoint, name, request, body, request_id, mirror=False)
        dep = self.supervisor.deployments.get(name)
        if status == 503 and not data:
            resp = _error(503, f"deployment {name!r} has no ready replica", deployment=name)
        else:
            resp = web.Response(status=status, body=data, headers=headers)
        resp.headers["x-deployment"] = name
        resp.headers["x-request-id"] = request_id
        if dep is not None:
            resp.headers["x-model-version"] = dep.spec.model.version
        return resp

    async def _mirror(self, endpoint: str, name: str, request: web.Request, body: bytes, request_id: str) -> None:
        """A copy whose answer is discarded; its failures never reach the client."""
        try:
            await self._send(endpoint, name, request, body, request_id, mirror=True)
        except Exception as exc:
            self.logs.write(name, "router", f"mirror request {request_id} failed: {exc}")


@web.middleware
async def _too_large_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"request body is larger than the limit of {MAX_BODY} bytes")
