"""Which live log sources an inventory selection means (Ctrl+L).

A deployment: its engine log stream (router, replicas, engine lines). An endpoint: the streams
of all its deployments, merged. A replica: the deployment's stream for that replica only.
Kubernetes pods come with the Kubernetes issue: a pod source implements LogSource and is
returned here for a cluster place's selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.backends.engine import EngineBackend
from console.backends.logstreams import EngineLogSource, LogSource


@dataclass(frozen=True)
class LogTarget:
    key: str
    title: str
    sources: tuple[LogSource, ...]
    on_disk: str = ""


class NoLogs(Exception):
    """The selection has no log the console can follow (said in words)."""


def log_target(console: Any, kind: str, key: Any, replica: str | None = None) -> LogTarget:
    if kind not in ("endpoint", "deployment"):
        raise NoLogs("select a deployment or an endpoint to follow its logs (or open a log file)")
    place_id = key[0]
    backend = console.backend(place_id)
    if not isinstance(backend, EngineBackend):
        raise NoLogs("live logs are followed from the local engine's deployments; this place's logs are not "
                     "available yet")
    if kind == "deployment":
        deployments = [key[2]]
    else:
        endpoint = console.inventory_model.endpoint(place_id, key[1])
        deployments = sorted(d.name for d in endpoint.deployments) if endpoint is not None else []
        if not deployments:
            raise NoLogs(f"endpoint {key[1]} has no deployments to show logs of")
    folder = Path(backend.state_dir) / "logs"
    sources = tuple(EngineLogSource(backend.state_dir, name, replica, place_id) for name in deployments)
    title = sources[0].label if kind == "deployment" else f"{key[1]} (all deployments)"
    on_disk = str(folder / f"{deployments[0]}.log") if len(deployments) == 1 else str(folder)
    target_key = sources[0].key if kind == "deployment" else f"engine:{place_id}:endpoint:{key[1]}"
    return LogTarget(target_key, title, sources, on_disk)
