"""Watch streams: newline-delimited JSON events, as kube-apiserver's watch cache serves them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import status as st
from .resources import ResourceType
from .store import Event, Store, dumps

DEFAULT_WATCH_TIMEOUT = 1800.0  # the real server picks 30-60 min when the client gives none
POLL = 0.25  # how often an idle stream checks for a gone client or a stopping server


@dataclass
class WatchParams:
    rt: ResourceType
    api_version: str
    namespace: str
    since: int | None  # None: start with synthetic ADDED events for the current state
    matches: Callable[[dict[str, Any]], bool]
    timeout: float
    bookmarks: bool
    bookmark_interval: float


def _frame(kind: str, body: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + body + b"}\n"


def _translate(ev: Event, params: WatchParams) -> str | None:
    """The event type a selector-filtered watcher sees (ADDED/MODIFIED/DELETED), or None."""
    if params.namespace and ev.namespace != params.namespace:
        return None
    new_ok = ev.new is not None and ev.type != "DELETED" and params.matches(ev.new.obj)
    prev_ok = ev.prev is not None and params.matches(ev.prev.obj)
    if ev.type == "DELETED":
        return "DELETED" if prev_ok else None
    if ev.type == "ADDED":
        return "ADDED" if new_ok else None
    if new_ok:
        return "MODIFIED" if prev_ok else "ADDED"
    return "DELETED" if prev_ok else None


async def serve_watch(request: web.Request, store: Store, params: WatchParams, stopping: asyncio.Event,
                      count_event: Callable[[], None]) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()
    marks = {"enqueued": 0, "sent": 0}

    def on_event(ev: Event) -> None:  # called under the store lock, from any thread
        marks["enqueued"] = ev.rv
        loop.call_soon_threadsafe(queue.put_nowait, ev)

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                        "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        backlog, cancel = store.subscribe(params.rt, params.since, on_event)
    except st.ApiError as err:  # 410: a 200 stream carrying one ERROR event, as the watch cache answers
        await response.write(_frame("ERROR", dumps(err.body())))
        await response.write_eof()
        return response

    deadline = time.monotonic() + params.timeout
    next_bookmark = time.monotonic() + params.bookmark_interval

    async def send(ev: Event) -> None:
        kind = _translate(ev, params)
        marks["sent"] = max(marks["sent"], ev.rv)
        if kind is not None:
            count_event()
            await response.write(_frame(kind, ev.object.json(params.api_version)))

    async def bookmark() -> None:
        with store.lock:
            if marks["sent"] < marks["enqueued"] or not queue.empty():
                return
            rv = store.rv
        body = {"kind": params.rt.kind, "apiVersion": params.api_version,
                "metadata": {"resourceVersion": str(rv), "creationTimestamp": None}}
        await response.write(_frame("BOOKMARK", dumps(body)))

    try:
        for ev in backlog:
            await send(ev)
        while not stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            now = time.monotonic()
            if now >= deadline:
                if params.bookmarks:
                    await bookmark()
                break
            wait = min(POLL, deadline - now)
            if params.bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                ev = await asyncio.wait_for(queue.get(), timeout=wait)
            except TimeoutError:
                if params.bookmarks and time.monotonic() >= next_bookmark:
                    await bookmark()
                    next_bookmark = time.monotonic() + params.bookmark_interval
                continue
            await send(ev)
            while not queue.empty():
                await send(queue.get_nowait())
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        cancel()
    return response
