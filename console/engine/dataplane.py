"""The data port: a plain asyncio Protocol HTTP/1.1 server, parsed by httptools.

`/endpoints/{endpoint}/{tail}` (any method) is routed by the Router (endpoint key, pinning,
the weighted split, mirrors) and sent to a ready replica's `/{tail}` (query string kept)
through the UpstreamPool. Everything on a request's path is a callback: the parser's, the
pool's, the transport's. Nothing on it creates a task, a future or a timer; deadlines and
idle connections are handled by one sweep a second.

Per connection, one request is processed at a time: pipelined requests wait their turn in
order (reading pauses when too many wait). A request refused before any replica sees it
(401, 404, 413, 503 without live traffic, ...) is answered as soon as its headers are read
when nothing is ahead of it, and its body is read and dropped. A body over MAX_BODY (by
Content-Length up front, or counted as it arrives when chunked) is a 413 and closes the
connection; so does malformed HTTP (400) and a request head over MAX_HEAD (431). Closing
is a FIN first: what the client still sends is read and dropped until it closes too, so it
does not get a reset instead of its answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from email.utils import formatdate
from functools import lru_cache
from http import HTTPStatus
from random import getrandbits
from time import perf_counter
from typing import cast
from urllib.parse import unquote_to_bytes

import httptools

from console.engine.router import MAX_BODY, Refusal, Router, RouteTable, Ticket, error_body
from console.engine.upstream import SMALL_BODY, UpstreamPool

MAX_HEAD = 64 * 1024  # request line and headers (a head split across reads counts its pieces up to twice)
DISCARD_LIMIT = MAX_BODY + 1024 * 1024  # body bytes read and dropped after a refusal before closing
KEEPALIVE_TIMEOUT = 75.0  # an idle client connection is closed after this long
LINGER_TIMEOUT = 5.0  # after our last answer (and FIN), how long the client's own close is awaited
MAX_PIPELINE = 32  # parsed requests waiting on one connection before reading pauses
SWEEP_PERIOD = 1.0
SHUTDOWN_GRACE = 10.0  # how long shutdown waits for requests in flight
MAX_TARGETS = 1024  # parsed request targets kept
PREFIX = b"/endpoints/"
WANTED = frozenset({
    b"authorization", b"x-deployment", b"x-request-id", b"content-type", b"accept", b"content-length",
    b"transfer-encoding", b"expect", b"connection",
})
JSON = b"application/json"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
KEEP_ALIVE_10 = b"Connection: keep-alive\r\n"
CLOSE = b"Connection: close\r\n"


@lru_cache(maxsize=256)
def status_line(status: int, http10: bool) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.{0 if http10 else 1} {status} {phrase}\r\n".encode("latin-1", "replace")


def header_value(text: str) -> bytes:
    """Text as a header value: Latin-1, no line breaks."""
    return text.replace("\r", " ").replace("\n", " ").encode("latin-1", "replace")


@lru_cache(maxsize=1024)
def deployment_headers(deployment: str, version: str | None) -> bytes:
    lines = b"x-deployment: " + header_value(deployment) + b"\r\n"
    if version is not None:
        lines += b"x-model-version: " + header_value(version) + b"\r\n"
    return lines


def http_date() -> bytes:
    return b"Date: " + formatdate(usegmt=True).encode() + b"\r\n"


def parse_target(url: bytes) -> tuple[str, bytes] | Refusal:
    """A request target as (endpoint, what the replica gets after its base URL), or its refusal."""
    if url.startswith(b"/"):
        path, _, query = url.partition(b"?")
    else:  # absolute-form, as sent to a proxy
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return Refusal(400, "malformed request target", close=True)
        path, query = parsed.path or b"/", parsed.query or b""
    raw_endpoint, slash, tail = path[len(PREFIX):].partition(b"/")
    if not path.startswith(PREFIX) or not slash or not raw_endpoint:
        shown = path[:200].decode("latin-1")
        return Refusal(404, f"no route for {shown!r}: scoring is POST /endpoints/ENDPOINT/score")
    if (b"." in tail or b"%2" in tail) and any(unquote_to_bytes(s) in (b".", b"..") for s in tail.split(b"/")):
        return Refusal(400, "the path must not contain '.' or '..' segments")
    endpoint = unquote_to_bytes(raw_endpoint) if b"%" in raw_endpoint else raw_endpoint
    return endpoint.decode("utf-8", "replace"), (b"/" + tail + b"?" + query if query else b"/" + tail)


def head_too_large() -> Refusal:
    return Refusal(431, f"request line and headers exceed {MAX_HEAD} bytes", close=True)


def too_large() -> Refusal:
    return Refusal(413, f"request body is larger than the limit of {MAX_BODY} bytes", close=True)


class Incoming:
    """One request as parsed, then as routed."""

    # Until parsing or routing says otherwise (class-level defaults: nothing to set per request).
    method = b""
    keep_alive = True
    http10 = False
    size = 0  # body bytes so far
    refusal: Refusal | None = None
    answered = False  # its refusal was written before its body had been read
    table: RouteTable | None = None
    deployment = ""
    endpoint = ""
    target = b""  # what the replica gets after its base URL: "/" + tail, and "?" + query

    def __init__(self, url: bytes, headers: dict[bytes, bytes]) -> None:
        self.url = url
        self.headers = headers  # the WANTED ones, lower-case names
        self.chunks: list[bytes] = []


NO_REQUEST = Incoming(b"", {})  # what a connection-level refusal (malformed input) answers
NO_REQUEST.keep_alive = False


class DataConnection(asyncio.Protocol):
    """One client connection."""

    transport: asyncio.Transport  # from connection_made, which asyncio calls before anything else

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.parser = httptools.HttpRequestParser(self)
        self.incoming: Incoming | None = None  # being parsed
        self.headers: dict[bytes, bytes] = {}  # the WANTED headers of the request being parsed
        self.queue: deque[Incoming] = deque()  # parsed, waiting their turn
        self.active: Incoming | None = None  # at a replica, its answer pending
        self.ticket: Ticket | None = None
        self.in_head = False
        self.head_bytes = 0
        self.broken: Refusal | None = None  # malformed input: answered (then closed) once earlier answers are out
        self.closed = False  # no more requests are read or answered
        self.lingering = False  # closed by us with a FIN; what the client still sends is dropped
        self.reading = True
        self.write_paused = False
        self.hold = False  # a refused body is too large to keep reading before its answer can go out
        self.last_seen = plane.now

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.plane.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closed or self.broken is not None:
            if self.lingering:
                self.head_bytes += len(data)
                if self.head_bytes > DISCARD_LIMIT:
                    self._abort()
            return
        self.last_seen = self.plane.now
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._parse_stopped(data, exc)
        if self.in_head and self.head_bytes > MAX_HEAD and self.broken is None:
            self.incoming = None
            self.broken = head_too_large()
        if self.active is None:
            self._advance()
        elif self.broken is not None or len(self.queue) >= MAX_PIPELINE:
            self._flow()

    def _parse_stopped(self, data: bytes, exc: Exception) -> None:
        while isinstance(exc, httptools.HttpParserUpgrade):
            # Upgrades are not offered: a bodiless request that asked for one is answered as
            # HTTP/1.1 and what follows it is the next request.
            if self.closed or self.broken is not None:
                return
            data = data[int(exc.args[0]):]
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserCallbackError:
                raise
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as again:
                exc = again
        self.incoming = None
        self.broken = Refusal(400, f"malformed HTTP request: {exc}", close=True)

    def connection_lost(self, exc: Exception | None) -> None:
        # A request at a replica runs to its end: its outcome is recorded, its answer dropped.
        self.closed = True
        self.plane.connections.discard(self)
        self.queue.clear()
        self.incoming = None

    def pause_writing(self) -> None:
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._flow()

    # -- httptools callbacks -------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self.head_bytes += len(url)
        if self.incoming is None:
            self.headers = {}
            self.incoming = Incoming(url, self.headers)
            self.in_head = True
        else:  # the request line arrived in pieces
            self.incoming.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value)
        name = name.lower()
        if name in WANTED and name not in self.headers:  # the first of repeated headers counts
            self.headers[name] = value

    def on_headers_complete(self) -> None:
        inc = self.incoming
        assert inc is not None
        parser = self.parser
        inc.method = parser.get_method()
        inc.keep_alive = keep_alive = parser.should_keep_alive()  # here: llhttp forgets the flags later
        if not keep_alive or b"connection" in inc.headers:  # else HTTP/1.1 (1.0 keeps alive only when asked)
            inc.http10 = parser.get_http_version() == "1.0"  # a slow call: only where it can matter
        self.in_head = False
        if self.head_bytes > MAX_HEAD:
            inc.refusal = head_too_large()
        elif parser.should_upgrade():
            headers = inc.headers
            if inc.method == b"CONNECT" or b"transfer-encoding" in headers or headers.get(
                b"content-length", b"0"
            ).strip() not in (b"0", b""):
                inc.refusal = Refusal(400, "protocol upgrades and CONNECT are not supported", close=True)
            else:
                inc.refusal = self.plane.admit(inc)
        else:
            inc.refusal = self.plane.admit(inc)
        self.head_bytes = 0
        if self.active is None and not self.queue:
            if inc.refusal is not None:
                self._answer_early(inc)
            elif b"expect" in inc.headers and not inc.http10 and inc.headers[b"expect"].lower() == b"100-continue":
                self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        inc = self.incoming
        if inc is None or self.closed:
            return
        inc.size += len(body)
        if inc.refusal is not None:
            if inc.size > DISCARD_LIMIT:
                if inc.answered:
                    self._abort()
                else:
                    self.hold = True
                    self._flow()
            return
        if inc.size > MAX_BODY:
            inc.chunks = []
            inc.refusal = too_large()
            if self.active is None and not self.queue:
                self._answer_early(inc)
            return
        inc.chunks.append(body)

    def on_message_complete(self) -> None:
        inc = self.incoming
        self.incoming = None
        if inc is None or self.closed:
            return
        if inc.answered:
            assert inc.refusal is not None
            if inc.refusal.close or not inc.keep_alive:
                self._shut()
            return
        self.queue.append(inc)

    # -- requests in order ---------------------------------------------------------------

    def _advance(self) -> None:
        """Process waiting requests while none is at a replica."""
        while self.active is None and not self.closed:
            if self.queue:
                waiting = self.queue.popleft()
                if waiting.refusal is not None:
                    self._write(waiting, waiting.refusal.status, JSON, waiting.refusal.body, b"",
                                waiting.refusal.close)
                else:
                    self._dispatch(waiting)
                continue
            partial = self.incoming
            if partial is not None and partial.refusal is not None and not partial.answered:
                self._answer_early(partial)
            elif self.broken is not None:
                self._write(NO_REQUEST, self.broken.status, JSON, self.broken.body, b"", True)
            break
        if not self.reading or self.broken is not None:
            self._flow()

    def _answer_early(self, inc: Incoming) -> None:
        """Answer a refused request whose body is still arriving (it is read and dropped)."""
        refusal = inc.refusal
        assert refusal is not None
        inc.answered = True
        self._write(inc, refusal.status, JSON, refusal.body, b"", refusal.close or inc.size > DISCARD_LIMIT)

    def _dispatch(self, inc: Incoming) -> None:
        plane = self.plane
        headers = inc.headers
        rid = headers.get(b"x-request-id") or getrandbits(128).to_bytes(16, "big").hex().encode()
        chunks = inc.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        inc.chunks = []
        # For the replica: Content-Type and Accept passed through, and the request id.
        content_type = headers.get(b"content-type") or (b"application/octet-stream" if body else None)
        forwarded = b"%sAccept: %s\r\nx-request-id: %s\r\n" % (
            b"Content-Type: " + content_type + b"\r\n" if content_type is not None else b"",
            headers.get(b"accept") or b"*/*", rid,
        )
        table = cast(RouteTable, inc.table)  # admitted requests have one
        if table.mirror:
            plane.mirror(inc, table, forwarded, body, rid)
        ticket = plane.router.open(inc.endpoint, inc.deployment, False, rid)
        if ticket is None:
            name = inc.deployment
            refusal = Refusal(503, f"deployment {name!r} has no ready replica", deployment=name)
            self._write(inc, 503, JSON, refusal.body, plane.routed_headers(name, rid))
            return
        self.active = inc
        self.ticket = ticket
        plane.pool.send(ticket.url, inc.method, inc.target, forwarded, body, self._replied)

    def _replied(self, status: int, content_type: bytes | None, body: bytes, error: str | None) -> None:
        inc, ticket = cast(Incoming, self.active), cast(Ticket, self.ticket)
        self.active = self.ticket = None
        plane = self.plane
        plane.router.close(ticket, status)
        if self.closed:
            return
        if error is not None:
            body = error_body(f"replica {ticket.replica.id} failed: {error}", deployment=ticket.deployment)
            content_type = JSON
        self._write(inc, status, content_type or JSON, body, plane.routed_headers(ticket.deployment, ticket.request_id))
        if self.queue or self.incoming is not None or self.broken is not None or not self.reading:
            self._advance()

    # -- writing -------------------------------------------------------------------------

    def _write(
        self, inc: Incoming, status: int, content_type: bytes, body: bytes, extra: bytes, closing: bool = False
    ) -> None:
        if self.closed:
            return
        plane = self.plane
        http10 = inc.http10
        keep = inc.keep_alive and not closing and not plane.closing
        head = b"%sContent-Type: %s\r\nContent-Length: %d\r\n%s%s%s\r\n" % (
            status_line(status, http10), content_type, len(body), extra, plane.date,
            (KEEP_ALIVE_10 if http10 else b"") if keep else CLOSE,
        )
        transport = self.transport
        if inc.method == b"HEAD":
            transport.write(head)
        elif len(body) <= SMALL_BODY:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)
        self.last_seen = plane.now
        if not keep:
            self._shut()

    def _shut(self) -> None:
        """After the last answer: FIN now, then drop what the client still sends until it closes (or
        LINGER_TIMEOUT). Closing with unread bytes would reset the connection, and a client still
        sending a body could lose the answer."""
        if self.closed:
            return
        self.closed = self.lingering = True
        self.head_bytes = 0
        transport = self.transport
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        if not self.reading:
            self.reading = True
            transport.resume_reading()

    def _abort(self) -> None:
        self.closed = True
        self.lingering = False
        self.transport.close()

    def _flow(self) -> None:
        """Read while the client reads our answers and few requests wait; pause otherwise."""
        want = not self.write_paused and not self.hold and self.broken is None and len(self.queue) < MAX_PIPELINE
        if want != self.reading and not self.closed:
            self.reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    @property
    def idle(self) -> bool:
        return self.active is None and not self.queue and self.incoming is None


class MirrorCopy:
    """Where a mirror's answer goes: recorded, then dropped."""

    __slots__ = ("router", "ticket")

    def __init__(self, router: Router, ticket: Ticket) -> None:
        self.router = router
        self.ticket = ticket

    def done(self, status: int, content_type: bytes | None, body: bytes, error: str | None) -> None:
        self.router.close(self.ticket, status)


class DataPlane:
    """The data port's server, its upstream pool and its once-a-second sweep."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.pool = UpstreamPool()
        self.connections: set[DataConnection] = set()
        self.closing = False
        self.now = perf_counter()  # a coarse clock, moved by the sweep
        self.date = http_date()
        self._targets: dict[bytes, tuple[str, bytes] | Refusal] = {}
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: DataConnection(self), sock=sock, backlog=1024)
        self._sweeper = loop.call_later(SWEEP_PERIOD, self._sweep)

    # -- routing a request ---------------------------------------------------------------

    def admit(self, inc: Incoming) -> Refusal | None:
        """Route a request whose headers are read; its refusal, if any."""
        target = self._targets.get(inc.url)
        if target is None:
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            target = self._targets[inc.url] = parse_target(inc.url)
        if isinstance(target, Refusal):
            return target
        headers = inc.headers
        routed = self.router.route(target[0], headers.get(b"authorization"), headers.get(b"x-deployment"))
        if isinstance(routed, Refusal):
            return routed
        length = headers.get(b"content-length")
        if length is not None and len(length) > 7:  # shorter is under 10 MiB
            try:
                if int(length) > MAX_BODY:
                    return too_large()
            except ValueError:
                return Refusal(400, "malformed Content-Length", close=True)
        inc.table, inc.deployment = routed
        inc.endpoint, inc.target = target
        return None

    def routed_headers(self, deployment: str, request_id: bytes) -> bytes:
        version = self.router.model_version(deployment)
        return deployment_headers(deployment, version) + b"x-request-id: " + request_id + b"\r\n"

    def mirror(self, inc: Incoming, table: RouteTable, headers: bytes, body: bytes, request_id: bytes) -> None:
        """Copies to the mirror deployments that roll in: recorded as mirror, answers and failures dropped."""
        router = self.router
        for deployment in router.mirrors(table):
            ticket = router.open(inc.endpoint, deployment, True, request_id)
            if ticket is not None:
                self.pool.send(ticket.url, inc.method, inc.target, headers, body, MirrorCopy(router, ticket).done)

    # -- time and shutdown ---------------------------------------------------------------

    def _sweep(self) -> None:
        self.now = now = perf_counter()
        self.date = http_date()
        self.pool.sweep(now)
        for conn in list(self.connections):
            waited = now - conn.last_seen
            if waited > KEEPALIVE_TIMEOUT and conn.active is None and not conn.queue:
                conn._abort()
            elif conn.lingering and waited > LINGER_TIMEOUT:
                conn._abort()
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_PERIOD, self._sweep)

    async def close(self) -> None:
        """Stop accepting, let requests in flight finish (up to SHUTDOWN_GRACE), close everything."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.idle:
                conn._abort()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE
        while self.pool.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn._abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.pool.close()
        if self._server is not None:
            await self._server.wait_closed()
