"""Connect to one kubeconfig context with the official client's own loader (tokens, client
certificates, exec plugins, TLS verification) and talk JSON to the API server.

Requests go through the client's `ApiClient` (its auth, TLS and refresh hooks) but bodies are
parsed with `json.loads`: typed deserialisation of thousands of objects is too slow. Every
failure becomes one of the typed errors of console/backends/base.py, naming what happened."""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3

from console.backends.base import (
    BackendError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
    Unreachable,
    redact_text,
    redact_url,
)
from console.backends.places import PlaceConfig, kubeconfig_paths

if TYPE_CHECKING:
    from kubernetes import client
    from kubernetes.client import rest
    from kubernetes.client.exceptions import ApiException

# The client itself is imported where a context is first connected (`connect`, `error_from`): a console
# whose kubeconfig lists contexts the person never selects does not load it.

#: (connect, read) seconds for ordinary requests
TIMEOUT = (5.0, 20.0)
JSON = {"Accept": "application/json"}


class Gone(BackendError):
    """410: the resourceVersion is older than the server keeps; relist."""


def kubeconfig_files(place: PlaceConfig, env: dict[str, str] | None = None) -> list[Path]:
    """The files the context is read from: the KUBECONFIG list (or ~/.kube/config), with the
    place's own file first when it is not among them; a context may use a user from another file."""
    files = kubeconfig_paths(env)
    if place.kubeconfig and Path(place.kubeconfig).expanduser() not in files:
        files.insert(0, Path(place.kubeconfig).expanduser())
    return [f for f in files if f.exists()] or files


@dataclass
class Connection:
    """One context's API client; thread-safe for requests (urllib3 pools)."""

    api: client.ApiClient
    context: str
    server: str
    namespace: str
    timeout: tuple[float, float] = TIMEOUT  # (connect, read) seconds for ordinary requests
    client_certificate: bool = False  # the context authenticates with a client certificate

    def _send(self, method: str, path: str, query: Iterable[tuple[str, Any]] = (), body: Any = None,
              timeout: tuple[float, float] | None = None, headers: dict[str, str] | None = None
              ) -> rest.RESTResponse:
        timeout = timeout or self.timeout
        method_, url, header_params, body_, post = self.api.param_serialize(
            method, path, query_params=list(query), header_params={**JSON, **(headers or {})}, body=body,
            auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(method_, url, header_params=header_params, body=body_, post_params=post,
                                         _request_timeout=timeout)
        except (urllib3.exceptions.HTTPError, OSError, _api_exception()) as exc:
            error = error_from(exc, self.server)
            if self.client_certificate and getattr(error, "kind", "") == "protocol":
                error = Unreachable(f"{error} — this context signs in with a client certificate: a server that "
                                    "does not trust its issuer closes the connection during TLS like this",
                                    kind="tls")
            raise error from exc
        if not 200 <= response.status <= 299:
            raise status_error(response.status, _read(response), self.server, path)
        return response

    def get(self, path: str, query: Iterable[tuple[str, Any]] = (), timeout: tuple[float, float] | None = None
            ) -> Any:
        return json.loads(_read(self._send("GET", path, query, timeout=timeout)) or b"null")

    def post(self, path: str, body: Any, timeout: tuple[float, float] | None = None) -> Any:
        response = self._send("POST", path, body=body, timeout=timeout, headers={"Content-Type": "application/json"})
        return json.loads(_read(response) or b"null")

    def stream(self, path: str, query: Iterable[tuple[str, Any]], timeout: tuple[float, float]) -> rest.RESTResponse:
        """An open streaming response (a watch); read it with `lines()`, close it to stop."""
        return self._send("GET", path, query, timeout=timeout)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]


def _read(response: rest.RESTResponse) -> bytes:
    try:
        return bytes(response.read() or b"")  # type: ignore[no-untyped-call]
    finally:
        response.response.release_conn()


def lines(response: rest.RESTResponse) -> Iterator[bytes]:
    """The newline-delimited chunks of a streaming response, as they arrive."""
    pending = b""
    for chunk in response.response.stream(64 * 1024, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _api_exception() -> type[ApiException]:
    from kubernetes.client.exceptions import ApiException

    return ApiException


class _LoaderErrors(logging.Handler):
    """The kubeconfig loader logs (and swallows) a failing exec credential plugin; keep what it logs on
    this thread so the person sees the plugin's own message instead of a bare 401 later."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and record.pathname.endswith(("kube_config.py", "exec_provider.py")):
            self.messages.append(record.getMessage())


@contextmanager
def _loader_errors() -> Iterator[_LoaderErrors]:
    handler = _LoaderErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def connect(place: PlaceConfig, env: dict[str, str] | None = None, timeout: tuple[float, float] = TIMEOUT
            ) -> Connection:
    """The client for the place's context, loaded by the official kubeconfig loader."""
    files = kubeconfig_files(place, env)
    joined = os.pathsep.join(str(f) for f in files)
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    cfg = client.Configuration()
    try:
        contexts, active = config.list_kube_config_contexts(config_file=joined)  # type: ignore[no-untyped-call]
        name = place.context or (active or {}).get("name")
        entry = next((c for c in contexts if c.get("name") == name), None)
        if entry is None:
            raise Invalid(f"kubeconfig {joined}: no context named {name!r}")
        with _loader_errors() as logged:
            config.load_kube_config(config_file=joined, context=name, client_configuration=cfg,  # type: ignore[no-untyped-call]
                                    persist_config=False)
        if logged.messages:  # the loader logs only credential failures (exec plugin) at error level
            raise Unauthorized(redact_text(f"kubeconfig context {name!r}: the credentials could not be loaded: "
                                           f"{'; '.join(logged.messages)}"))
    except ConfigException as exc:
        raise Invalid(redact_text(f"kubeconfig {joined}, context {place.context!r}: {exc}")) from exc
    cfg.retries = 0  # one attempt: the exact first failure is what the person sees
    cfg.connection_pool_maxsize = 64  # a long-lived connection per watch, plus lists and reviews
    namespace = (entry.get("context") or {}).get("namespace") or "default"
    return Connection(client.ApiClient(cfg), str(name), redact_url(str(cfg.host)), namespace, timeout,
                      client_certificate=bool(cfg.cert_file))


# ---------------------------------------------------------------- errors


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        cur = todo.pop(0)
        if cur in seen:
            continue
        seen.append(cur)
        todo.extend(e for e in (getattr(cur, "reason", None), cur.__cause__, cur.__context__, *cur.args)
                    if isinstance(e, BaseException))
    return seen


def error_from(exc: BaseException, server: str) -> BackendError:
    """Name the exact transport failure: DNS, TLS, refused, timeout (decided by exception types)."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, _api_exception()) and exc.status:
        return status_error(int(exc.status), exc.body or b"", server, "")
    chain = _chain(exc)
    if any(isinstance(e, socket.gaierror | urllib3.exceptions.NameResolutionError) for e in chain):
        return Unreachable(f"{server}: DNS lookup failed (host name not found)", kind="dns")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return Unreachable(f"{server}: connection refused (nothing listening)", kind="refused")
    # NewConnectionError is a ConnectTimeoutError in urllib3: DNS and refused are decided above
    if any(isinstance(e, urllib3.exceptions.ConnectTimeoutError) for e in chain):
        return Unreachable(f"{server}: timed out connecting", kind="timeout")
    if any(isinstance(e, urllib3.exceptions.ReadTimeoutError | TimeoutError) for e in chain):
        return Unreachable(f"{server}: timed out waiting for an answer", kind="timeout")
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        said = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or str(tls)
        what = "the server's certificate was not accepted" if isinstance(tls, ssl.SSLCertVerificationError) else ""
        reason = f"{what} ({said})" if what else str(said)
        return Unreachable(redact_text(f"{server}: TLS failed: {reason}"), kind="tls")
    last = chain[-1]
    if any(isinstance(e, urllib3.exceptions.ProtocolError | ConnectionResetError | BrokenPipeError) for e in chain):
        return Unreachable(redact_text(f"{server}: the connection was closed ({last.__class__.__name__}: {last})"),
                           kind="protocol")
    return Unreachable(redact_text(f"{server}: {last.__class__.__name__}: {last}"), kind="protocol")


def status_error(status: int, body: bytes | str, server: str, path: str) -> BackendError:
    """A Kubernetes `Status` answer as a typed error, with the server's own message."""
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        doc = {}
    message = str(doc.get("message") or "") if isinstance(doc, dict) else ""
    if not message:
        message = (body.decode(errors="replace") if isinstance(body, bytes) else body)[:200]
    text = redact_text(f"{server}: HTTP {status}: {message}" if message else f"{server}: HTTP {status}")
    if status == 401:
        return Unauthorized(f"{text} (the credentials of this context were refused: token or certificate "
                            f"missing, unknown or expired)")
    if status == 403:
        return Forbidden(text)
    if status == 404:
        return NotFound(f"{text} ({path})" if path else text)
    if status == 410:
        return Gone(text)
    if status in (409, 412, 428):
        return Conflict(text, current=doc)
    if status in (400, 413, 415, 422):
        return Invalid(text, detail=doc)
    return Unreachable(text, kind="protocol")
