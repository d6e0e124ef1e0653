"""GET /api/v1/namespaces/{ns}/pods/{name}/log: container, follow, tailLines, sinceSeconds, timestamps, previous."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import status as st
from .logs import stamp

if TYPE_CHECKING:
    from .server import ApiServer, Target

POLL = 0.25


def _container(pod: dict[str, Any], requested: str) -> str:
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers", [])]
    name = pod["metadata"]["name"]
    if not requested:
        if len(names) == 1:
            return str(names[0])
        raise st.bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
    init = [c["name"] for c in (pod.get("spec") or {}).get("initContainers", [])]
    if requested not in names + init:
        raise st.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _nonneg(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise st.bad_request(f"invalid {name} {raw!r}") from exc
    if value < 0 or (name == "sinceSeconds" and value == 0):
        raise st.invalid("PodLogOptions", "", "", name, f"Invalid value: {value}: must be greater than 0")
    return value


async def serve_log(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    if request.method != "GET":
        raise st.method_not_allowed(request.method.lower(), "pods/log", "")
    pod = server.store.get(target.rt, target.namespace, target.name).obj
    container = _container(pod, request.query.get("container", ""))
    follow = request.query.get("follow") in ("true", "1")
    previous = request.query.get("previous") in ("true", "1")
    timestamps = request.query.get("timestamps") in ("true", "1")
    tail = _nonneg(request, "tailLines")
    since_s = _nonneg(request, "sinceSeconds")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=since_s) if since_s else None
    key = (target.namespace, target.name, container)
    lines, nxt, ended = server.logs.read(key, previous, since, tail)

    def encode(chunk: list[tuple[dt.datetime, str]]) -> bytes:
        return "".join(f"{stamp(t)} {text}\n" if timestamps else f"{text}\n" for t, text in chunk).encode()

    if not follow or previous:
        return web.Response(body=encode(lines), content_type="text/plain")

    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    def wake() -> None:
        loop.call_soon_threadsafe(woken.set)

    cancel = server.logs.follow(key, wake)
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    stopping = server._stopping
    try:
        if lines:
            await response.write(encode(lines))
        while not ended and not (stopping is not None and stopping.is_set()):
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                await asyncio.wait_for(woken.wait(), POLL)
            except TimeoutError:
                continue
            woken.clear()
            lines, nxt, ended = server.logs.read(key, False, since, None, start=nxt)
            if lines:
                await response.write(encode(lines))
        await response.write_eof()
    except ConnectionError:
        pass
    finally:
        cancel()
    return response
