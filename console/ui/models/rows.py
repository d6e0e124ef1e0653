"""What the inventory shows for each endpoint and deployment: columns and their values.

Pure functions of domain snapshots (no Qt), so they run on the worker that read the
snapshot: `prepare()` turns an InventorySnapshot into row tuples there, and the GUI thread
only compares tuples and emits changes for rows whose shown values differ.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import PurePath
from typing import Any

from console.backends.base import InventorySnapshot
from console.domain.models import DeploymentState, DeploymentStatus, EndpointStatus, Runtime


class Col(IntEnum):
    NAME = 0
    MODEL = 1
    RUNTIME = 2
    REPLICAS = 3
    STATE = 4
    TRAFFIC = 5
    MIRROR = 6
    SCORING_URI = 7
    AGE = 8


HEADERS = {
    Col.NAME: "Name",
    Col.MODEL: "Model",
    Col.RUNTIME: "Runtime / image",
    Col.REPLICAS: "Replicas",
    Col.STATE: "State",
    Col.TRAFFIC: "Traffic %",
    Col.MIRROR: "Mirror %",
    Col.SCORING_URI: "Scoring URI",
    Col.AGE: "Age",
}
HEADER_TIPS = {
    Col.MODEL: "model name : version",
    Col.REPLICAS: "replicas ready / desired",
    Col.TRAFFIC: "share of live traffic (the endpoint's split)",
    Col.MIRROR: "share copied as shadow traffic; never answers the client",
    Col.AGE: "time since creation",
}
STATE_RANK = {"Failed": 5, "Degraded": 4, "Deleting": 3, "Creating": 2, "Ready": 1}
# Plain strings of the enums: `member.value` goes through a descriptor, far slower than a dict.
_TEXT: dict[Any, str] = {m: str(m.value) for m in (*DeploymentState, *Runtime)}

# A row: the values of the columns, the created time as epoch seconds, then the tooltip text.
Row = tuple[Any, ...]


def deployment_row(dep: DeploymentStatus, endpoint: EndpointStatus | None) -> Row:
    traffic = endpoint.traffic.get(dep.name, 0) if endpoint else 0
    mirror = endpoint.mirror.get(dep.name, 0) if endpoint else 0
    model = dep.model
    return (
        dep.name, f"{model.name}:{model.version}", _TEXT.get(dep.runtime) or str(dep.runtime),
        (dep.replicas_ready, dep.replicas_desired), _TEXT.get(dep.state) or str(dep.state), traffic, mirror, "",
        dep.created.timestamp(), dep.reason,
    )


def endpoint_row(ep: EndpointStatus, deployment_rows: tuple[Row, ...] | None = None) -> Row:
    """The endpoint's row; its deployments' rows are used when given (they hold the same facts)."""
    rows = deployment_rows if deployment_rows is not None else tuple(deployment_row(d, ep) for d in ep.deployments)
    ready = desired = 0
    runtimes: set[str] = set()
    live: list[str] = []
    every: list[str] = []
    for row in rows:
        replicas = row[Col.REPLICAS]
        ready += replicas[0]
        desired += replicas[1]
        runtimes.add(row[Col.RUNTIME])
        every.append(row[Col.STATE])
        if row[Col.TRAFFIC] > 0:
            live.append(row[Col.STATE])
    states = live or every
    state = max(states, key=lambda s: STATE_RANK.get(s, 0)) if states else "no deployments"
    if ep.applied_revision != ep.revision:
        state = f"{state}, applying r{ep.revision}"
    reason = f"revision {ep.revision}" + (" · production" if ep.production else "")
    count = len(rows)
    return (
        ep.name, f"{count} deployment{'s' if count != 1 else ''}", ", ".join(sorted(runtimes)),
        (ready, desired), state, sum(ep.traffic.values()), sum(ep.mirror.values()), ep.scoring_uri,
        _epoch(ep.created), reason,
    )


def _epoch(value: datetime) -> float:
    return value.timestamp()


# ---------------------------------------------------------------- prepared snapshots


@dataclass(frozen=True, slots=True)
class EndpointRows:
    """One endpoint's row and its deployments' rows (in the snapshot's order).

    `fingerprint` hashes every row of the endpoint, here on the worker: when it equals the
    one shown, nothing under the endpoint changed and the GUI thread skips the endpoint with
    one integer comparison (comparing the rows themselves means touching every tuple, which
    is memory-bound at 10,000 rows). Python's 64-bit tuple hash makes a false "unchanged"
    about 2^-64 per endpoint and refresh, and the next change of the endpoint corrects it.
    """

    endpoint: EndpointStatus
    row: Row
    deployments: tuple[Row, ...]  # each row's name is row[Col.NAME]
    fingerprint: int

    @property
    def name(self) -> str:
        return self.endpoint.name


@dataclass(frozen=True, slots=True)
class PreparedInventory:
    """An InventorySnapshot with the rows it shows, computed off the GUI thread."""

    snapshot: InventorySnapshot
    endpoints: tuple[EndpointRows, ...]

    @property
    def place_id(self) -> str:
        return self.snapshot.place_id

    @property
    def read_at(self) -> float:
        return self.snapshot.read_at


def endpoint_rows(ep: EndpointStatus) -> EndpointRows:
    dep_rows = tuple(deployment_row(d, ep) for d in ep.deployments)
    row = endpoint_row(ep, dep_rows)
    return EndpointRows(ep, row, dep_rows, hash((row, dep_rows)))


def prepare(snapshot: InventorySnapshot) -> PreparedInventory:
    """The rows of `snapshot`; pure, so a worker computes them next to the read."""
    return PreparedInventory(snapshot, tuple(endpoint_rows(ep) for ep in snapshot.endpoints))


# ---------------------------------------------------------------- shown values


def display(row: Row, col: int, now: float | None = None) -> str:
    value = row[col]
    if col == Col.REPLICAS:
        return "" if value is None else f"{value[0]}/{value[1]}"
    if col in (Col.TRAFFIC, Col.MIRROR):
        return "" if value is None or value == "" else f"{value}"
    if col == Col.AGE:
        return "" if value is None else age_text((now or time.time()) - float(value))
    return "" if value is None else str(value)


def sort_key(row: Row, col: int) -> Any:
    value = row[col]
    if col == Col.REPLICAS:
        return -1 if value is None else value[0] * 1000 + value[1]
    if col in (Col.TRAFFIC, Col.MIRROR, Col.AGE):
        return -1 if value in (None, "") else float(value)
    return "" if value is None else str(value).lower()


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


SHORT_LOCATION = 40  # characters of a place's location shown in the inventory before eliding


def short_location(where: str, home: str | None = None) -> str:
    """A place's location as a row shows it: a URL as it is; a path with the home directory as
    `~` and, when still long, its middle elided (`/srv/…/switchboard/engine`). The full
    location is in the row's tooltip."""
    if not where or "://" in where:
        return where
    home = os.path.expanduser("~") if home is None else home
    shown = where
    if home and home != os.sep and (where == home or where.startswith(home.rstrip(os.sep) + os.sep)):
        shown = "~" + where[len(home.rstrip(os.sep)):]
    parts = PurePath(shown).parts
    # the root (with its first directory) or `~`, then the last two names
    first = 2 if parts and parts[0] == os.sep else 1
    if len(shown) <= SHORT_LOCATION or len(parts) <= first + 2:
        return shown
    head = str(PurePath(*parts[:first]))
    return os.sep.join((head, "…", parts[-2], parts[-1]))
