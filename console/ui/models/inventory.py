"""InventoryModel: places → endpoints → deployments, fed by snapshot differences.

A refresh never resets the model: removed rows are removed, new rows inserted, rows whose
shown values changed get dataChanged for the changed columns only (so a sorted proxy
re-sorts a row only when its sort column changed). Selection and scroll position survive.

Rows are computed on the worker that read the snapshot (`rows.prepare`); here an endpoint
whose rows all equal the ones shown costs one tuple comparison.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex

from console.backends.base import InventorySnapshot
from console.ui.models.inventory_tree import (
    KEY_ROLE,
    KIND_ROLE,
    PAYLOAD_ROLE,
    SORT_ROLE,
    STALE_ROLE,
    STATE_COLORS,
    InventoryTree,
    Node,
    PlaceState,
)
from console.ui.models.rows import HEADERS, Col, EndpointRows, PreparedInventory, Row, prepare, short_location

__all__ = ["KEY_ROLE", "KIND_ROLE", "PAYLOAD_ROLE", "SORT_ROLE", "STALE_ROLE", "STATE_COLORS", "InventoryModel"]
LAST_COL = len(HEADERS) - 1
NAME = Col.NAME.value


class InventoryModel(InventoryTree):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.structure_version = 0  # bumped by every insert or remove (the palette caches on it)

    # ------------------------------------------------------------ places
    def add_place(self, place_id: str, name: str, kind: str, where: str, freshness_s: float) -> None:
        if place_id in self._root.index_of:
            return
        row = len(self._root.children)
        self.beginInsertRows(QModelIndex(), row, row)
        state = self._states[place_id] = PlaceState(freshness_s, where)
        node = Node("place", place_id, (name, kind, "", None, "loading…", None, None, short_location(where), None,
                                        where), self._root, state)
        node.row = row
        self._root.children.append(node)
        self._root.index_of[place_id] = node
        self.structure_version += 1
        self.endInsertRows()

    def remove_place(self, place_id: str) -> None:
        node = self._root.index_of.pop(place_id, None)
        if node is None:
            return
        self.beginRemoveRows(QModelIndex(), node.row, node.row)
        del self._root.children[node.row]
        self._renumber(self._root, node.row)
        self._states.pop(place_id, None)
        self._breached = {k: v for k, v in self._breached.items() if k[0] != place_id}
        self.structure_version += 1
        self.endRemoveRows()

    def set_place_health(self, place_id: str, word: str) -> None:
        node = self._root.index_of.get(place_id)
        state = self._states.get(place_id)
        if node is None or state is None:
            return
        state.health = word
        self._set_values(node, self._place_values(node, state))

    def _place_values(self, node: Node, state: PlaceState) -> Row:
        deps = sum(len(e.children) for e in node.children)
        word = "stale" if state.stale and state.health == "connected" else state.health
        summary = f"{len(node.children)} endpoints, {deps} deployments" if state.read_at is not None else ""
        return (node.values[0], node.values[1], "", None, word, None, None, node.values[7], None,
                f"{state.location}\n{summary}".strip())

    # ------------------------------------------------------------ snapshots → row changes
    def apply_snapshot(self, snapshot: InventorySnapshot | PreparedInventory) -> None:
        """Show `snapshot` as row changes. Pass it prepared (rows.prepare, on the worker) to keep
        the GUI thread to comparisons; a bare InventorySnapshot is prepared here."""
        prepared = snapshot if isinstance(snapshot, PreparedInventory) else prepare(snapshot)
        place = self._root.index_of.get(prepared.place_id)
        state = self._states.get(prepared.place_id)
        if place is None or state is None:
            return
        self._remove_missing(place, {e.name for e in prepared.endpoints})
        added: list[EndpointRows] = []
        index_of = place.index_of
        for rows in prepared.endpoints:
            node = index_of.get(rows.name)
            if node is None:
                added.append(rows)
                continue
            node.payload = rows.endpoint
            if node.fingerprint == rows.fingerprint:
                continue  # nothing under this endpoint changed
            node.fingerprint = rows.fingerprint
            self._set_values(node, rows.row)
            self._apply_deployments(node, rows)
        if added:
            first = len(place.children)
            self.beginInsertRows(self._index(place), first, first + len(added) - 1)
            for i, rows in enumerate(added):
                node = self._endpoint_node(rows, place)
                node.row = first + i
                place.children.append(node)
                index_of[rows.name] = node
            self.structure_version += 1
            self.endInsertRows()
        was_stale, state.stale = state.stale, False
        state.read_at = prepared.read_at
        state.health = "connected"
        self._set_values(place, self._place_values(place, state))
        if was_stale:
            self._emit_subtree(place)  # grey italics back to normal

    @staticmethod
    def _endpoint_node(rows: EndpointRows, place: Node) -> Node:
        node = Node("endpoint", (place.key, rows.name), rows.row, place, place.place, rows.endpoint)
        node.fingerprint = rows.fingerprint
        for i, row in enumerate(rows.deployments):
            name = row[NAME]
            child = Node("deployment", (place.key, rows.name, name), row, node, place.place)
            child.row = i
            node.children.append(child)
            node.index_of[name] = child
        return node

    def _apply_deployments(self, node: Node, rows: EndpointRows) -> None:
        self._remove_missing(node, {row[NAME] for row in rows.deployments})
        added: list[tuple[str, Row]] = []
        for row in rows.deployments:
            name = row[NAME]
            child = node.index_of.get(name)
            if child is None:
                added.append((name, row))
            elif child.values != row:
                self._set_values(child, row)
        if added:
            first = len(node.children)
            self.beginInsertRows(self._index(node), first, first + len(added) - 1)
            for i, (name, row) in enumerate(added):
                child = Node("deployment", (*node.key, name), row, node, node.place)
                child.row = first + i
                node.children.append(child)
                node.index_of[name] = child
            self.structure_version += 1
            self.endInsertRows()

    def _remove_missing(self, parent: Node, keep: set[str]) -> None:
        gone = [c.row for c in parent.children if c.key[-1] not in keep]
        if not gone:
            return
        parent_index = self._index(parent)
        # contiguous runs, last first, so earlier row numbers stay valid
        runs: list[tuple[int, int]] = []
        for row in gone:
            if runs and runs[-1][1] == row - 1:
                runs[-1] = (runs[-1][0], row)
            else:
                runs.append((row, row))
        for first, last in reversed(runs):
            self.beginRemoveRows(parent_index, first, last)
            for child in parent.children[first:last + 1]:
                parent.index_of.pop(child.key[-1], None)
            del parent.children[first:last + 1]
            self.structure_version += 1
            self.endRemoveRows()
        self._renumber(parent, runs[0][0])

    @staticmethod
    def _renumber(parent: Node, start: int) -> None:
        for i in range(start, len(parent.children)):
            parent.children[i].row = i

    def _set_values(self, node: Node, values: Row) -> None:
        """Store the row and announce only the columns that changed."""
        old = node.values
        if values == old:
            return
        node.set_values(values)
        if len(old) != len(values):
            first, last = 0, LAST_COL
        else:
            changed = [min(i, LAST_COL) if i <= LAST_COL else 0
                       for i, (a, b) in enumerate(zip(old, values, strict=True)) if a != b]
            first, last = min(changed), max(changed)
        self.dataChanged.emit(self.createIndex(node.row, first, node), self.createIndex(node.row, last, node))

    def _index(self, node: Node) -> QModelIndex:
        return QModelIndex() if node is self._root else self.createIndex(node.row, 0, node)

    # ------------------------------------------------------------ SLO breaches
    def set_breaches(self, place_id: str, endpoint: str, breaches: dict[str, str]) -> None:
        """Mark the endpoint's deployments in `breaches` (name → sentence) as in SLO breach and
        unmark the others; the endpoint's row says so too."""
        keys = {k for k in self._breached if k[:2] == (place_id, endpoint)}
        for key in keys:
            del self._breached[key]
        for name, text in breaches.items():
            self._breached[(place_id, endpoint, name)] = text
        if breaches:
            self._breached[(place_id, endpoint)] = "; ".join(t for _, t in sorted(breaches.items()))
        for key in keys | {(place_id, endpoint)} | {(place_id, endpoint, n) for n in breaches}:
            node = self._root.index_of.get(place_id)
            for name in key[1:]:
                node = node.index_of.get(name) if node is not None else None
            if node is not None:
                node.texts = None
                self.dataChanged.emit(self.createIndex(node.row, 0, node), self.createIndex(node.row, LAST_COL, node))

    def breach(self, place_id: str, endpoint: str, deployment: str | None = None) -> str:
        """The SLO breach shown on that row ('' if none)."""
        key = (place_id, endpoint) if deployment is None else (place_id, endpoint, deployment)
        return self._breached.get(key, "")

    # ------------------------------------------------------------ staleness
    def update_staleness(self, now: float | None = None) -> list[str]:
        """Mark places whose data is older than their freshness bound; returns those that flipped."""
        now = time.time() if now is None else now
        flipped = []
        for place in self._root.children:
            state = self._states[place.key]
            stale = state.read_at is not None and now - state.read_at > state.freshness_s
            if stale != state.stale:
                state.stale = stale
                flipped.append(place.key)
                self._set_values(place, self._place_values(place, state))
                self._emit_subtree(place)
        return flipped

    def _emit_subtree(self, node: Node) -> None:
        if node.children:
            last = len(node.children) - 1
            self.dataChanged.emit(self.createIndex(0, 0, node.children[0]),
                                  self.createIndex(last, LAST_COL, node.children[last]))
            for child in node.children:
                if child.children:
                    self._emit_subtree(child)
