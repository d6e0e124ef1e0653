"""Per-deployment log lines: replica stdout/stderr and one line per request.

A bounded buffer in memory for `tail`, subscribers for `follow`, and a complete file per
deployment under the state dir's logs/ folder.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

BUFFER_LINES = 5000


@dataclass(frozen=True)
class LogLine:
    time: datetime
    deployment: str
    source: str  # replica id, or "router"
    text: str

    def render(self) -> str:
        stamp = self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"{stamp} {self.source} {self.text}"


class LogHub:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._buffers: dict[str, deque[LogLine]] = {}
        self._files: dict[str, IO[str]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[LogLine]]] = {}

    def write(self, deployment: str, source: str, text: str) -> None:
        line = LogLine(datetime.now(UTC), deployment, source, text.rstrip("\n"))
        self._buffers.setdefault(deployment, deque(maxlen=BUFFER_LINES)).append(line)
        handle = self._files.get(deployment)
        if handle is None:
            handle = self._files[deployment] = open(
                self.folder / f"{deployment}.log", "a", encoding="utf-8", buffering=1
            )
        handle.write(line.render() + "\n")
        for queue in self._subscribers.get(deployment, ()):
            if queue.qsize() < 10_000:
                queue.put_nowait(line)

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
        for handle in self._files.values():
            handle.close()
        self._files.clear()
