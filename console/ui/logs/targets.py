"""Which live log sources an inventory selection means (Ctrl+L).

A deployment: its engine log stream (router, replicas, engine lines). An endpoint: the streams
of all its deployments, merged. A replica: the deployment's stream for that replica only.

On a Kubernetes place a deployment is one `PodLogSource`: the pods of the Deployment behind that
traffic target (found in the place's last inventory), each line prefixed `pod/container`. An
endpoint is one such source per distinct Deployment it routes to, merged. The tail is per
container (POD_TAIL lines unless the caller asks otherwise) and the console opens no `since`
unless asked: the live pane has no control for either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.backends.base import PlaceKind
from console.backends.engine import EngineBackend
from console.backends.logstreams import EngineLogSource, LogSource

if TYPE_CHECKING:
    from console.backends.kubernetes.backend import KubernetesBackend

POD_TAIL = 500  # lines of each container's log shown first (the dock asks for 1000 per source)


@dataclass(frozen=True)
class LogTarget:
    key: str
    title: str
    sources: tuple[LogSource, ...]
    on_disk: str = ""


class NoLogs(Exception):
    """The selection has no log the console can follow (said in words)."""


def log_target(console: Any, kind: str, key: Any, replica: str | None = None, *, tail: int | None = None,
               since_s: int | None = None) -> LogTarget:
    """The sources of the selection `kind`/`key`. `tail` and `since_s` apply to pod logs: lines per
    container shown first (POD_TAIL when None) and how far back they may go (all when None)."""
    if kind not in ("endpoint", "deployment"):
        raise NoLogs("select a deployment or an endpoint to follow its logs (or open a log file)")
    place_id = key[0]
    backend = console.backend(place_id)
    place = console.place(place_id)
    if backend is not None and place is not None and place.kind == PlaceKind.KUBERNETES:
        if replica:
            raise NoLogs("one pod's log alone is not followed yet: follow its deployment, then pick the pod in the "
                         "log's source filter")
        return _pods_target(console, backend, kind, key, POD_TAIL if tail is None else tail, since_s)
    if not isinstance(backend, EngineBackend):
        raise NoLogs("live logs are followed from the local engine's deployments and from Kubernetes pods; "
                     "this place has no log the console can follow")
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


def _pods_target(console: Any, backend: KubernetesBackend, kind: str, key: Any, tail: int,
                 since_s: int | None) -> LogTarget:
    """One PodLogSource per Deployment behind the selection (the inventory's own mapping)."""
    from console.backends.kubernetes.podlogs import PodLogSource  # the client loads with the first cluster

    place_id, endpoint = key[0], key[1]
    ref = backend.refs.get(endpoint)
    if ref is None:
        raise NoLogs(f"{endpoint} is not in this cluster's inventory any more; refresh the place and select it again")
    names = [key[2]] if kind == "deployment" else sorted(
        set(ref.workloads) | {d.name for d in _deployments(console, place_id, endpoint)})  # every traffic target
    found: dict[tuple[str, str], None] = {}  # distinct Deployments, in traffic-key order
    missing: list[str] = []
    for name in names:
        w = ref.workloads.get(name)
        if w is None:
            missing.append(_why_unmapped(console, place_id, endpoint, name))
        else:
            found[(w.namespace, w.name)] = None
    if not found:
        if kind == "deployment":
            raise NoLogs(f"{key[2]} of {endpoint} has no pod logs to follow: {missing[0]}")
        why = "; ".join(missing) if missing else "it routes to no Deployment"
        raise NoLogs(f"endpoint {endpoint} has no pod logs to follow: {why}")
    if missing:
        console.sink.report(f"logs of {endpoint}: not followed: {'; '.join(missing)}", "info", "logs")
    connection = backend.connection  # called on the reading thread (the place is connected by now)
    sources = tuple(PodLogSource(lambda: connection().api, ns, name, place_id, since_seconds=since_s or None,
                                 max_tail=tail) for ns, name in found)
    if kind == "deployment":
        return LogTarget(sources[0].key, f"{sources[0].deployment} (pods)", sources)
    return LogTarget(f"kubernetes:{place_id}:endpoint:{endpoint}", f"{endpoint} (all deployments)", sources)


def _deployments(console: Any, place_id: str, endpoint: str) -> list[Any]:
    shown = console.inventory_model.endpoint(place_id, endpoint)
    return list(shown.deployments) if shown is not None else []


def _why_unmapped(console: Any, place_id: str, endpoint: str, name: str) -> str:
    """`name` is a traffic target with no Deployment found: the inventory's reason, in a sentence."""
    shown = console.inventory_model.deployment(place_id, endpoint, name)
    reason = shown.reason if shown is not None and shown.reason else "no Deployment was found behind it"
    return f"{name} is not a Deployment the console can map ({reason})"
