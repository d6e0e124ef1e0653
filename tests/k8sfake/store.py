"""In-memory object store with a cluster-wide resourceVersion counter, a bounded event history and watchers.

Objects are kept as dicts (never mutated once committed) plus their pre-serialised JSON, so a list of thousands
of objects is a byte join.  Every write takes one lock; watchers are called under it, in resourceVersion order.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import status as st
from .resources import Catalogue, ResourceType

NO_GENERATION = frozenset({"Namespace", "Service", "Pod"})


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Stored:
    obj: dict[str, Any]
    raw: bytes
    _by_version: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Stored:
        return cls(obj, dumps(obj))

    def json(self, api_version: str) -> bytes:
        if self.obj.get("apiVersion") == api_version:
            return self.raw
        cached = self._by_version.get(api_version)
        if cached is None:
            cached = self._by_version[api_version] = dumps({**self.obj, "apiVersion": api_version})
        return cached

    def copy(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.raw)
        return result

    @property
    def rv(self) -> int:
        return int(self.obj["metadata"]["resourceVersion"])


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED / MODIFIED / DELETED
    key: tuple[str, str]  # (group, plural)
    namespace: str
    name: str
    new: Stored | None
    prev: Stored | None

    @property
    def object(self) -> Stored:
        obj = self.new if self.new is not None else self.prev
        assert obj is not None
        return obj


Watcher = Callable[[Event], None]


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    def __init__(self, catalogue: Catalogue, history: int = 1000, first_rv: int = 1000) -> None:
        self.catalogue = catalogue
        self.lock = threading.RLock()
        self.rv = first_rv
        self.compacted_rv = first_rv  # events with rv <= this are gone
        self.history: deque[Event] = deque()
        self.history_limit = history
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Stored]] = {t.key: {} for t in catalogue.types}
        self._watchers: dict[tuple[str, str], list[Watcher]] = {}
        self.hooks: list[Watcher] = []  # the fake's own reactions to every event (e.g. end a deleted pod's logs)

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        with self.lock:
            found = self.objects[rt.key].get((namespace, name))
        if found is None:
            raise st.not_found(rt.plural, rt.group, name)
        return found

    def items(self, rt: ResourceType, namespace: str, at_rv: int | None = None) -> list[tuple[str, Stored]]:
        """(sort key 'ns/name', object) in etcd key order, as of `at_rv` (default: now)."""
        with self.lock:
            table = dict(self.objects[rt.key])
            if at_rv is not None and at_rv < self.rv:
                if at_rv < self.compacted_rv:
                    raise st.gone_expired(f"too old resource version: {at_rv} ({self.compacted_rv})")
                for ev in reversed(self.history):
                    if ev.rv <= at_rv:
                        break
                    if ev.key != rt.key:
                        continue
                    if ev.prev is None:
                        table.pop((ev.namespace, ev.name), None)
                    else:
                        table[(ev.namespace, ev.name)] = ev.prev
        rows = [(f"{ns}/{name}" if ns else name, s) for (ns, name), s in table.items()
                if not namespace or ns == namespace]
        rows.sort(key=lambda r: r[0])
        return rows

    # ------------------------------------------------------------------ watch
    def subscribe(
        self, rt: ResourceType, since_rv: int | None, watcher: Watcher
    ) -> tuple[list[Event], Callable[[], None]]:
        """Register `watcher`; return the backlog (events after `since_rv`, or synthetic ADDEDs when None)."""
        with self.lock:
            if since_rv is None:
                backlog = [
                    Event(s.rv, "ADDED", rt.key, ns, name, s, None)
                    for (ns, name), s in sorted(self.objects[rt.key].items())
                ]
            else:
                if since_rv < self.compacted_rv:
                    raise st.gone_expired(f"too old resource version: {since_rv} ({self.compacted_rv})")
                backlog = [ev for ev in self.history if ev.rv > since_rv and ev.key == rt.key]
            self._watchers.setdefault(rt.key, []).append(watcher)

        def cancel() -> None:
            with self.lock:
                lst = self._watchers.get(rt.key, [])
                if watcher in lst:
                    lst.remove(watcher)

        return backlog, cancel

    def compact(self) -> int:
        """Drop the whole event history (as etcd compaction does); returns the compacted resourceVersion."""
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv
            return self.rv

    # ----------------------------------------------------------------- writes
    def _commit(self, rt: ResourceType, namespace: str, name: str, new: dict[str, Any] | None) -> Stored | None:
        """Under the lock: assign the next resourceVersion, store, record and fan out."""
        table = self.objects[rt.key]
        prev = table.get((namespace, name))
        self.rv += 1
        if new is None:
            assert prev is not None
            gone = prev.copy()
            gone["metadata"]["resourceVersion"] = str(self.rv)
            stored = Stored.of(gone)
            del table[(namespace, name)]
            event = Event(self.rv, "DELETED", rt.key, namespace, name, stored, prev)
            result = None
        else:
            new["metadata"]["resourceVersion"] = str(self.rv)
            stored = Stored.of(new)
            table[(namespace, name)] = stored
            event = Event(self.rv, "ADDED" if prev is None else "MODIFIED", rt.key, namespace, name, stored, prev)
            result = stored
        self.history.append(event)
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft().rv
        for hook in self.hooks:
            hook(event)
        for watcher in list(self._watchers.get(rt.key, [])):
            watcher(event)
        return result

    def create(self, rt: ResourceType, namespace: str, obj: dict[str, Any], check_namespace: bool = True) -> Stored:
        meta = obj.setdefault("metadata", {})
        with self.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name")
            if not name:
                raise st.invalid(rt.kind, rt.group, "", "metadata.name",
                                 "Required value: name or generateName is required")
            if rt.namespaced:
                if check_namespace and ("", namespace) not in self.objects[("", "namespaces")]:
                    raise st.not_found("namespaces", "", namespace)
                meta["namespace"] = namespace
            if (namespace, name) in self.objects[rt.key]:
                raise st.already_exists(rt.plural, rt.group, name)
            obj["apiVersion"] = rt.api_version()
            obj["kind"] = rt.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta.pop("managedFields", None)
            meta.pop("deletionTimestamp", None)
            if rt.kind not in NO_GENERATION:
                meta["generation"] = 1
            stored = self._commit(rt, namespace, name, obj)
            assert stored is not None
            return stored

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        subresource: str = "",
        require_rv: bool = False,
    ) -> Stored:
        """Read-modify-write under the lock. `mutate` gets a copy of the current object and returns the new one.

        A resourceVersion in the returned object must equal the stored one (409 otherwise); when it is absent the
        update is unconditional for built-in kinds and refused (422) for custom resources when `require_rv`.
        """
        with self.lock:
            current = self.get(rt, namespace, name)
            new = mutate(current.copy())
            meta = new.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise st.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
            sent_rv = meta.get("resourceVersion")
            if sent_rv in (None, ""):
                if require_rv and not rt.builtin:
                    raise st.invalid(rt.kind, rt.group, name, "metadata.resourceVersion",
                                     'Invalid value: 0x0: must be specified for an update')
            elif str(sent_rv) != current.obj["metadata"]["resourceVersion"]:
                raise st.conflict(rt.plural, rt.group, name)
            old = current.obj
            merged = self._merge_update(rt, old, new, subresource)
            if merged == old:
                return current  # a no-op write does not bump the resourceVersion
            stored = self._commit(rt, namespace, name, merged)
            assert stored is not None
            return stored

    @staticmethod
    def _merge_update(rt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str) -> dict[str, Any]:
        old_meta = old["metadata"]
        if subresource == "status":
            out: dict[str, Any] = json.loads(dumps(old))
            if "status" in new:
                out["status"] = new["status"]
            else:
                out.pop("status", None)
            return out
        out = dict(new)
        out["apiVersion"] = old["apiVersion"]
        out["kind"] = old["kind"]
        meta = dict(new.get("metadata") or {})
        for keep in ("uid", "creationTimestamp", "namespace", "name", "generation", "resourceVersion"):
            if keep in old_meta:
                meta[keep] = old_meta[keep]
            else:
                meta.pop(keep, None)
        meta.pop("managedFields", None)
        out["metadata"] = meta
        if "status" in rt.subresources and subresource != "*":  # "*": a controller's write, status included
            if "status" in old:
                out["status"] = old["status"]
            else:
                out.pop("status", None)
        if "generation" in old_meta and _spec_part(out) != _spec_part(old):
            meta["generation"] = int(old_meta["generation"]) + 1
        return out

    def delete(
        self, rt: ResourceType, namespace: str, name: str, preconditions: dict[str, Any] | None = None
    ) -> Stored:
        with self.lock:
            current = self.get(rt, namespace, name)
            pre = preconditions or {}
            meta = current.obj["metadata"]
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise st.conflict(rt.plural, rt.group, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, "
                                  f"UID in object meta: {meta['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise st.conflict(
                    rt.plural, rt.group, name,
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                )
            self._commit(rt, namespace, name, None)
            return current

    def iter_types(self) -> Iterator[ResourceType]:
        return iter(self.catalogue.types)
