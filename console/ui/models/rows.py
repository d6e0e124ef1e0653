"""What the inventory shows for each endpoint and deployment: columns and their values.

Pure functions of domain snapshots, so a refresh can compare row tuples cheaply and
emit changes only for rows whose shown values differ.
"""

from __future__ import annotations

import time
from datetime import datetime
from enum import IntEnum
from typing import Any

from console.domain.models import DeploymentStatus, EndpointStatus


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

# A row: the values of the columns, the created time as epoch seconds last.
Row = tuple[Any, ...]


def _epoch(value: datetime) -> float:
    return value.timestamp()


def deployment_row(dep: DeploymentStatus, endpoint: EndpointStatus | None) -> Row:
    traffic = endpoint.traffic.get(dep.name, 0) if endpoint else 0
    mirror = endpoint.mirror.get(dep.name, 0) if endpoint else 0
    return (
        dep.name, f"{dep.model.name}:{dep.model.version}", dep.runtime.value,
        (dep.replicas_ready, dep.replicas_desired), dep.state.value, traffic, mirror, "",
        _epoch(dep.created), dep.reason,
    )


def endpoint_row(ep: EndpointStatus) -> Row:
    deps = ep.deployments
    ready = sum(d.replicas_ready for d in deps)
    desired = sum(d.replicas_desired for d in deps)
    states = [d.state.value for d in deps if ep.traffic.get(d.name, 0) > 0] or [d.state.value for d in deps]
    state = max(states, key=lambda s: STATE_RANK.get(s, 0)) if states else "no deployments"
    if ep.applied_revision != ep.revision:
        state = f"{state}, applying r{ep.revision}"
    runtimes = ", ".join(sorted({d.runtime.value for d in deps}))
    reason = f"revision {ep.revision}" + (" · production" if ep.production else "")
    return (
        ep.name, f"{len(deps)} deployment{'s' if len(deps) != 1 else ''}", runtimes, (ready, desired), state,
        sum(ep.traffic.values()), sum(ep.mirror.values()), ep.scoring_uri, _epoch(ep.created), reason,
    )


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
