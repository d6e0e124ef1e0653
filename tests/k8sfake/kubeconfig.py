"""Kubeconfig files for the fake cluster, as `kubectl config view --raw` would show them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ContextEntry:
    context: str
    user: str
    token: str
    namespace: str = "default"
    auth: dict[str, Any] = field(default_factory=dict)  # the kubeconfig user entry; empty: {"token": token}


def write_kubeconfig(
    path: Path,
    server_url: str,
    ca_pem: bytes,
    entries: list[ContextEntry],
    current: str | None = None,
    cluster: str = "fake-cluster",
) -> Path:
    if not entries:
        raise ValueError("a kubeconfig needs at least one context")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": e.user, "user": e.auth or {"token": e.token}} for e in entries],
        "contexts": [
            {"name": e.context, "context": {"cluster": cluster, "user": e.user, "namespace": e.namespace}}
            for e in entries
        ],
        "current-context": current or entries[0].context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
