"""Per-deployment log lines: replica stdout/stderr and one line per request.

A bounded buffer in memory for `tail`, subscribers for `follow` (they get each line as it
is written), and a complete file per deployment under the state dir's logs/ folder.

Writing a line is cheap because the router writes one per scored request: the line goes
to the buffer and the subscribers at once, and its text to its file on `flush`, which the
engine calls every telemetry tick (about once a second) and `close` calls at shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from pathlib import Path
from typing import IO, NamedTuple

BUFFER_LINES = 5000

_second = -1
_second_text = ""


def timestamp(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-22T00:30:52.123Z."""
    global _second, _second_text
    second = int(epoch)
    if second != _second:
        _second, _second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_second_text}.{int((epoch - second) * 1000):03d}Z"


class LogLine(NamedTuple):
    time: float  # seconds since the epoch
    deployment: str
    source: str  # replica id, or "router"
    text: str

    def render(self) -> str:
        return f"{timestamp(self.time)} {self.source} {self.text}"


class LogHub:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._buffers: dict[str, deque[LogLine]] = {}
        self._pending: dict[str, list[str]] = {}  # rendered lines not yet in their files, by deployment
        self._files: dict[str, IO[str]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[LogLine]]] = {}

    def write(self, deployment: str, source: str, text: str) -> None:
        line = LogLine(time.time(), deployment, source, text.rstrip("\n"))
        buffer = self._buffers.get(deployment)
        if buffer is None:
            buffer = self._buffers[deployment] = deque(maxlen=BUFFER_LINES)
        buffer.append(line)
        pending = self._pending.get(deployment)
        if pending is None:
            pending = self._pending[deployment] = []
        pending.append(line.render())
        subscribers = self._subscribers.get(deployment)
        if subscribers:
            for queue in subscribers:
                if queue.qsize() < 10_000:
                    queue.put_nowait(line)

    def flush(self) -> None:
        """Append the lines written since the last flush to their files."""
        pending, self._pending = self._pending, {}
        for deployment, texts in pending.items():
            handle = self._files.get(deployment)
            if handle is None:
                handle = self._files[deployment] = open(  # kept open; closed in close()
                    self.folder / f"{deployment}.log", "a", encoding="utf-8"
                )
            texts.append("")
            handle.write("\n".join(texts))
            handle.flush()

    def tail(self, deployment: str, count: int, source: str | None = None) -> list[LogLine]:
        lines = [ln for ln in self._buffers.get(deployment, ()) if source is None or ln.source == source]
        return lines[-count:] if count > 0 else []

    def subscribe(self, deployment: str) -> asyncio.Queue[LogLine]:
        queue: asyncio.Queue[LogLine] = asyncio.Queue()
        self._subscribers.setdefault(deployment, set()).add(queue)
        return queue

    def unsubscribe(self, deployment: str, queue: asyncio.Queue[LogLine]) -> None:
        self._subscribers.get(deployment, set()).discard(queue)

    def close(self) -> None:
        self.flush()
        for handle in self._files.values():
            handle.close()
        self._files.clear()
