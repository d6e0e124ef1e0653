"""Where deployments live: the place configuration (platform config dir, references to
secrets only), Kubernetes contexts read from kubeconfig, and URL places (serving hosts,
Prometheus servers) with a basic health check."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from console.backends.base import (
    BackendError,
    InventorySnapshot,
    PlaceKind,
    ProbeResult,
    Unauthorized,
    Unreachable,
    error_from_response,
    redact_url,
    unreachable_from,
    url_secret_problems,
)
from console.backends.promql import PromMapping

PLACES_FILE = "places.json"
PROBE_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
SecretLookup = Callable[[str], "str | None"]


class PlaceConfig(BaseModel):
    """One configured place. `secret_ref` names a keyring entry; the secret is never here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    kind: PlaceKind
    name: str = Field(min_length=1, max_length=200)
    state_dir: str | None = None
    url: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    auth: Literal["none", "bearer", "basic"] = "none"
    username: str | None = None
    secret_ref: str | None = None
    verify_tls: bool = True
    namespaces: tuple[str, ...] | None = Field(
        default=None, description="a Kubernetes context's namespaces to read; None: all")
    read_only: bool = Field(default=False, description="a Kubernetes context the console must not change")
    metrics_url: str | None = Field(
        default=None, description="a serving host's /metrics, where it is not at the place URL (MLServer's metrics "
                                  "port): a full URL, or a path on the place URL")
    latency_histogram: str | None = Field(
        default=None, description="a serving host's histogram charted as its latency (for servers not recognised)")
    prometheus: PromMapping | None = Field(default=None, description="a Prometheus place's label mapping")
    auto: bool = Field(default=False, description="added by the console for this session, not saved")

    @field_validator("url", "metrics_url")
    @classmethod
    def _no_secret_in_url(cls, url: str | None) -> str | None:
        """A URL is saved in places.json in plaintext: it must not carry a password or token."""
        problems = url_secret_problems(url) if url else []
        if problems:
            raise ValueError("; ".join(problems))
        return url


class PlacesStore:
    """places.json in the config dir: written atomically, mode 0600, no secrets."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = Path(config_dir)
        self.path = self.config_dir / PLACES_FILE
        self.problems: list[str] = []  # what the last load() skipped, and why

    def load(self) -> list[PlaceConfig]:
        """The valid places; an invalid entry is skipped and named in `problems`."""
        self.problems = []
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read {self.path}: {exc}") from exc
        places: list[PlaceConfig] = []
        for number, item in enumerate(raw.get("places", []) if isinstance(raw, dict) else [], start=1):
            try:
                places.append(PlaceConfig.model_validate(item))
            except ValueError as exc:
                name = item.get("name") if isinstance(item, dict) else None
                self.problems.append(f"{self.path}: place {number}{f' ({name})' if name else ''} skipped: "
                                     f"{_why(exc)}")
        return places

    def save(self, places: list[PlaceConfig]) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        body = {"version": 1, "places": [p.model_dump(mode="json", exclude={"auto"}) for p in places if not p.auto]}
        fd, tmp = tempfile.mkstemp(prefix=".places-", dir=self.config_dir)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(body, handle, indent=2)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _why(exc: ValueError) -> str:
    """The first problem of a place entry, without the values it holds (they may be secrets)."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "entry"
        return f"{field}: {str(first.get('msg', 'invalid')).removeprefix('Value error, ')}"
    return str(exc).splitlines()[0]


# ---------------------------------------------------------------- Kubernetes contexts


def kubeconfig_paths(env: dict[str, str] | None = None) -> list[Path]:
    env = dict(os.environ if env is None else env)
    if env.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def kube_contexts(paths: list[Path] | None = None, problems: list[str] | None = None) -> list[tuple[str, str]]:
    """(context name, kubeconfig path) for every context, first definition wins. A missing
    file is normal; one that cannot be read or parsed is named in `problems`."""
    found: dict[str, str] = {}
    for path in kubeconfig_paths() if paths is None else paths:
        try:
            doc = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as exc:
            if problems is not None:
                problems.append(f"kubeconfig {path} skipped: {str(exc).splitlines()[0]}")
            continue
        for item in (doc or {}).get("contexts") or [] if isinstance(doc, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                found.setdefault(item["name"], str(path))
    return list(found.items())


# ---------------------------------------------------------------- URL places

HEALTH_PATHS: dict[PlaceKind, tuple[str, ...]] = {
    PlaceKind.SERVING: ("/health", "/v2/health/ready", "/metrics", "/"),
    PlaceKind.PROMETHEUS: ("/-/healthy", "/api/v1/status/buildinfo"),
}


class UrlBackend:
    """A serving host or Prometheus server added by URL: a basic health check for now."""

    freshness_s = 30.0

    def __init__(self, config: PlaceConfig, secret: SecretLookup | None = None,
                 timeout: httpx.Timeout | float = PROBE_TIMEOUT, transport: httpx.BaseTransport | None = None) -> None:
        if not config.url:
            raise ValueError("a URL place needs a url")
        self.place_id = config.id
        self.config = config
        self._secret = secret
        self._timeout = timeout
        self._transport = transport

    def _client(self, secret_override: str | None = None) -> httpx.Client:
        headers: dict[str, str] = {}
        auth: tuple[str, str] | None = None
        secret = secret_override
        if secret is None and self.config.secret_ref and self._secret is not None:
            secret = self._secret(self.config.secret_ref)
        if self.config.auth == "bearer" and secret:
            headers["Authorization"] = f"Bearer {secret}"
        elif self.config.auth == "basic" and secret is not None:
            auth = (self.config.username or "", secret)
        return httpx.Client(base_url=str(self.config.url).rstrip("/"), headers=headers, auth=auth,
                            timeout=self._timeout, verify=self.config.verify_tls, trust_env=False,
                            transport=self._transport)

    def check(self, secret_override: str | None = None) -> tuple[str, int]:
        """The first health path that answers 2xx; raises the exact failure otherwise."""
        path, _url, status = self._check(secret_override)
        return path, status

    def _check(self, secret_override: str | None) -> tuple[str, str, int]:
        """(the health path that answered 2xx, its URL, its status)."""
        last: BackendError | None = None
        with self._client(secret_override) as http:
            for path in HEALTH_PATHS[self.config.kind]:
                url = str(http.build_request("GET", path).url)  # what is asked, for messages (redacted there)
                try:
                    response = http.get(path)
                except httpx.HTTPError as exc:
                    raise unreachable_from(exc, url) from exc
                if response.status_code < 300:
                    return path, url, response.status_code
                last = error_from_response(response.status_code, response.text[:200], url)
                if isinstance(last, Unauthorized) or response.status_code == 403:
                    raise last
        raise last or Unreachable(f"{redact_url(str(self.config.url))}: no health path answered", kind="protocol")

    def probe(self, secret_override: str | None = None) -> ProbeResult:
        try:
            path, url, status = self._check(secret_override)
        except BackendError as exc:
            return ProbeResult(False, str(exc), kind=getattr(exc, "kind", exc.__class__.__name__.lower()))
        return ProbeResult(True, f"{redact_url(url)} answered HTTP {status}", detail={"path": path})

    def inventory(self) -> InventorySnapshot:
        self.check()
        return InventorySnapshot(self.place_id, time.time(), ())

    def close(self) -> None:
        pass


def describe(config: PlaceConfig) -> dict[str, Any]:
    """What the places tree shows under a place's name."""
    where = config.state_dir or config.url or config.context or ""
    return {"kind": config.kind.value, "where": where}
