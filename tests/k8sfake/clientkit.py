"""Helpers for tests that drive the fake API server with the official `kubernetes` client."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GW = ("gateway.networking.k8s.io", "v1")


def api_client(kubeconfig: Path, context: str | None = None) -> client.ApiClient:
    """The official client configured from a kubeconfig file, without touching the process-wide default."""
    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), context=context, client_configuration=cfg
    )
    return client.ApiClient(cfg)


def status_of(err: ApiException) -> dict[str, Any]:
    """The metav1.Status body of an error response, checked for the shape every failure has."""
    body: dict[str, Any] = json.loads(err.body or b"")
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == err.status
    return body


def in_thread(fn: Callable[[], Iterable[Any]]) -> tuple[threading.Thread, list[Any]]:
    """Consume a stream on a thread; the returned list fills item by item as they arrive."""
    out: list[Any] = []

    def run() -> None:
        for item in fn():
            out.append(item)

    thread = threading.Thread(target=run, name="k8sfake-test-reader")
    thread.start()
    return thread, out
