"""Routing decisions: route tables, endpoint keys, pinning, the weighted split, mirror rolls,
least-outstanding replica choice, and the accounting of each request sent to a replica.

Each endpoint has an immutable RouteTable; a traffic change builds a new table and swaps
the reference, so a request routes entirely by one revision and in-flight requests finish
where they started. The HTTP side is in dataplane.py (server) and upstream.py (client).
"""

from __future__ import annotations

import bisect
import hmac
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from console.engine.logs import LogHub
from console.engine.supervisor import Replica, Supervisor
from console.engine.telemetry import Series, Telemetry

MAX_BODY = 10 * 1024 * 1024
REQUEST_LINE = "request %s status %d %.1fms"  # the per-request log line
MIRROR_LINE = "mirror " + REQUEST_LINE


@dataclass(frozen=True)
class RouteTable:
    endpoint: str
    revision: int
    key: str
    names: tuple[str, ...]  # deployments with live weight, in order
    cumulative: tuple[int, ...]  # running sum of their weights (ends at 100)
    mirror: tuple[tuple[str, int], ...]
    members: frozenset[str]  # every deployment of the endpoint (for pinning)
    # live requests this table has routed, per deployment (pinned requests not counted): the
    # data plane's own proof that a new split is in force, read back with the endpoint
    routed: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    bearer: bytes = field(init=False, repr=False)  # the Authorization header value that the key makes

    def __post_init__(self) -> None:
        object.__setattr__(self, "bearer", b"Bearer " + self.key.encode())

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
        names = self.names
        if len(names) < 2:
            return names[0] if names else None
        return names[min(bisect.bisect_right(self.cumulative, roll), len(names) - 1)]


def error_body(message: str, **extra: Any) -> bytes:
    return json.dumps({"error": message, **extra}).encode()


class Refusal:
    """A request the router answers itself, before any replica sees it."""

    __slots__ = ("body", "close", "status")

    def __init__(self, status: int, message: str, close: bool = False, **extra: Any) -> None:
        self.status = status
        self.body = error_body(message, **extra)
        self.close = close  # close the connection after answering


class Ticket:
    """One request sent to one replica: counted in the replica's outstanding requests and in
    the telemetry from `Router.open` until `Router.close`, exactly once."""

    __slots__ = ("deployment", "mirror", "open", "replica", "request_id", "series", "started", "url")

    def __init__(
        self, deployment: str, mirror: bool, replica: Replica, url: str, request_id: bytes, series: Series
    ) -> None:
        self.deployment = deployment
        self.mirror = mirror
        self.replica = replica
        self.url = url  # the replica's base URL when it was chosen
        self.request_id = request_id
        self.series = series
        self.started = time.perf_counter()
        self.open = True


class Router:
    def __init__(self, supervisor: Supervisor, telemetry: Telemetry, logs: LogHub) -> None:
        self.supervisor = supervisor
        self.telemetry = telemetry
        self.logs = logs
        self.tables: dict[str, RouteTable] = {}

    def install(self, table: RouteTable) -> None:
        """Swap the endpoint's table in one assignment: the router now routes by it."""
        self.tables[table.endpoint] = table

    def applied_revision(self, endpoint: str) -> int:
        table = self.tables.get(endpoint)
        return table.revision if table else 0

    def routed(self, endpoint: str) -> dict[str, int]:
        """Live requests routed per deployment by the applied revision's table, since it was installed."""
        table = self.tables.get(endpoint)
        return dict(table.routed) if table else {}

    def route(
        self, endpoint: str, authorization: bytes | None, pinned: bytes | None
    ) -> tuple[RouteTable, str] | Refusal:
        """The table and deployment for a request, or why it is refused (404, 401, 503)."""
        table = self.tables.get(endpoint)
        if table is None:
            return Refusal(404, f"no endpoint named {endpoint!r}")
        if authorization is None or not hmac.compare_digest(authorization, table.bearer):
            return Refusal(401, "missing or wrong endpoint key (Authorization: Bearer KEY)")
        if pinned:
            name = pinned.decode("latin-1")
            if name not in table.members:
                return Refusal(404, f"endpoint {endpoint!r} has no deployment {name!r}", deployment=name)
            return table, name
        chosen = table.choose(random.random() * 100)
        if chosen is None:
            return Refusal(503, f"endpoint {endpoint!r} has no deployment with live traffic")
        routed = table.routed
        routed[chosen] = routed.get(chosen, 0) + 1
        return table, chosen

    @staticmethod
    def mirrors(table: RouteTable) -> list[str]:
        """The mirror deployments that get a copy of this request (each rolled by its percent)."""
        return [name for name, percent in table.mirror if random.random() * 100 < percent]

    @staticmethod
    def pick_replica(replicas: list[Replica]) -> Replica | None:
        """The routable replica with the least outstanding requests; ties broken at random so load spreads."""
        if len(replicas) == 1:
            return replicas[0] if replicas[0].routable else None
        low = -1
        best: list[Replica] = []
        for replica in replicas:
            if replica.routable:
                outstanding = replica.outstanding
                if outstanding < low or low < 0:
                    low, best = outstanding, [replica]
                elif outstanding == low:
                    best.append(replica)
        if len(best) < 2:
            return best[0] if best else None
        return random.choice(best)

    def model_version(self, deployment: str) -> str | None:
        dep = self.supervisor.deployments.get(deployment)
        return dep.spec.model.version if dep is not None else None

    def open(self, endpoint: str, deployment: str, mirror: bool, request_id: bytes) -> Ticket | None:
        """Choose a ready replica of the deployment and count the request on it; None: no ready replica."""
        dep = self.supervisor.deployments.get(deployment)
        replica = self.pick_replica(dep.replicas) if dep is not None else None
        url = replica.url if replica is not None else None
        if replica is None or url is None:
            return None
        replica.outstanding += 1
        series = self.telemetry.series(endpoint, deployment, mirror)
        series.in_flight += 1
        return Ticket(deployment, mirror, replica, url, request_id, series)

    def close(self, ticket: Ticket, status: int) -> None:
        """The request ended with `status` (the replica's, or the router's 502/504): record it once."""
        if not ticket.open:
            return
        ticket.open = False
        ticket.replica.outstanding -= 1
        elapsed = time.perf_counter() - ticket.started
        self.telemetry.record(ticket.series, status, elapsed)
        line = (MIRROR_LINE if ticket.mirror else REQUEST_LINE) % (
            ticket.request_id.decode("latin-1"), status, elapsed * 1000
        )
        self.logs.write(ticket.deployment, "router", line)
