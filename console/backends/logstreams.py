"""Live log sources: the engine's log stream per deployment or replica (pods plug in later).

A `LogSource` yields `LogEntry`s from a blocking stream until told to stop; `interrupt()`
wakes a read blocked on the network from another thread. A Kubernetes pod source (the
Kubernetes issue) implements the same protocol: `lines()` over `read_namespaced_pod_log(
follow=True, timestamps=True)`, `interrupt()` closing that response.

`LiveFeed` runs one source on a worker thread (submitted through the console's TaskRunner):
it parses lines there, keeps them in a thread-safe pending list that the GUI thread drains
on a timer (so 10,000 lines a second cost the GUI thread one call every 100 ms, not 10,000
signals), reconnects with backoff after an error (saying so in the log, with the gap), and
ends promptly when stopped.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx

from console.backends.base import BackendError, Unreachable
from console.backends.engine import EngineClient, read_engine_file
from console.domain.logparse import ERROR, INFO, WARNING, LogEntry, parse_line, split_engine_line

_STATUS = re.compile(r" status (\d{3})\b")
_ROUTER_LINE = re.compile(r"request ([\w.:-]{4,128}) status (\d{3})\b")  # the engine router's line, as it starts
PARSE_SLICE = 50  # lines parsed (under a millisecond) between two moments the reader offers the GUI thread the GIL
MAX_LINE_BYTES = 1 << 20  # a "line" this long with no line end yet is passed on as it is
MAX_PENDING = 1_000_000  # lines held for the GUI (while it is paused); beyond, the oldest are counted and dropped
# A line on its way to the view: LogEntry's fields as a plain tuple. The garbage collector stops
# tracking plain tuples of strings and numbers. LogEntry objects it keeps tracking: at 10,000 a
# second, held for a moment, many reach its oldest generation and it runs full passes every few seconds.
Row = tuple[float | None, str, int, str, str]


def as_row(entry: LogEntry) -> Row:
    """`entry` as a plain tuple (see Row)."""
    return tuple(entry)  # type: ignore[return-value]  # a NamedTuple's fields, in order


class LogSource(Protocol):
    key: str  # stable: remembered filters are stored under it, e.g. "engine:<place>:<deployment>"
    label: str  # shown as the source of its lines' prefix and the tab title

    def lines(self, stop: threading.Event, tail: int) -> Iterator[LogEntry]:
        """Entries as they come (the last `tail` first), until `stop` is set; raises BackendError."""
        ...

    def interrupt(self) -> None:
        """Wake a `lines()` blocked in a read (called from another thread)."""
        ...


def engine_entry(line: str, deployment: str) -> LogEntry:
    """An engine stream line as an entry: source `deployment/source`, router lines levelled by status."""
    moment, source, text = split_engine_line(line)
    if source == "router" and moment is not None:  # most lines of a busy deployment: the short way
        found = _ROUTER_LINE.match(text)
        if found:
            code = int(found.group(2))
            return LogEntry(moment, f"{deployment}/router", ERROR if code >= 500 else WARNING if code >= 400 else INFO,
                            found.group(1).rstrip(".,:;"), text)
    parsed = parse_line(text)
    level = parsed.level
    if not level and source == "router":
        status = _STATUS.search(text)
        code = int(status.group(1)) if status else 0
        level = ERROR if code >= 500 else WARNING if code >= 400 else INFO
    return LogEntry(moment if moment is not None else parsed.time, f"{deployment}/{source}" if source else deployment,
                    level, parsed.request_id, text)


def stream_lines(response: httpx.Response, stop: threading.Event) -> Iterator[list[str]]:
    """The lines of a streamed answer, a network chunk at a time: decoded and split in bulk, not a
    Python step per line (the last line waits for its line end; invalid UTF-8 becomes U+FFFD)."""
    rest = b""
    for chunk in response.iter_bytes():
        if stop.is_set():
            return
        data = rest + chunk if rest else chunk
        complete, newline, rest = data.rpartition(b"\n")
        if not newline:
            rest = data
            if len(rest) < MAX_LINE_BYTES:
                continue
            complete, rest = rest, b""
        text = complete.decode("utf-8", "replace")
        if "\r" in text:  # CRLF line ends; the last line's LF was the partition
            text = text.replace("\r\n", "\n").removesuffix("\r")
        yield text.split("\n")
    if rest and not stop.is_set():
        yield [rest.decode("utf-8", "replace").rstrip("\r")]


class EngineLogSource:
    """`GET /v1/deployments/{name}/logs?follow=true&tail=N[&replica=ID]` of a local engine."""

    def __init__(self, state_dir: Path, deployment: str, replica: str | None = None, place_id: str = "") -> None:
        self.state_dir = Path(state_dir)
        self.deployment = deployment
        self.replica = replica
        self.key = f"engine:{place_id or self.state_dir}:{deployment}" + (f":{replica}" if replica else "")
        self.label = f"{deployment}/{replica}" if replica else deployment
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def lines(self, stop: threading.Event, tail: int) -> Iterator[LogEntry]:
        found = read_engine_file(self.state_dir)
        params: dict[str, Any] = {"follow": "true", "tail": max(0, min(tail, 5000))}
        if self.replica:
            params["replica"] = self.replica
        with EngineClient(found.control_url, found.token) as client:
            try:
                with client.open_stream(f"/v1/deployments/{self.deployment}/logs", params) as response:
                    with self._lock:
                        self._socket = response.extensions["network_stream"].get_extra_info("socket")
                    if stop.is_set():
                        return
                    for lines in stream_lines(response, stop):
                        for start in range(0, len(lines), PARSE_SLICE):
                            for line in lines[start:start + PARSE_SLICE]:
                                if line:
                                    yield engine_entry(line, self.deployment)
                            time.sleep(0)  # let the GUI thread have the GIL now, not after a 5 ms switch interval
            except Unreachable:
                if not stop.is_set():
                    raise
            finally:
                with self._lock:
                    self._socket = None

    def interrupt(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv; closing alone would not


class LiveFeed:
    """One source followed on a worker; the GUI thread drains what arrived."""

    def __init__(self, source: LogSource, tail: int = 1000, max_pending: int = MAX_PENDING,
                 backoff: tuple[float, float] = (1.0, 15.0)) -> None:
        self.source = source
        self.tail = tail
        self.max_pending = max_pending
        self.backoff = backoff
        self.state = "connecting"
        self.dropped = 0  # lines dropped because nobody drained them
        self.received = 0
        self._pending: list[Row] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Follow the source until `stop()`: on a worker thread."""
        delay, tail = self.backoff[0], self.tail
        while not self._stop.is_set():
            try:
                self.state = "live"
                for entry in self.source.lines(self._stop, tail):
                    self._push_one(entry)  # a lock and an append: cheap, and nothing waits for a batch to fill
                    delay = self.backoff[0]
                if self._stop.is_set():
                    break
                reason = "the stream ended"
            except BackendError as exc:
                if self._stop.is_set():
                    break
                reason = str(exc)
                if not isinstance(exc, Unreachable):
                    self.state = f"failed: {reason}"
                    self._notice(f"log stream failed: {reason}", ERROR)
                    break
            self.state = f"reconnecting: {reason}"
            self._notice(f"log stream lost ({reason}); reconnecting in {delay:.0f} s. Lines written meanwhile "
                         "are not shown here (the engine keeps them in its logs folder)", WARNING)
            tail = 0
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff[1])
        if not self.state.startswith("failed"):
            self.state = "stopped"

    def _notice(self, text: str, level: int) -> None:
        self._push([LogEntry(time.time(), self.source.label, level, "", text)])

    def _push(self, batch: list[LogEntry]) -> None:
        if not batch:
            return
        with self._lock:
            self._pending.extend(as_row(entry) for entry in batch)
            self.received += len(batch)
            excess = len(self._pending) - self.max_pending
            if excess > 0:
                del self._pending[:excess]
                self.dropped += excess

    def _push_one(self, entry: LogEntry) -> None:
        row = as_row(entry)
        with self._lock:
            self._pending.append(row)
            self.received += 1
            if len(self._pending) > self.max_pending:
                del self._pending[: len(self._pending) - self.max_pending]
                self.dropped += 1

    def drain(self) -> list[Row]:
        """Everything that arrived since the last drain, as Rows (GUI thread)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def stop(self) -> None:
        """Stop following (any thread): the worker ends within moments."""
        self._stop.set()
        self.source.interrupt()
