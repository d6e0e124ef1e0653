"""The local engine's telemetry stream (`GET /v1/telemetry/stream?history=SECONDS`, Server-Sent
Events) as TelemetryBatch objects, and the bookkeeping that joins reconnections into one series.

The engine sends the recent history it kept (`event: sample` / `data: <json>`, one per second
per deployment), then a `: live` comment, then each new second's samples, with `: heartbeat`
comments while nothing happens. The SSE parser is our own because `: live` is a comment and
the usual decoders (httpx-sse) drop comments.

`EngineTelemetryStream` runs on a worker: `connect()`, then iterate `batches()`; `stop()` may
be called from any other thread and makes the reader return at once (it shuts the socket
down, which wakes a blocked read). Qt-free.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from console.backends.base import unreachable_from
from console.backends.engine import EngineClient
from console.domain.telemetry import GpuFigure, Sample, TelemetryBatch

STREAM_PATH = "/v1/telemetry/stream"
MAX_HISTORY_S = 3600.0  # the engine keeps (and accepts a request for) one hour
READ_TIMEOUT_S = 45.0  # three of the engine's 15 s heartbeats: longer silence means a dead connection

# ---------------------------------------------------------------- Server-Sent Events


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str = ""


@dataclass(frozen=True)
class SseComment:
    text: str


class SseParser:
    """Incremental parser of a text/event-stream (WHATWG HTML "Server-sent events"): lines end
    in CRLF, LF or CR, possibly split across chunks; `data` lines of one event are joined with
    newlines; a blank line dispatches; a line starting with ':' is a comment."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id = ""

    def feed(self, chunk: bytes) -> list[SseEvent | SseComment]:
        out: list[SseEvent | SseComment] = []
        data, hold = self._buffer + chunk, b""
        if data.endswith(b"\r"):  # it may be the first half of a CRLF: decide with the next chunk
            data, hold = data[:-1], b"\r"
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._buffer = lines.pop() + hold  # the last piece is incomplete
        for raw in lines:
            item = self._line(raw.decode("utf-8", errors="replace"))
            if item is not None:
                out.append(item)
        return out

    def _line(self, line: str) -> SseEvent | SseComment | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return SseComment(line[1:].strip())
        name, _colon, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # `retry` and unknown fields are ignored, as the standard says


# ---------------------------------------------------------------- engine samples

_COPIED = ("time", "endpoint", "deployment", "mirror", "requests", "errors_4xx", "errors_5xx", "latency_ms",
           "in_flight", "replicas_ready", "replicas_desired", "cpu_percent", "rss_bytes")


def _gpu(raw: Any) -> GpuFigure:
    if not isinstance(raw, dict):
        raise ValueError(f"a GPU entry must be an object, not {type(raw).__name__}")
    replicas = raw.get("replica_memory")
    return GpuFigure(
        index=raw["index"], name=str(raw.get("name") or ""), utilization_percent=raw.get("utilization"),
        memory_used_bytes=raw.get("memory_used"), memory_total_bytes=raw.get("memory_total"),
        deployment_memory_bytes=float(sum(replicas.values())) if isinstance(replicas, dict) else None,
    )


def sample_from_engine(raw: Any) -> Sample:
    """One engine telemetry sample (README "Control API") as a domain Sample; ValueError if it
    is not in that shape. Fields a newer engine adds are ignored."""
    if not isinstance(raw, dict):
        raise ValueError(f"a sample must be a JSON object, not {type(raw).__name__}")
    fields = {name: raw[name] for name in _COPIED if name in raw}
    gpus = raw.get("gpus")
    if gpus is not None:
        if not isinstance(gpus, list):
            raise ValueError(f"'gpus' must be a list or null, not {type(gpus).__name__}")
        try:
            fields["gpus"] = tuple(_gpu(gpu) for gpu in gpus)
        except KeyError as exc:
            raise ValueError(f"a GPU entry has no {exc}") from exc
    return Sample.model_validate(fields)  # pydantic's ValidationError is a ValueError


def _why(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the sample"
        return f"{where}: {first['msg']}"
    return str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__


class SampleBatcher:
    """SSE items → TelemetryBatch objects, one per sample time (a live second may come in more
    than one batch: what arrived is handed on at the end of each read). Malformed samples are
    skipped and counted in `problems`, the latest described in `last_problem`."""

    def __init__(self, place_id: str, clock: Callable[[], float] = time.time) -> None:
        self.place_id = place_id
        self.live = False  # the engine has sent its history (": live")
        self.problems = 0
        self.last_problem = ""
        self._clock = clock
        self._pending: list[Sample] = []

    def add(self, items: list[SseEvent | SseComment]) -> list[TelemetryBatch]:
        out: list[TelemetryBatch] = []
        for item in items:
            if isinstance(item, SseComment):
                if item.text == "live" and not self.live:
                    out += self.flush()
                    self.live = True
                continue
            if item.event != "sample":
                continue
            try:
                sample = sample_from_engine(json.loads(item.data))
            except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
                self.problems += 1
                self.last_problem = _why(exc)
                continue
            if self._pending and self._pending[-1].time != sample.time:
                out += self.flush()
            self._pending.append(sample)
        if self.live:
            out += self.flush()
        return out

    def flush(self) -> list[TelemetryBatch]:
        if not self._pending:
            return []
        batch = TelemetryBatch(place_id=self.place_id, read_at=self._clock(), samples=tuple(self._pending),
                               history=not self.live)
        self._pending = []
        return [batch]


# ---------------------------------------------------------------- the connection


class EngineTelemetryStream:
    """One connection to an engine's telemetry stream. `connect()` and `batches()` on one
    worker thread; `stop()` from any thread. `make_client` is called on the worker (it may read
    engine.json). Errors: Unauthorized, Unreachable (transport, via unreachable_from)."""

    def __init__(self, make_client: Callable[[], EngineClient], place_id: str, history_s: float,
                 clock: Callable[[], float] = time.time, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.place_id = place_id
        self.history_s = max(0.0, min(MAX_HISTORY_S, float(history_s)))
        self.batcher = SampleBatcher(place_id, clock)
        self._make_client = make_client
        self._read_timeout_s = read_timeout_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._exits = ExitStack()
        self._parser = SseParser()
        self._response: httpx.Response | None = None
        self._url = STREAM_PATH

    @classmethod
    def for_state_dir(cls, state_dir: Path, place_id: str, history_s: float) -> EngineTelemetryStream:
        """The stream of the engine running on `state_dir`, found again (port, token) at connect."""
        return cls(lambda: EngineClient.for_state_dir(state_dir), place_id, history_s)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def connect(self) -> None:
        client = self._make_client()
        self._exits.callback(client.close)
        self._url = f"{client.control_url}{STREAM_PATH}"
        params = {"history": f"{math.ceil(self.history_s)}"}
        response = self._exits.enter_context(client.open_stream(STREAM_PATH, params, self._read_timeout_s))
        stream = response.extensions.get("network_stream")
        with self._lock:
            self._response = response
            self._sock = stream.get_extra_info("socket") if stream is not None else None
        if self._stop.is_set():
            self._wake()

    def batches(self) -> Iterator[TelemetryBatch]:
        """Batches until the engine ends the stream or `stop()`; transport errors raise, except after stop."""
        if self._response is None:
            raise RuntimeError("connect() first")
        try:
            for chunk in self._response.iter_bytes():
                if self._stop.is_set():
                    return
                yield from self.batcher.add(self._parser.feed(chunk))
        except httpx.HTTPError as exc:
            if self._stop.is_set():
                return
            raise unreachable_from(exc, self._url) from exc
        if not self._stop.is_set():
            yield from self.batcher.flush()

    def stop(self) -> None:
        """Make `batches()` return soon: wakes a read blocked on the socket. Any thread; never blocks."""
        self._stop.set()
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def close(self) -> None:
        """Close the response and the client (on the worker thread, after `batches()`)."""
        with self._lock:
            self._sock = None
        try:
            self._exits.close()
        except Exception:  # noqa: S110 - closing a connection that already failed may fail again
            pass

    def __enter__(self) -> EngineTelemetryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- joining connections


class Continuity:
    """Joins the reads of one source (stream connections or polls) into one series: asks for
    the history that covers an outage, drops samples already delivered, and names the span
    that could not be filled (the source restarted and lost its history) as a gap batch."""

    def __init__(self, place_id: str, first_history_s: float = MAX_HISTORY_S, slack_s: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.place_id = place_id
        self.first_history_s = first_history_s
        self.slack_s = slack_s
        self.last_time: float | None = None
        self._clock = clock
        self._seen_last: set[tuple[str, str, bool]] = set()  # samples delivered at `last_time`
        self._resumed = False  # the next sample is the first since an outage

    def history_s(self) -> float:
        """How much history the next read should ask for."""
        if self.last_time is None:
            return self.first_history_s
        return max(0.0, min(MAX_HISTORY_S, math.ceil(self._clock() - self.last_time + self.slack_s)))

    def resumed(self) -> None:
        """A new connection (or a read after failures) begins: check its first sample for a gap."""
        self._resumed = self.last_time is not None

    def accept(self, batch: TelemetryBatch) -> list[TelemetryBatch]:
        """`batch` without what was already delivered, preceded by a gap batch where needed."""
        last = self.last_time
        fresh = [s for s in batch.samples if last is None or s.time > last
                 or (s.time == last and (s.endpoint, s.deployment, s.mirror) not in self._seen_last)]
        if not fresh:  # a gap the source named itself is still news
            return [batch.model_copy(update={"samples": ()})] if batch.gap_from is not None else []
        out: list[TelemetryBatch] = []
        first = min(s.time for s in fresh)
        if (self._resumed and last is not None and first > last + self.slack_s
                and batch.gap_from is None):  # (a source that names its own gaps knows better)
            out.append(TelemetryBatch(place_id=self.place_id, read_at=batch.read_at, gap_from=last, gap_to=first,
                                      history=batch.history))
        self._resumed = False
        newest = max(s.time for s in fresh)
        if last is None or newest > last:
            self.last_time = newest
            self._seen_last = set()
        self._seen_last |= {(s.endpoint, s.deployment, s.mirror) for s in fresh if s.time == self.last_time}
        if len(fresh) != len(batch.samples):
            batch = batch.model_copy(update={"samples": tuple(fresh)})
        out.append(batch)
        return out
