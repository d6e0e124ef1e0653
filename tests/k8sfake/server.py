"""The fake kube-apiserver: aiohttp over TLS on 127.0.0.1, on its own event-loop thread."""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import handlers
from . import status as st
from .auth import Authority
from .logs import Logs
from .resources import Catalogue, ResourceType
from .store import Store, dumps

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T07:28:49Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def json_response(body: Any, code: int = 200) -> web.Response:
    raw = body if isinstance(body, bytes) else dumps(body)
    return web.Response(body=raw, status=code, content_type="application/json")


@dataclass
class Target:
    """A parsed resource URL."""

    rt: ResourceType
    version: str
    namespace: str  # "" for cluster-scoped or all-namespaces requests
    name: str
    subresource: str

    @property
    def api_version(self) -> str:
        return self.rt.api_version(self.version)


class ApiServer:
    def __init__(self, store: Store, authority: Authority, logs: Logs, bookmark_interval: float = 1.0) -> None:
        self.store = store
        self.catalogue: Catalogue = store.catalogue
        self.authority = authority
        self.logs = logs
        self.bookmark_interval = bookmark_interval
        self.counts: Counter[tuple[str, str]] = Counter()
        self.errors: list[str] = []  # unexpected exceptions (500s), for tests to assert on
        self.after_write: list[Callable[[Target, str], None]] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._count_lock = threading.Lock()
        self._transports: set[asyncio.BaseTransport] = set()  # to abort at shutdown (bounded, no TLS goodbye wait)

    # -------------------------------------------------------------- lifecycle
    def start(self, ssl_context: Any) -> int:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ssl_context))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="k8sfake-apiserver", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise TimeoutError("fake API server did not start within 15 s")
        if failure:
            raise RuntimeError("fake API server failed to start") from failure[0]
        return self.port

    async def _serve(self, ssl_context: Any) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.store.hooks.append(self._on_pod_event)

    def _on_pod_event(self, ev: Any) -> None:
        if ev.key != ("", "pods"):
            return
        if ev.type == "DELETED":
            self.logs.end(ev.namespace, ev.name)
        elif ev.type == "ADDED":
            self.logs.forget(ev.namespace, ev.name)

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            assert self._stopping is not None
            self._stopping.set()
            if self._runner is not None:
                await asyncio.wait_for(self._runner.cleanup(), timeout)
            for transport in self._transports:
                transport.abort()  # type: ignore[attr-defined]
            self._transports.clear()
            for _ in range(5):  # let the aborted transports' connection_lost callbacks run and close sockets
                await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout + 1)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = None

    def count(self, verb: str, resource: str) -> None:
        with self._count_lock:
            self.counts[(verb, resource)] += 1

    # ---------------------------------------------------------------- routing
    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            self._transports.add(request.transport)
        try:
            return await self._dispatch(request)
        except st.ApiError as err:
            return json_response(err.body(), err.code)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:
            self.errors.append(traceback.format_exc())
            return json_response(st.failure(500, "InternalError", f"Internal error occurred: {exc}"), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            self.count("get", path)
            return web.Response(text="ok")
        if path == "/version":
            self.count("get", "version")
            return json_response(VERSION_INFO)
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        user = self.authority.authenticate(request.headers.get("Authorization"), peercert)
        parts = [p for p in path.split("/") if p]
        discovery = self._discovery(parts)
        if discovery is not None:
            self.count("get", "discovery")
            return json_response(discovery)
        target = self._target(parts)
        return await handlers.handle(self, request, user, target)

    def _discovery(self, parts: list[str]) -> dict[str, Any] | None:
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                    "serverAddress": f"127.0.0.1:{self.port}"}]}
        if parts == ["api", "v1"]:
            return self.catalogue.resource_list("", "v1")
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self.catalogue.group_entry(g) for g in self.catalogue.groups()]}
        if len(parts) == 2 and parts[0] == "apis":
            if parts[1] not in self.catalogue.groups():
                raise st.server_not_found()
            return {"kind": "APIGroup", "apiVersion": "v1", **self.catalogue.group_entry(parts[1])}
        if len(parts) == 3 and parts[0] == "apis":
            if not self.catalogue.serves(parts[1], parts[2]):
                raise st.server_not_found()
            return self.catalogue.resource_list(parts[1], parts[2])
        return None

    def _target(self, parts: list[str]) -> Target:
        if len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise st.server_not_found()
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.catalogue.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = self.catalogue.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise st.server_not_found()
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in rt.subresources:
            raise st.server_not_found()
        if rt.namespaced and name and not namespace:
            raise st.server_not_found()
        return Target(rt, version, namespace, name, sub)

