"""What every place adapter offers, the snapshots it returns and the errors it raises.

Backends are Qt-free and synchronous: the console calls them on worker threads
(console/ui/tasks.py). Every call has an explicit timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from console.domain.models import AuditEvent, DeploymentStatus, EndpointStatus, Revision


class PlaceKind(StrEnum):
    ENGINE = "engine"
    KUBERNETES = "kubernetes"
    SERVING = "serving"
    PROMETHEUS = "prometheus"


# ---------------------------------------------------------------- typed errors


class BackendError(Exception):
    """Base of every error a backend raises; `str(error)` is a sentence for a person."""


class Unreachable(BackendError):
    """The place did not answer. `kind`: dns, refused, tls, timeout, protocol, not-running."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


class Unauthorized(BackendError):
    """401: the token or password was refused (or is missing)."""


class Forbidden(BackendError):
    """403: authenticated, but not allowed."""


class Invalid(BackendError):
    """422/400: the place named a problem with what was sent."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.detail = detail


class Conflict(BackendError):
    """409/428: the change was based on an outdated revision; `current` is the place's state."""

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class NotFound(BackendError):
    """404: the named object does not exist at the place."""


class NotSupported(BackendError):
    """The place cannot do this (yet)."""


# ---------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class InventorySnapshot:
    """Endpoints (with their deployments) of one place, as read at `read_at` (epoch seconds)."""

    place_id: str
    read_at: float
    endpoints: tuple[EndpointStatus, ...] = ()
    orphans: tuple[DeploymentStatus, ...] = ()  # deployments of no listed endpoint


@dataclass(frozen=True)
class ProbeResult:
    """A connection test: what answered, or the exact failure."""

    ok: bool
    message: str
    kind: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- protocols


@runtime_checkable
class Backend(Protocol):
    """One place. `inventory()` may raise any BackendError."""

    place_id: str
    freshness_s: float

    def probe(self) -> ProbeResult: ...

    def inventory(self) -> InventorySnapshot: ...

    def close(self) -> None: ...


@runtime_checkable
class SupportsHistory(Protocol):
    """Places that keep numbered revisions and an audit log (the local engine)."""

    def revisions(self, endpoint: str) -> list[Revision]: ...

    def audit(self, since: int = 0) -> list[AuditEvent]: ...


# ---------------------------------------------------------------- HTTP error mapping


def unreachable_from(exc: BaseException, url: str) -> Unreachable:
    """Name the exact failure of an HTTP transport error: DNS, refused, TLS, timeout."""
    import ssl

    import httpx

    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = " ".join(str(e) for e in chain).lower()
    if isinstance(exc, httpx.TimeoutException):
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for an answer"
        return Unreachable(f"{url}: timed out {phase}", kind="timeout")
    if any(isinstance(e, ssl.SSLError) for e in chain) or "certificate" in text or "ssl" in text:
        return Unreachable(f"{url}: TLS failed: {chain[-1]}", kind="tls")
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text \
            or "temporary failure in name resolution" in text or "no address associated" in text:
        return Unreachable(f"{url}: DNS lookup failed (host name not found)", kind="dns")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text \
            or "errno 111" in text:
        return Unreachable(f"{url}: connection refused (nothing listening)", kind="refused")
    return Unreachable(f"{url}: {exc.__class__.__name__}: {exc}", kind="protocol")


def error_from_response(status: int, body: Any, url: str) -> BackendError:
    """Map a non-2xx answer to a typed error, keeping the place's own words."""
    message = ""
    detail: Any = None
    current: Any = None
    if isinstance(body, dict):
        message = str(body.get("error") or "")
        detail = body.get("problems") or body.get("detail")
        current = body.get("current")
    elif body:
        message = str(body)[:300]
    where = f"{url}: HTTP {status}"
    text = f"{where}: {message}" if message else where
    if status == 401:
        return Unauthorized(f"{text} (token missing or refused)")
    if status == 403:
        return Forbidden(text)
    if status == 404:
        return NotFound(text)
    if status in (409, 412, 428):
        return Conflict(text, current=current)
    if status in (400, 413, 422):
        return Invalid(text, detail=detail)
    return Unreachable(text, kind="protocol")
