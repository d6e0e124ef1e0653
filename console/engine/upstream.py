"""The data plane's HTTP client: one request to one replica, answered through a callback.

Plain `http://` replicas get pooled keep-alive HTTP/1.1 connections driven by asyncio
Protocol callbacks and httptools' response parser: no task, future or timer per request.
`https://` upstreams (also any base URL with credentials or a query, and the rare HEAD
request, whose answer has no body to parse) go through an aiohttp ClientSession, which
verifies TLS certificates.

Every call ends exactly once, in its `done` callback, with the replica's status, content
type and body, or with the gateway's own 502 (cannot connect, connection lost, malformed
answer) or 504 (no answer within TOTAL_TIMEOUT, no connection within CONNECT_TIMEOUT) and
the reason. Deadlines are enforced by `sweep`, which the data plane calls about once a
second, so a timeout fires up to a second late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import httptools
from yarl import URL

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 60.0
IDLE_TIMEOUT = 30.0  # an idle pooled connection is closed after this long
MAX_IDLE_PER_ORIGIN = 256
MAX_ORIGINS = 4096  # parsed base URLs kept (replicas come and go on new ports)
SMALL_BODY = 64 * 1024  # bodies up to this size are written in one piece with the request head
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
MAX_ANSWER_HEAD = 1024 * 1024  # a replica's status line and headers
CONTENT_TYPE = b"\r\ncontent-type:"
CONTENT_LENGTH = b"\r\ncontent-length:"
TRANSFER_ENCODING = b"\r\ntransfer-encoding:"

# done(status, content_type, body, error): error is None for the replica's own answer, else
# why the gateway answers `status` (502 or 504) itself.
Done = Callable[[int, bytes | None, bytes, str | None], None]


class Origin:
    """A replica base URL, parsed once."""

    __slots__ = ("base_path", "fast", "host", "host_line", "key", "port", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            port = None
        self.port = port or (443 if parts.scheme == "https" else 80)
        self.key = (self.host, self.port)
        try:
            base_path, host_header = parts.path.encode("ascii"), parts.netloc.encode("ascii")
            ascii_only = True
        except UnicodeEncodeError:
            base_path, host_header, ascii_only = b"", b"", False
        self.base_path = base_path
        self.host_line = b" HTTP/1.1\r\nHost: " + host_header + b"\r\n"  # the request line's end, and Host
        # Anything unusual (TLS, credentials in the URL, a query) goes through aiohttp.
        self.fast = (
            parts.scheme == "http" and bool(self.host) and ascii_only and parts.username is None
            and not parts.query and not parts.fragment
        )


class Call:
    """One request to one replica, from `UpstreamPool.send` to its `done` callback."""

    # Rarely changed from these (class-level defaults: nothing to set per call).
    conn: Connection | None = None
    task: asyncio.Task[None] | None = None
    connecting = 0.0  # when its current connection attempt began (0: none)
    finished = False
    retried = False

    def __init__(
        self, origin: Origin, method: bytes, target: bytes, headers: bytes, body: bytes, done: Done, started: float
    ) -> None:
        self.origin = origin
        self.method = method
        self.target = target  # path and query after the origin's base path
        self.headers = headers  # rendered header lines, each ending in CRLF
        self.body = body
        self.done = done
        self.started = started


def header_in(head: bytes, name: bytes, skip: int = 0) -> bytes | None:
    """The value of the first `name` header (b"\\r\\ncontent-type:": lower case, CRLF before, colon after)
    in an answer head that llhttp has accepted; `skip` interim (1xx) heads come before it."""
    start = 0
    while skip:
        start = head.find(b"\r\n\r\n", start) + 4
        skip -= 1
    block = head[start:head.find(b"\r\n\r\n", start)]  # a head is in `head` whole once it is complete
    lowered = block.lower()
    at = lowered.find(name)
    if at < 0:
        return None
    stop = lowered.find(b"\r\n", at + 2)
    return block[at + len(name):stop if stop >= 0 else len(block)].strip(b" \t")


class Connection(asyncio.Protocol):
    """One keep-alive connection to a replica; carries one call at a time.

    httptools frames each answer (status, body, keep-alive); the one header the data plane
    passes on, Content-Type, is read from the answer's head once it is complete, rather than
    through a parser callback per header.
    """

    transport: asyncio.Transport  # from connection_made, which asyncio calls before anything else

    def __init__(self, pool: UpstreamPool, origin: Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.parser = httptools.HttpResponseParser(self)
        self.call: Call | None = None
        self.served = 0
        self.idle_since = 0.0
        self.closed = False
        self.head = b""  # the current answer's bytes until its head is complete
        self.interim = 0  # 1xx answers before it
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.keep_alive = False
        self.complete = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        call = self.call
        if call is None:  # nothing was asked: a confused or closing replica
            self.abort()
            return
        if not self.headers_done:
            self.head += data
            if len(self.head) > MAX_ANSWER_HEAD:
                self._fail(call, "answer head too large")
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise
        except httptools.HttpParserError as exc:
            self._fail(call, f"malformed answer ({exc})")
            return
        if not self.complete:
            return
        self.call = None
        self.served += 1
        content_type = header_in(self.head, CONTENT_TYPE, self.interim)
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        status = self.parser.get_status_code()
        if self.keep_alive and not self.closed:
            self.complete = self.headers_done = False
            self.head = b""
            self.interim = 0
            self.chunks = []
            self.pool.release(self)
        else:
            self.close()
        self.pool.finish(call, status, content_type, body, None)

    def _fail(self, call: Call, reason: str) -> None:
        self.call = None
        self.abort()
        self.pool.finish(call, 502, None, b"", reason)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        call = self.call
        if call is None:
            return
        self.call = None
        head, skip = self.head, self.interim
        if self.headers_done and header_in(head, CONTENT_LENGTH, skip) is None and header_in(
            head, TRANSFER_ENCODING, skip
        ) is None:  # no length given: the body ends with the connection
            body = b"".join(self.chunks)
            self.pool.finish(call, self.parser.get_status_code(), header_in(head, CONTENT_TYPE, skip), body, None)
        elif not head and self.served and not call.retried and call.method in IDEMPOTENT:
            # A reused connection the replica closed as we sent: once more on a fresh one.
            call.retried = True
            call.conn = None
            self.pool.connect(call)
        else:
            self.pool.finish(call, 502, None, b"", type(exc).__name__ if exc is not None else "ServerDisconnected")

    # -- httptools callbacks -------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
            self.interim += 1
            self.chunks = []
            self.headers_done = False
            return
        # Asked here: once this callback returns, llhttp forgets the message's Connection flags.
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    # -- pool's side ---------------------------------------------------------------------

    def begin(self, call: Call) -> None:
        transport = self.transport
        self.call = call
        call.conn = self
        body = call.body
        origin = call.origin
        head = b"%s %s%s%s%sContent-Length: %d\r\n\r\n" % (
            call.method, origin.base_path, call.target, origin.host_line, call.headers, len(body),
        )
        if len(body) <= SMALL_BODY:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()

    def close(self) -> None:
        self.closed = True
        self.transport.close()


class UpstreamPool:
    def __init__(self) -> None:
        self._origins: dict[str, Origin] = {}
        self._idle: dict[tuple[str, int], deque[Connection]] = {}
        self._inflight: set[Call] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.closing = False
        self.now = perf_counter()  # a coarse clock, moved by `sweep`

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def send(self, url: str, method: bytes, target: bytes, headers: bytes, body: bytes, done: Done) -> Call:
        """Send `method url+target` with these header lines and body; `done` gets the answer."""
        origin = self._origins.get(url)
        if origin is None:
            if len(self._origins) >= MAX_ORIGINS:
                self._origins.clear()
            origin = self._origins[url] = Origin(url)
        call = Call(origin, method, target, headers, body, done, self.now)
        self._inflight.add(call)
        if origin.fast and method != b"HEAD" and not self.closing:
            idle = self._idle.get(origin.key)
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    conn.begin(call)
                    return call
            self.connect(call)
        elif self.closing:
            self.finish(call, 502, None, b"", "engine stopping")
        else:
            self._spawn(call, self._through_aiohttp(call))
        return call

    def finish(self, call: Call, status: int, content_type: bytes | None, body: bytes, error: str | None) -> None:
        """End a call: its `done` runs once, whatever else still reports on it."""
        if call.finished:
            return
        call.finished = True
        self._inflight.discard(call)
        call.done(status, content_type, body, error)

    def expire(self, call: Call, status: int, reason: str) -> None:
        """Give up on a call now (deadline or shutdown): answer it, drop its connection or task."""
        self.finish(call, status, None, b"", reason)
        conn = call.conn
        if conn is not None:
            conn.call = None
            conn.abort()
        if call.task is not None:
            call.task.cancel()

    # -- connections ---------------------------------------------------------------------

    def _spawn(self, call: Call, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        call.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def connect(self, call: Call) -> None:
        call.connecting = perf_counter()
        self._spawn(call, self._open(call))

    async def _open(self, call: Call) -> None:
        origin = call.origin
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Connection(self, origin), origin.host, origin.port)
        except OSError as exc:
            self.finish(call, 502, None, b"", type(exc).__name__)
            return
        call.task = None
        call.connecting = 0.0
        if call.finished:  # expired meanwhile: keep the connection for the next call
            self.release(conn)
            return
        conn.begin(call)

    def release(self, conn: Connection) -> None:
        key = conn.origin.key
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = deque()
        if self.closing or len(idle) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
            return
        conn.idle_since = self.now
        idle.append(conn)

    def forget(self, conn: Connection) -> None:
        idle = self._idle.get(conn.origin.key)
        if idle:
            with contextlib.suppress(ValueError):
                idle.remove(conn)

    async def _through_aiohttp(self, call: Call) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))
        headers = {}
        for line in call.headers.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(": ")
            if name:
                headers[name] = value
        url = URL(call.origin.url + call.target.decode("latin-1"), encoded=True)
        timeout = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, sock_connect=CONNECT_TIMEOUT)
        try:
            async with self._session.request(
                call.method.decode("latin-1"), url, data=call.body, headers=headers, timeout=timeout
            ) as resp:
                body = await resp.read()
                content_type = resp.headers.get("Content-Type")
                self.finish(call, resp.status, content_type.encode("latin-1") if content_type else None, body, None)
        except TimeoutError as exc:
            self.finish(call, 504, None, b"", type(exc).__name__)
        except (aiohttp.ClientError, ValueError) as exc:
            self.finish(call, 502, None, b"", type(exc).__name__)

    # -- time and shutdown ---------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Enforce deadlines and close connections idle too long; call about once a second."""
        self.now = now
        for call in list(self._inflight):
            if now - call.started > TOTAL_TIMEOUT or (call.connecting and now - call.connecting > CONNECT_TIMEOUT):
                self.expire(call, 504, "TimeoutError")
        for key, idle in list(self._idle.items()):
            while idle and now - idle[0].idle_since > IDLE_TIMEOUT:
                idle.popleft().close()
            if not idle:
                del self._idle[key]

    async def close(self) -> None:
        """Fail what is still in flight, close every connection."""
        self.closing = True
        for call in list(self._inflight):
            self.expire(call, 502, "engine stopping")
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
