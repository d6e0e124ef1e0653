"""What every place adapter offers, the snapshots it returns and the errors it raises.

Backends are Qt-free and synchronous: the console calls them on worker threads
(console/ui/tasks.py). Every call has an explicit timeout.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from console.domain.models import AuditEvent, DeploymentStatus, EndpointStatus, Revision
from console.domain.telemetry import TelemetryBatch


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


@runtime_checkable
class SupportsTelemetry(Protocol):
    """Places read for telemetry by polling (serving hosts, Prometheus): each call returns
    the samples since the previous call; `history_s` > 0 on the first call asks for the
    recent past where the source keeps it. The engine streams instead (backends/telemetry_stream.py)."""

    telemetry_period_s: float

    def telemetry(self, history_s: float = 0.0) -> TelemetryBatch: ...


# ---------------------------------------------------------------- secrets in URLs

#: query parameters that carry secrets (compared case-insensitively): refused in a place's URL
SECRET_QUERY_NAMES = frozenset({"token", "access_token", "api_key", "apikey", "key", "password", "secret"})
REDACTED = "***"
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>.,:;!?)\]]")
_SECRET_PAIR_IN_TEXT = re.compile(
    r"(?i)\b(" + "|".join(sorted(SECRET_QUERY_NAMES, key=len, reverse=True)) + r")=([^&\s'\"<>]*[^&\s'\"<>.,:;!?)\]])")


def url_secret_problems(url: str) -> list[str]:
    """Why `url` must not be saved as a place's address: it carries a user name or password
    (`https://user:pass@host`) or a token-like query parameter (`?token=...`). The sentences
    name the parameter, never its value."""
    try:
        parts = urlsplit(url.strip())
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        return []  # not a URL at all: the caller's other checks say so
    problems = []
    if userinfo or "@" in parts.netloc:
        problems.append("the URL must not contain a user name or password (user:password@): choose "
                        "\"User name and password\" and type them in their fields, so the password goes to the "
                        "OS keyring")
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *parse_qsl(parts.fragment, keep_blank_values=True)]
    names = sorted({name for name, _value in pairs if name.lower() in SECRET_QUERY_NAMES})
    if names:
        listed = ", ".join(f"{name}=" for name in names)
        problems.append(f"the URL must not carry a secret in its query ({listed}): choose \"Bearer token\" and "
                        f"type the token in the Token / password field, so it goes to the OS keyring")
    return problems


def redact_url(url: str) -> str:
    """`url` without its user name and password and with every query value replaced by ***,
    for error messages and logs: `https://u:p@h/x?token=abc` → `https://h/x?token=***`."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return _SECRET_PAIR_IN_TEXT.sub(rf"\1={REDACTED}", url.split("?", 1)[0])
    query = "&".join(f"{pair.split('=', 1)[0]}={REDACTED}" if "=" in pair else pair
                     for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (redact_url) and any `token=...`-like pair hidden."""
    return _SECRET_PAIR_IN_TEXT.sub(rf"\1={REDACTED}", _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text))


# ---------------------------------------------------------------- HTTP error mapping


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from (httpx → httpcore → ssl / socket errors)."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def _tls_reason(error: ssl.SSLError) -> str:
    """What went wrong in the TLS handshake, from the ssl error's fields."""
    said = getattr(error, "verify_message", None) or getattr(error, "reason", None) or error.strerror or str(error)
    said = str(said).replace("_", " ").lower() if str(said).isupper() else str(said)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the server's certificate was not accepted ({said})"
    return said


def unreachable_from(exc: BaseException, url: str) -> Unreachable:
    """Name the exact failure of an HTTP transport error: TLS, timeout, DNS, refused.

    Decided by the exception types in the chain (httpx wraps httpcore, which wraps the ssl or
    socket error), not by their wording. `url` is redacted: no user info, no query values."""
    import httpx

    where = redact_url(url)
    chain = _causes(exc)
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if isinstance(exc, httpx.TimeoutException) or any(isinstance(e, TimeoutError) for e in chain):
        if isinstance(exc, httpx.ConnectTimeout):
            phase = "connecting (TLS handshake)" if tls is not None or url.startswith("https") else "connecting"
        elif isinstance(exc, httpx.PoolTimeout):
            phase = "waiting for a free connection"
        else:
            phase = "waiting for an answer"
        return Unreachable(f"{where}: timed out {phase}", kind="timeout")
    if tls is not None or any(isinstance(e, ssl.CertificateError) for e in chain):
        reason = _tls_reason(tls) if tls is not None else str(chain[-1])
        return Unreachable(redact_text(f"{where}: TLS failed: {reason}"), kind="tls")
    if any(isinstance(e, socket.gaierror) for e in chain):
        return Unreachable(f"{where}: DNS lookup failed (host name not found)", kind="dns")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return Unreachable(f"{where}: connection refused (nothing listening)", kind="refused")
    if any(isinstance(e, ConnectionResetError | BrokenPipeError) for e in chain) or isinstance(
            exc, httpx.RemoteProtocolError):
        return Unreachable(redact_text(f"{where}: the connection was closed: {exc}"), kind="protocol")
    return Unreachable(redact_text(f"{where}: {exc.__class__.__name__}: {exc}"), kind="protocol")


def error_from_response(status: int, body: Any, url: str) -> BackendError:
    """Map a non-2xx answer to a typed error, keeping the place's own words (redacted)."""
    message = ""
    detail: Any = None
    current: Any = None
    if isinstance(body, dict):
        message = str(body.get("error") or "")
        detail = body.get("problems") or body.get("detail")
        current = body.get("current")
    elif body:
        message = str(body)[:300]
    where = f"{redact_url(url)}: HTTP {status}"
    text = redact_text(f"{where}: {message}") if message else where
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
