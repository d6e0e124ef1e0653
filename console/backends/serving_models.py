"""A serving host's models as the console's inventory: what each model listing route
answers, and how readiness becomes a deployment state. Pure functions over answers the
ServingBackend (console/backends/serving.py) fetched.

Readiness → state (each deployment's `reason` says which route answered what):

- Ready: the model's own readiness route (`/v2/models/NAME/ready`, KServe v2) answered
  2xx; for hosts without one (OpenAI-style `/v1/models`: vLLM, TGI) the host's health route
  answered 2xx, or the host offers no health route at all (the listing is all there is).
- Creating: the repository index says the model is LOADING; Deleting: UNLOADING.
- Degraded: the model's readiness route answered non-2xx while the host's health is fine.
- Failed: the repository index says UNAVAILABLE (a failed load, with its reason), or the
  host's health route answered non-2xx (no model on it can answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.domain.models import (
    DeploymentSpec,
    DeploymentState,
    DeploymentStatus,
    EndpointStatus,
    ModelRef,
    Runtime,
)

UNVERSIONED = "unversioned"


@dataclass(frozen=True)
class ListedModel:
    name: str
    version: str | None = None
    state: str | None = None  # the repository index's state (READY, UNAVAILABLE, LOADING, ...)
    reason: str = ""


@dataclass(frozen=True)
class Answer:
    """What one route answered: its path and HTTP status."""

    path: str
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        return f"GET {self.path} answered {self.status}"


def models_from(style: str, body: Any) -> list[ListedModel]:
    """The models in a listing's body. `style`: openai (/v1/models), v2 (/v2/models),
    index (/v2/repository/index), tgi-info (/info). Raises ValueError for a body that is
    not that listing."""
    if style == "openai":
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ValueError("expected {\"data\": [{\"id\": ...}, ...]}")
        return [ListedModel(str(item["id"])) for item in items if isinstance(item, dict) and item.get("id")]
    if style == "tgi-info":
        if not isinstance(body, dict) or not body.get("model_id"):
            raise ValueError("expected {\"model_id\": ...}")
        return [ListedModel(str(body["model_id"]), str(body.get("model_sha") or "")[:12] or None)]
    items = body.get("models") if style == "v2" and isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ValueError("expected a list of models")
    found = []
    for item in items:
        if isinstance(item, str):
            found.append(ListedModel(item))
        elif isinstance(item, dict) and item.get("name"):
            version = item.get("version")
            found.append(ListedModel(str(item["name"]), str(version) if version not in (None, "") else None,
                                     str(item["state"]).upper() if item.get("state") else None,
                                     str(item.get("reason") or "")))
    return found


def collapse(models: list[ListedModel]) -> list[ListedModel]:
    """One entry per model name (a repository index lists each version): the newest ready
    version, else the newest."""
    by_name: dict[str, list[ListedModel]] = {}
    for model in models:
        by_name.setdefault(model.name, []).append(model)

    def rank(m: ListedModel) -> tuple[bool, list[Any]]:
        parts = re.split(r"(\d+)", m.version or "")
        return m.state in (None, "READY"), [(0, int(p)) if p.isdigit() else (1, p) for p in parts]

    return [max(entries, key=rank) for entries in by_name.values()]


def state_of(model: ListedModel, ready: Answer | None, health: Answer | None) -> tuple[DeploymentState, str]:
    """The deployment state of a listed model and why (see the module's docstring)."""
    if model.state == "UNAVAILABLE":
        return DeploymentState.FAILED, f"the repository index says UNAVAILABLE ({model.reason or 'not loaded'})"
    if model.state == "LOADING":
        return DeploymentState.CREATING, "the repository index says LOADING"
    if model.state == "UNLOADING":
        return DeploymentState.DELETING, "the repository index says UNLOADING"
    if health is not None and not health.ok:
        return DeploymentState.FAILED, f"the host is not ready: {health}"
    if ready is not None:
        if ready.ok:
            return DeploymentState.READY, str(ready)
        return DeploymentState.DEGRADED, f"{ready}" + (f" while {health}" if health else "")
    if health is not None:
        return DeploymentState.READY, f"listed; {health}"
    return DeploymentState.READY, "listed; the host offers no health route"


def dns_label(name: str) -> str:
    """A model name as a DNS label (for the deployment spec): `meta-llama/Llama-3` → `meta-llama-llama-3`."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "model"


def endpoint_of(model: ListedModel, state: DeploymentState, reason: str, base_url: str, style: str,
                seen: datetime | None = None) -> EndpointStatus:
    """A served model as an endpoint with one deployment, both named as the host names the model."""
    from urllib.parse import quote

    label = dns_label(model.name)
    scoring = f"{base_url}/v2/models/{quote(model.name, safe='')}/infer" if style in ("v2", "index") \
        else "" if style == "metrics" else f"{base_url}/v1"
    created = seen or datetime.now(UTC)
    spec = DeploymentSpec(endpoint=label, name=label, runtime=Runtime.UPSTREAM, upstream=base_url,
                          model=ModelRef(name=model.name, version=model.version or UNVERSIONED))
    ready = int(state == DeploymentState.READY)
    deployment = DeploymentStatus(name=model.name, endpoint=model.name, model=spec.model, runtime=Runtime.UPSTREAM,
                                  state=state, reason=reason, replicas_ready=ready, replicas_desired=1, spec=spec,
                                  created=created)
    return EndpointStatus(name=model.name, traffic={model.name: 100}, mirror={}, revision=0, applied_revision=0,
                          scoring_uri=scoring, deployments=[deployment], created=created)
