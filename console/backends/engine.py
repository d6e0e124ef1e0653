"""The local engine's control API over HTTP (see README "Control API").

`EngineClient` speaks to one control URL with one token. `EngineBackend` is the place:
it finds the engine through its state dir (engine.json + token) and finds it again after
a restart, when the port and the token may have changed.
"""

from __future__ import annotations

import getpass
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from pydantic import BaseModel, ValidationError

from console.backends.base import (
    BackendError,
    Invalid,
    InventorySnapshot,
    ProbeResult,
    Unauthorized,
    Unreachable,
    error_from_response,
    redact_url,
    unreachable_from,
)
from console.backends.engine_release import ReleaseBackendCalls, ReleaseCalls
from console.backends.identity import IDENTITY_HEADER
from console.domain.models import AuditEvent, DeploymentStatus, EndpointStatus, Revision, Slo

M = TypeVar("M", bound=BaseModel)
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
ENGINE_FILE = "engine.json"
TOKEN_FILE = "token"  # noqa: S105 - the file name, not a secret


def actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class EngineFile:
    """What a running engine wrote into its state dir."""

    pid: int
    control_url: str
    data_url: str
    version: str
    started: str
    token: str

    def alive(self) -> bool:
        return psutil.pid_exists(self.pid)


def read_engine_file(state_dir: Path) -> EngineFile:
    """engine.json and token of `state_dir`; Unreachable(kind='not-running') if absent."""
    path = Path(state_dir) / ENGINE_FILE
    try:
        info = json.loads(path.read_text())
        token = (Path(state_dir) / TOKEN_FILE).read_text().strip()
        return EngineFile(
            pid=int(info["pid"]), control_url=str(info["control_url"]).rstrip("/"),
            data_url=str(info.get("data_url", "")), version=str(info.get("version", "")),
            started=str(info.get("started", "")), token=token,
        )
    except FileNotFoundError as exc:
        raise Unreachable(
            f"no engine is running on {state_dir} ({Path(exc.filename or path).name} missing; "
            f"start one with: switchboard engine --state-dir {state_dir})", kind="not-running",
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Unreachable(f"cannot read {path}: {exc}", kind="not-running") from exc


class EngineClient(ReleaseCalls):
    """Typed calls of the control API. Every call has `timeout`; errors are BackendErrors.
    `identity` (console/backends/identity.py) names the console or CLI to the engine."""

    def __init__(self, control_url: str, token: str, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None, actor_name: str | None = None,
                 identity: str | None = None) -> None:
        self.control_url = control_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}", "X-Actor": actor_name or actor()}
        if identity:
            headers[IDENTITY_HEADER] = identity
        self._http = httpx.Client(
            base_url=self.control_url, timeout=timeout, transport=transport, trust_env=False, headers=headers,
        )

    @classmethod
    def for_state_dir(cls, state_dir: Path, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                      identity: str | None = None) -> EngineClient:
        """A client of the engine running on `state_dir`; Unreachable(kind='not-running') if none."""
        found = read_engine_file(state_dir)
        if not found.alive():
            raise Unreachable(f"the engine of {state_dir} (pid {found.pid}) is not running", kind="not-running")
        return cls(found.control_url, found.token, timeout, identity=identity)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stream_lines(self, path: str, params: dict[str, Any]) -> Iterator[str]:
        """Lines of a streamed answer (logs with follow), with no read timeout."""
        url = f"{self.control_url}{path}"
        try:
            with self._http.stream("GET", path, params=params, timeout=httpx.Timeout(10.0, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response.status_code, _json_or_text(response), url)
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise unreachable_from(exc, url) from exc

    @contextmanager
    def open_stream(self, path: str, params: dict[str, Any], read_timeout: float | None = None
                    ) -> Iterator[httpx.Response]:
        """An open streamed answer for a reader that must be able to close it from another
        thread (telemetry). A refusal, and a transport error while reading, raise BackendErrors."""
        url = f"{self.control_url}{path}"
        try:
            with self._http.stream("GET", path, params=params,
                                   timeout=httpx.Timeout(10.0, read=read_timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response.status_code, _json_or_text(response), url)
                yield response
        except httpx.HTTPError as exc:
            raise unreachable_from(exc, url) from exc

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.control_url}{path}"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable_from(exc, url) from exc
        except RuntimeError as exc:  # the client was closed (cancelled) under us
            raise Unreachable(f"{redact_url(url)}: cancelled", kind="cancelled") from exc
        body = _json_or_text(response)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, body, url)
        return body

    # ---- reads
    def engine_info(self) -> dict[str, Any]:
        return dict(self.request("GET", "/v1/engine"))

    def endpoints(self) -> list[EndpointStatus]:
        return _parse_list(EndpointStatus, self.request("GET", "/v1/endpoints"), "endpoints")

    def endpoint(self, name: str) -> EndpointStatus:
        return _parse(EndpointStatus, self.request("GET", f"/v1/endpoints/{name}"), "endpoint")

    def deployments(self) -> list[DeploymentStatus]:
        return _parse_list(DeploymentStatus, self.request("GET", "/v1/deployments"), "deployments")

    def revisions(self, endpoint: str) -> list[Revision]:
        raw = self.request("GET", f"/v1/endpoints/{endpoint}/revisions")
        items = raw.get("revisions", raw) if isinstance(raw, dict) else raw
        items = [{"endpoint": endpoint, **item} if isinstance(item, dict) and "endpoint" not in item else item
                 for item in items or []]
        return _parse_list(Revision, items, "revisions")

    def audit(self, since: int = 0) -> list[AuditEvent]:
        raw = self.request("GET", "/v1/audit", params={"since": since})
        return _parse_list(AuditEvent, raw, "events")

    # ---- mutations (guards and previews live in the console; the engine re-checks)
    def apply_yaml(self, text: str, base_dir: str) -> Any:
        return self.request("POST", "/v1/apply", json={"yaml": text, "base_dir": base_dir})

    def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int], *,
                    if_match: int, reason: str = "") -> EndpointStatus:
        body = {"traffic": traffic, "mirror": mirror, "reason": reason}
        raw = self.request("PUT", f"/v1/endpoints/{endpoint}/traffic", json=body,
                           headers={"If-Match": str(if_match)})
        return _parse(EndpointStatus, raw, "endpoint")

    def set_slo(self, endpoint: str, slo: Slo | None) -> EndpointStatus:
        """Set the endpoint's SLO, or clear it with None (the engine audits both)."""
        body = b"null" if slo is None else slo.model_dump_json().encode()
        raw = self.request("PUT", f"/v1/endpoints/{endpoint}/slo", content=body,
                           headers={"Content-Type": "application/json"})
        return _parse(EndpointStatus, raw, "endpoint")

    def rollback(self, endpoint: str, *, if_match: int, to_revision: int | None = None,
                 reason: str = "") -> Any:
        body: dict[str, Any] = {"reason": reason}
        if to_revision is not None:
            body["to_revision"] = to_revision
        return self.request("POST", f"/v1/endpoints/{endpoint}/rollback", json=body,
                            headers={"If-Match": str(if_match)})

    # ---- rollouts: the engine runs them (console/engine/rollouts.py); answers are the rollout's JSON
    def start_rollout(self, endpoint: str, plan_yaml: str, reason: str = "") -> dict[str, Any]:
        return dict(self.request("POST", f"/v1/endpoints/{endpoint}/rollout",
                                 json={"yaml": plan_yaml, "reason": reason}))

    def rollout(self, endpoint: str) -> dict[str, Any]:
        """The endpoint's active rollout, else its last one (NotFound if it never had one)."""
        return dict(self.request("GET", f"/v1/endpoints/{endpoint}/rollout"))

    def rollout_action(self, endpoint: str, action: str, reason: str = "") -> dict[str, Any]:
        """pause, resume, approve (the gate it waits at), abort (100% back to the baseline) or promote."""
        return dict(self.request("POST", f"/v1/endpoints/{endpoint}/rollout/{action}", json={"reason": reason}))

    def rollouts(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/v1/rollouts"))


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return response.text


def _unwrap(raw: Any, key: str) -> Any:
    if isinstance(raw, dict) and key in raw and isinstance(raw[key], list):
        return raw[key]
    return raw


def _parse_list(model: type[M], raw: Any, key: str) -> list[M]:
    items = _unwrap(raw, key)
    if not isinstance(items, list):
        raise Invalid(f"the engine answered {type(items).__name__} where a list of {key} was expected")
    return [_parse(model, item, key) for item in items]


def _parse(model: type[M], raw: Any, what: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(f"the engine's {what} are not in the expected shape: {exc.errors()[0]}") from exc


class EngineBackend(ReleaseBackendCalls):
    """The local engine of one state dir, as a place."""

    freshness_s = 10.0

    def __init__(self, place_id: str, state_dir: Path, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 identity: str | None = None) -> None:
        self.place_id = place_id
        self.identity = identity  # this console's (console/backends/identity.py), sent with every call
        self.state_dir = Path(state_dir)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._client: EngineClient | None = None
        self._file: EngineFile | None = None
        self._closed = False

    def client(self) -> EngineClient:
        """The current client, reading engine.json again if the last call failed."""
        with self._lock:
            if self._closed:
                raise Unreachable("the console is closing", kind="cancelled")
            if self._client is None:
                found = read_engine_file(self.state_dir)
                if not found.alive():
                    raise Unreachable(f"the engine of {self.state_dir} (pid {found.pid}) is not running",
                                      kind="not-running")
                self._file = found
                self._client = EngineClient(found.control_url, found.token, self._timeout, identity=self.identity)
            return self._client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        client = self.client()
        try:
            return getattr(client, method)(*args, **kwargs)
        except Unreachable:
            self._forget(client)
            raise
        except Unauthorized:  # the token changed with a restart: read it again next time
            self._forget(client)
            raise

    def _forget(self, client: EngineClient) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        client.close()

    def engine_file(self) -> EngineFile | None:
        return self._file

    def probe(self) -> ProbeResult:
        try:
            info = self._call("engine_info")
        except BackendError as exc:
            return ProbeResult(False, str(exc), kind=getattr(exc, "kind", exc.__class__.__name__.lower()))
        return ProbeResult(True, f"engine {info.get('version', '?')} (pid {info.get('pid', '?')}) answered",
                           detail=info)

    def inventory(self) -> InventorySnapshot:
        endpoints = self._call("endpoints")
        return InventorySnapshot(self.place_id, time.time(), tuple(endpoints))

    def revisions(self, endpoint: str) -> list[Revision]:
        return list(self._call("revisions", endpoint))

    def audit(self, since: int = 0) -> list[AuditEvent]:
        return list(self._call("audit", since))

    def apply_yaml(self, text: str, base_dir: str) -> Any:
        return self._call("apply_yaml", text, base_dir)

    def set_slo(self, endpoint: str, slo: Slo | None) -> EndpointStatus:
        result: EndpointStatus = self._call("set_slo", endpoint, slo)
        return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()
