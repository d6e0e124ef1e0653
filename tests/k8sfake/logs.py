"""Container logs: current and previous instance per (namespace, pod, container), with followers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .status import bad_request

Key = tuple[str, str, str]


@dataclass
class ContainerLog:
    current: list[tuple[dt.datetime, str]] = field(default_factory=list)
    previous: list[tuple[dt.datetime, str]] | None = None
    ended: bool = False  # the container terminated (or the pod went away): followers stop


def stamp(when: dt.datetime) -> str:
    """RFC3339 with nanoseconds, as the kubelet prefixes lines when timestamps=true."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}000Z"


class Logs:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._logs: dict[Key, ContainerLog] = {}
        self._followers: dict[Key, list[Callable[[], None]]] = {}

    def _log(self, key: Key) -> ContainerLog:
        return self._logs.setdefault(key, ContainerLog())

    def _notify(self, key: Key) -> None:
        for wake in list(self._followers.get(key, [])):
            wake()

    def append(self, namespace: str, pod: str, container: str, *lines: str, when: dt.datetime | None = None) -> None:
        key = (namespace, pod, container)
        with self.lock:
            log = self._log(key)
            for line in lines:
                log.current.append((when or dt.datetime.now(dt.UTC), line))
            self._notify(key)

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """The container crashed and restarted: its log becomes the previous instance's."""
        key = (namespace, pod, container)
        with self.lock:
            log = self._log(key)
            log.previous, log.current, log.ended = log.current, [], False
            self._notify(key)

    def end(self, namespace: str, pod: str, container: str | None = None) -> None:
        with self.lock:
            for key, log in self._logs.items():
                if key[:2] == (namespace, pod) and (container is None or key[2] == container):
                    log.ended = True
                    self._notify(key)
            for key in list(self._followers):
                if key[:2] == (namespace, pod) and (container is None or key[2] == container):
                    self._notify(key)

    def forget(self, namespace: str, pod: str) -> None:
        self.end(namespace, pod)
        with self.lock:
            for key in [k for k in self._logs if k[:2] == (namespace, pod)]:
                del self._logs[key]

    def read(
        self, key: Key, previous: bool, since: dt.datetime | None, tail: int | None, start: int = 0
    ) -> tuple[list[tuple[dt.datetime, str]], int, bool]:
        """Lines from index `start` (after filters), the next index, and whether the container ended."""
        with self.lock:
            log = self._log(key)
            if previous:
                if log.previous is None:
                    raise bad_request(f'previous terminated container "{key[2]}" in pod "{key[1]}" not found')
                lines, ended = log.previous, True
            else:
                lines, ended = log.current, log.ended
            if start > len(lines):  # the container restarted under a follower: its stream ends
                return [], start, True
            chunk = lines[start:]
            nxt = len(lines)
        if since is not None:
            chunk = [line for line in chunk if line[0] >= since]
        if tail is not None and start == 0:
            chunk = chunk[-tail:] if tail > 0 else []
        return chunk, nxt, ended

    def follow(self, key: Key, wake: Callable[[], None]) -> Callable[[], None]:
        with self.lock:
            self._followers.setdefault(key, []).append(wake)

        def cancel() -> None:
            with self.lock:
                lst = self._followers.get(key, [])
                if wake in lst:
                    lst.remove(wake)

        return cancel
