"""A Deployment's pods' logs merged and followed: a `LogSource` (console/backends/logstreams.py).

Each line's source is `pod/container` (`pod/container (previous)` for the log of a crashed container's last
run). The pods are found by the Deployment's selector and watched: a pod that appears (a rollout, a scale-up)
joins the stream, and a container that restarts is followed again from its new start. One reader thread per
followed container and one pod watcher, all ended and joined when `lines()` returns; `interrupt()` shuts their
sockets so a blocked read wakes at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import watch as _watch_module
from kubernetes.client.exceptions import ApiException

from console.backends.base import BackendError
from console.backends.kubernetes.routes_patch import TIMEOUT_S, api_error
from console.domain.logparse import ERROR, WARNING, LogEntry, parse_line

_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)
MAX_TAIL = 5000
FOLLOW_IDLE_S = 300.0  # a followed log quiet this long is re-requested from its end
_watch: Any = _watch_module  # the client's watch helper is untyped
WATCH_TIMEOUT_S = 60  # the pod watch is re-opened after this (bounded server-side)


def selector_of(deployment: Any) -> str:
    """A label selector string from a Deployment's `spec.selector` (matchLabels and matchExpressions)."""
    sel = deployment.spec.selector
    parts = [f"{k}={v}" for k, v in sorted((sel.match_labels or {}).items())]
    for expr in sel.match_expressions or []:
        values = ",".join(expr.values or [])
        parts.append({"In": f"{expr.key} in ({values})", "NotIn": f"{expr.key} notin ({values})",
                      "Exists": expr.key, "DoesNotExist": f"!{expr.key}"}[expr.operator])
    if not parts:
        raise BackendError("the Deployment's selector selects nothing")
    return ",".join(parts)


def split_stamp(line: str) -> tuple[float | None, str]:
    """`2024-06-01T12:00:00.123456789Z text` (timestamps=true) → (epoch seconds, text)."""
    stamp, _, text = line.partition(" ")
    if not stamp[:4].isdigit() or "T" not in stamp:
        return None, line
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None, line
    return moment + (float("0." + frac[:9]) if frac.isdigit() else 0.0), text


def entry(line: str, source: str) -> LogEntry:
    moment, text = split_stamp(line)
    parsed = parse_line(text)
    return LogEntry(moment if moment is not None else parsed.time, source, parsed.level, parsed.request_id, text)


class PodLogSource:
    """The logs of every pod of Deployment `namespace/deployment`, followed."""

    def __init__(self, api: client.ApiClient | Callable[[], client.ApiClient], namespace: str, deployment: str,
                 place_id: str = "", since_seconds: int | None = None, previous: bool = True,
                 max_tail: int = MAX_TAIL) -> None:
        self.api = api  # or a callable giving it, called on the reading thread (a place's connection())
        self.namespace = namespace
        self.deployment = deployment
        self.since_seconds = since_seconds
        self.previous = previous
        self.max_tail = max(0, min(max_tail, MAX_TAIL))  # lines of each container's tail, at most
        self.key = f"kubernetes:{place_id}:{namespace}:{deployment}"
        self.label = deployment
        self._lock = threading.Lock()
        self._responses: list[Any] = []
        self._watch: Any = None
        self._queue: queue.Queue[LogEntry | None] = queue.Queue()
        self._halt = threading.Event()

    # -------------------------------------------------------------------------------- the stream

    def lines(self, stop: threading.Event, tail: int) -> Iterator[LogEntry]:
        api = self.api() if callable(self.api) else self.api
        core: Any = client.CoreV1Api(api)
        try:
            dep = client.AppsV1Api(api).read_namespaced_deployment(self.deployment, self.namespace,
                                                                        _request_timeout=TIMEOUT_S)
        except _ERRORS as exc:
            raise api_error(exc, f"reading Deployment {self.namespace}/{self.deployment}") from exc
        selector = selector_of(dep)
        tail = max(0, min(tail, self.max_tail))
        self._queue = queue.Queue()
        halt = self._halt = threading.Event()  # ends the readers and the watcher (interrupt() sets it too)
        threads: list[threading.Thread] = []
        started: set[tuple[str, str, int]] = set()
        failure: list[BackendError] = []

        def follow(pod: str, container: str, restarts: int, fresh: bool) -> None:
            if fresh and self.previous and restarts > 0:  # crashed before we came: its last run's log first
                self._read_previous(core, pod, container, tail)
            self._follow(core, pod, container, tail if fresh else None, halt)  # a restart: its new run whole

        def on_pod(obj: Any) -> None:
            if obj.metadata.deletion_timestamp is not None:
                return
            for cs in obj.status.container_statuses or []:
                key = (obj.metadata.name, cs.name, int(cs.restart_count or 0))
                running = cs.state is not None and cs.state.running is not None
                if key in started or not running or halt.is_set():
                    continue
                fresh = not any(k[:2] == key[:2] for k in started)
                started.add(key)
                reader = threading.Thread(target=follow, args=(*key, fresh), name=f"podlog-{key[0]}-{key[1]}",
                                          daemon=True)
                threads.append(reader)
                reader.start()

        def watch_pods() -> None:
            try:
                self._watch_pods(core, selector, on_pod, halt)
            except BackendError as exc:
                if not halt.is_set():
                    failure.append(exc)
            finally:
                self._queue.put(None)

        watcher = threading.Thread(target=watch_pods, name=f"podwatch-{self.deployment}", daemon=True)
        watcher.start()
        try:
            while not stop.is_set() and not halt.is_set():
                try:
                    item = self._queue.get(timeout=1.0)  # a bound in case `stop` is set without interrupt()
                except queue.Empty:
                    continue
                if item is None:
                    if failure:
                        raise failure[0]
                    if not watcher.is_alive():
                        return
                    continue
                yield item
        finally:
            halt.set()
            self._shutdown()
            watcher.join(TIMEOUT_S)
            for reader in list(threads):
                reader.join(TIMEOUT_S)

    def interrupt(self) -> None:
        self._halt.set()
        self._shutdown()
        self._queue.put(None)

    # -------------------------------------------------------------------------------- parts

    def _shutdown(self) -> None:
        with self._lock:
            responses, w = list(self._responses), self._watch
        if w is not None:
            w.stop()
        for resp in responses:
            with contextlib.suppress(Exception):
                resp.shutdown()  # wakes a read blocked on the socket (urllib3 >= 2.3)

    def _notice(self, source: str, text: str, level: int = WARNING) -> None:
        self._queue.put(LogEntry(time.time(), source, level, "", text))

    def _read_previous(self, core: Any, pod: str, container: str, tail: int) -> None:
        source = f"{pod}/{container} (previous)"
        try:
            text = core.read_namespaced_pod_log(pod, self.namespace, container=container, previous=True,
                                                timestamps=True, tail_lines=tail or None,
                                                _request_timeout=TIMEOUT_S)
        except _ERRORS as exc:
            self._notice(source, f"previous log not available: {api_error(exc, 'reading the log')}")
            return
        for line in str(text).splitlines():
            if line:
                self._queue.put(entry(line, source))

    def _follow(self, core: Any, pod: str, container: str, tail: int | None,
                halt: threading.Event) -> None:
        """Follow one container until its stream ends (pod deleted, container restarted) or `halt`. A quiet log
        past the read timeout is re-followed from its end (tail 0)."""
        while not halt.is_set():
            if not self._follow_once(core, pod, container, tail, halt):
                return
            tail = 0

    def _follow_once(self, core: Any, pod: str, container: str, tail: int | None,
                     halt: threading.Event) -> bool:
        """One follow request; True when it ended by the read timeout (follow again)."""
        source = f"{pod}/{container}"
        kwargs: dict[str, Any] = {"container": container, "follow": True, "timestamps": True,
                                  "_preload_content": False, "_request_timeout": (TIMEOUT_S, FOLLOW_IDLE_S)}
        if tail is not None:
            kwargs["tail_lines"] = tail
        if self.since_seconds:
            kwargs["since_seconds"] = self.since_seconds
        try:
            resp = core.read_namespaced_pod_log(pod, self.namespace, **kwargs)
        except _ERRORS as exc:
            if not halt.is_set():
                self._notice(source, f"log not available: {api_error(exc, 'following the log')}", ERROR)
            return False
        raw: Any = getattr(resp, "response", resp)  # the client's RESTResponse wraps urllib3's
        with self._lock:
            self._responses.append(raw)
        rest = b""
        try:
            for chunk in raw.stream(4096, decode_content=False):
                if halt.is_set():
                    return False
                *complete, rest = (rest + chunk).split(b"\n")
                for line in complete:
                    if line:
                        self._queue.put(entry(line.decode("utf-8", "replace").rstrip("\r"), source))
            if rest and not halt.is_set():
                self._queue.put(entry(rest.decode("utf-8", "replace"), source))
        except urllib3.exceptions.ReadTimeoutError:
            return not halt.is_set()
        except _ERRORS:
            if not halt.is_set():
                self._notice(source, "log stream closed")
        finally:
            with self._lock:
                if raw in self._responses:
                    self._responses.remove(raw)
            with contextlib.suppress(Exception):
                raw.release_conn()
        return False

    def _watch_pods(self, core: Any, selector: str, on_pod: Any, stop: threading.Event) -> None:
        """List, then watch from the list's resourceVersion; relist on 410 Gone; until `stop`."""
        rv = ""
        while not stop.is_set():
            if not rv:
                try:
                    listed = core.list_namespaced_pod(self.namespace, label_selector=selector,
                                                      _request_timeout=TIMEOUT_S)
                except _ERRORS as exc:
                    raise api_error(exc, f"listing pods of {self.namespace}/{self.deployment}") from exc
                for pod in sorted(listed.items, key=lambda p: p.metadata.name):
                    on_pod(pod)
                rv = listed.metadata.resource_version
            w = _watch.Watch()
            with self._lock:
                self._watch = w
            if stop.is_set():
                return
            try:
                for event in w.stream(core.list_namespaced_pod, self.namespace, label_selector=selector,
                                      resource_version=rv, timeout_seconds=WATCH_TIMEOUT_S,
                                      allow_watch_bookmarks=True, _request_timeout=(TIMEOUT_S, WATCH_TIMEOUT_S + 30)):
                    obj = event["object"]
                    if event["type"] in ("ADDED", "MODIFIED") and not isinstance(obj, dict):
                        rv = obj.metadata.resource_version or rv
                        on_pod(obj)
                    elif isinstance(obj, dict):  # a BOOKMARK: only its resourceVersion
                        rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if stop.is_set():
                        return
            except ApiException as exc:
                if exc.status == 410:
                    rv = ""  # too old: relist
                    continue
                raise api_error(exc, f"watching pods of {self.namespace}/{self.deployment}") from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if stop.is_set():
                    return
                raise api_error(exc, f"watching pods of {self.namespace}/{self.deployment}") from exc
            finally:
                with self._lock:
                    self._watch = None
