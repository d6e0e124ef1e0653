"""List then watch, one worker thread per kind and namespace, into an in-memory cache.

From the list's resourceVersion the watch goes on; 410 Gone (or an ERROR event with code 410)
relists; any other failure reconnects with backoff. A watch that is down longer than the
place's bound makes the place stale (`Watches.stale()`)."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from console.backends.base import BackendError, Forbidden, Unauthorized
from console.backends.kubernetes.connect import Connection, Gone, error_from, lines, status_error
from console.backends.kubernetes.discovery import Kind
from console.backends.kubernetes.gcpause import gc_paused

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)


class Cache:
    """Objects by kind (plural.group) and (namespace, name); `version` counts changes, and
    `versions[kind]` the changes of one kind. Kinds in `slim` keep only what the console shows."""

    def __init__(self, slim: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None) -> None:
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {}
        self._slim = slim or {}
        self.version = 0
        self.versions: dict[str, int] = {}
        self.changed = threading.Condition()

    def _bump(self, kind: str) -> None:
        with self.changed:
            self.version += 1
            self.versions[kind] = self.versions.get(kind, 0) + 1
            self.changed.notify_all()

    def replace(self, kind: str, namespace: str | None, items: list[dict[str, Any]]) -> None:
        slim = self._slim.get(kind)
        fresh = {}
        for obj in items:
            meta = obj.get("metadata") or {}
            fresh[(meta.get("namespace") or "", meta.get("name") or "")] = slim(obj) if slim else obj
        with self.changed:
            store = self._objects.setdefault(kind, {})
            for key in [k for k in store if namespace is None or k[0] == namespace]:
                del store[key]
            store.update(fresh)
        self._bump(kind)

    def put(self, kind: str, obj: dict[str, Any], deleted: bool = False) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        slim = self._slim.get(kind)
        with self.changed:
            store = self._objects.setdefault(kind, {})
            if deleted:
                store.pop(key, None)
            else:
                store[key] = slim(obj) if slim else obj
        self._bump(kind)

    def objects(self, kind: str) -> dict[Key, dict[str, Any]]:
        """A copy of the mapping (the objects themselves are replaced, never mutated)."""
        with self.changed:
            return dict(self._objects.get(kind, {}))

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.changed:
            return self._objects.get(kind, {}).get((namespace, name))

    def wait_changed(self, since: int, timeout: float) -> int:
        with self.changed:
            self.changed.wait_for(lambda: self.version != since, timeout)
            return self.version


class KindWatch(threading.Thread):
    """List then watch one kind in one namespace (None: all) until `stop` is set."""

    read_timeout = 90.0  # seconds without a byte (bookmarks come more often) before reconnecting
    max_backoff = 30.0
    watch_timeout_s = (240, 300)  # the server ends a watch after a random time in this range; it is reopened

    def __init__(self, conn: Connection, kind: Kind, namespace: str | None, cache: Cache,
                 stop: threading.Event) -> None:
        super().__init__(name=f"k8s-watch-{kind.plural}-{namespace or 'all'}", daemon=True)
        self.conn, self.kind, self.namespace, self.cache, self.stop_event = conn, kind, namespace, cache, stop
        self.synced = threading.Event()  # the first list arrived (or failed for good)
        self.error: BackendError | None = None
        self.down_since: float | None = time.monotonic()
        self.resource_version: str | None = None
        self.relists = 0
        self._response: Any = None
        self._lock = threading.Lock()

    def run(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
                backoff = 0.5
            except Gone:
                self.resource_version = None  # relist
                continue
            except BackendError as exc:
                if self.stop_event.is_set():
                    break
                self.error = exc
                self.down_since = self.down_since or time.monotonic()
                if isinstance(exc, Unauthorized | Forbidden):
                    self.synced.set()  # no point waiting for it
                log.info("watch of %s failed: %s", self.kind.resource, exc)
                self.stop_event.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:  # a bad body must not kill the thread silently
                self.error = BackendError(f"watch of {self.kind.resource}: {exc.__class__.__name__}: {exc}")
                self.down_since = self.down_since or time.monotonic()
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _list(self) -> None:
        with gc_paused():
            doc = self.conn.get(self.kind.path(self.namespace), timeout=(self.conn.timeout[0], 60.0))
            self.cache.replace(self.kind.resource, self.namespace, doc.pop("items", None) or [])
        self.resource_version = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        self.relists += 1
        self._up()

    def _up(self) -> None:
        self.error = None
        self.down_since = None
        self.synced.set()

    def _watch(self) -> None:
        query = [("watch", "1"), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(random.randint(*self.watch_timeout_s)))]
        if self.resource_version:
            query.append(("resourceVersion", self.resource_version))
        response = self.conn.stream(self.kind.path(self.namespace), query,
                                    timeout=(self.conn.timeout[0], self.read_timeout))
        with self._lock:
            self._response = response
        if self.stop_event.is_set():
            response.response.shutdown()
        self._up()
        try:
            for line in lines(response):
                if self.stop_event.is_set():
                    return
                self._event(json.loads(line))
        except OSError as exc:
            if not self.stop_event.is_set():
                raise BackendError(f"{self.conn.server}: watch of {self.kind.resource} broke: {exc}") from exc
        except Exception as exc:
            if self.stop_event.is_set():
                return
            raise error_from(exc, self.conn.server) from exc
        finally:
            with self._lock:
                self._response = None
            response.response.release_conn()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise status_error(int(obj.get("code") or 500), json.dumps(obj), self.conn.server, "")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.cache.put(self.kind.resource, obj, deleted=kind == "DELETED")
        if rv:
            self.resource_version = str(rv)

    def interrupt(self) -> None:
        """Wake a read blocked on the network (after `stop` is set)."""
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # already closed
                response.response.shutdown()


class Watches:
    """All the watches of one place."""

    def __init__(self, conn: Connection, kinds: tuple[Kind, ...], namespaces: tuple[str, ...] | None,
                 slim: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None) -> None:
        self.cache = Cache(slim)
        self.stop_event = threading.Event()
        scopes: tuple[str | None, ...] = namespaces or (None,)
        self.threads = [KindWatch(conn, kind, ns, self.cache, self.stop_event) for kind in kinds for ns in scopes]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(t.synced.wait(max(0.0, deadline - time.monotonic())) for t in self.threads)

    def kinds(self) -> set[str]:
        """The kinds listed at least once (or being listed): plural.group."""
        return {t.kind.resource for t in self.threads}

    def failed(self) -> list[KindWatch]:
        return [t for t in self.threads if t.error is not None]

    def stale(self, bound_s: float) -> KindWatch | None:
        """The first watch down longer than `bound_s`, if any."""
        now = time.monotonic()
        return next((t for t in self.threads if t.down_since is not None and now - t.down_since > bound_s), None)

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.interrupt()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
