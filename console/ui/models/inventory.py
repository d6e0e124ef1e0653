"""InventoryModel: places → endpoints → deployments, fed by snapshot differences.

A refresh never resets the model: removed rows are removed, new rows inserted, rows whose
shown values changed get dataChanged. Selection and scroll position survive.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from console.backends.base import InventorySnapshot
from console.domain.models import DeploymentStatus, EndpointStatus
from console.ui.models.rows import HEADER_TIPS, HEADERS, Col, Row, deployment_row, display, endpoint_row, sort_key

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
KEY_ROLE = Qt.ItemDataRole.UserRole + 3
PAYLOAD_ROLE = Qt.ItemDataRole.UserRole + 4
STALE_ROLE = Qt.ItemDataRole.UserRole + 5
STATE_COLORS = {"Ready": "#2e9d4f", "Degraded": "#d08a00", "Failed": "#d0342c", "Creating": "#3a7bd5",
                "Deleting": "#8a8a8a", "unreachable": "#d0342c", "reconnecting": "#d08a00", "stale": "#d08a00"}
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()


class Node:
    __slots__ = ("children", "index_of", "key", "kind", "parent", "payload", "row", "values")

    def __init__(self, kind: str, key: Any, values: Row, parent: Node | None, payload: Any = None) -> None:
        self.kind = kind
        self.key = key
        self.values = values
        self.parent = parent
        self.payload = payload
        self.children: list[Node] = []
        self.index_of: dict[str, Node] = {}
        self.row = 0


class PlaceState:
    __slots__ = ("freshness_s", "health", "read_at", "stale")

    def __init__(self, freshness_s: float) -> None:
        self.freshness_s = freshness_s
        self.read_at: float | None = None
        self.health = "loading"
        self.stale = False


class InventoryModel(QAbstractItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._root = Node("root", None, (), None)
        self._states: dict[str, PlaceState] = {}
        self._italic = QFont()
        self._italic.setItalic(True)

    # ------------------------------------------------------------ Qt interface
    def _node(self, index: Index) -> Node:
        if not index.isValid():
            return self._root
        node = index.internalPointer()
        assert isinstance(node, Node)
        return node

    def index(self, row: int, column: int, parent: Index = ROOT) -> QModelIndex:
        node = self._node(parent)
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        if 0 <= row < len(node.children) and 0 <= column < len(HEADERS):
            return self.createIndex(row, column, node.children[row])
        return QModelIndex()

    def parent(self, index: Index = ROOT) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node = self._node(index).parent
        if node is None or node is self._root:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def rowCount(self, parent: Index = ROOT) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: Index = ROOT) -> int:
        return len(HEADERS)

    def hasChildren(self, parent: Index = ROOT) -> bool:
        return self.rowCount(parent) > 0

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Col(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(Col(section))
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return display(node.values, col)
        if role == SORT_ROLE:
            return sort_key(node.values, col)
        if role == KIND_ROLE:
            return node.kind
        if role == KEY_ROLE:
            return node.key
        if role == PAYLOAD_ROLE:
            return node.payload
        stale = self._stale(node)
        if role == STALE_ROLE:
            return stale
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node, col, stale)
        if role == Qt.ItemDataRole.ForegroundRole:
            if stale:
                return QBrush(QColor("#8a8a8a"))
            if col == Col.STATE:
                state = str(node.values[Col.STATE]).split(",")[0]
                color = STATE_COLORS.get(state)
                return QBrush(QColor(color)) if color else None
            return None
        if role == Qt.ItemDataRole.FontRole and stale:
            return self._italic
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (Col.REPLICAS, Col.TRAFFIC, Col.MIRROR, Col.AGE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{HEADERS[Col(col)]}: {display(node.values, col)}"
        return None

    def _place_of(self, node: Node) -> Node:
        while node.parent is not None and node.parent is not self._root:
            node = node.parent
        return node

    def _stale(self, node: Node) -> bool:
        state = self._states.get(self._place_of(node).key)
        return bool(state and state.stale)

    def _tooltip(self, node: Node, col: int, stale: bool) -> str | None:
        lines = []
        if stale:
            state = self._states[self._place_of(node).key]
            when = time.strftime("%H:%M:%S", time.localtime(state.read_at or 0))
            lines.append(f"stale: last read at {when}, older than {state.freshness_s:.0f} s")
        if col == Col.NAME and len(node.values) > 9 and node.values[9]:
            lines.append(str(node.values[9]))
        if col == Col.SCORING_URI and node.values[Col.SCORING_URI]:
            lines.append(f"{node.values[Col.SCORING_URI]} (Ctrl+Shift+C copies it)")
        return "\n".join(lines) or None

    # ------------------------------------------------------------ places
    def add_place(self, place_id: str, name: str, kind: str, where: str, freshness_s: float) -> None:
        if place_id in self._root.index_of:
            return
        row = len(self._root.children)
        self.beginInsertRows(QModelIndex(), row, row)
        node = Node("place", place_id, (name, kind, "", None, "loading…", None, None, where, None, where), self._root)
        node.row = row
        self._root.children.append(node)
        self._root.index_of[place_id] = node
        self._states[place_id] = PlaceState(freshness_s)
        self.endInsertRows()

    def remove_place(self, place_id: str) -> None:
        node = self._root.index_of.pop(place_id, None)
        if node is None:
            return
        self.beginRemoveRows(QModelIndex(), node.row, node.row)
        del self._root.children[node.row]
        self._renumber(self._root, node.row)
        self._states.pop(place_id, None)
        self.endRemoveRows()

    def place_ids(self) -> list[str]:
        return [n.key for n in self._root.children]

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
                f"{node.values[7]}\n{summary}".strip())

    # ------------------------------------------------------------ snapshots → row changes
    def apply_snapshot(self, snapshot: InventorySnapshot) -> None:
        place = self._root.index_of.get(snapshot.place_id)
        state = self._states.get(snapshot.place_id)
        if place is None or state is None:
            return
        endpoints = {ep.name: ep for ep in snapshot.endpoints}
        self._remove_missing(place, endpoints)
        added: list[EndpointStatus] = []
        for ep in snapshot.endpoints:
            node = place.index_of.get(ep.name)
            if node is None:
                added.append(ep)
                continue
            node.payload = ep
            self._set_values(node, endpoint_row(ep))
            self._apply_deployments(node, ep)
        if added:
            first = len(place.children)
            self.beginInsertRows(self._index(place), first, first + len(added) - 1)
            for i, ep in enumerate(added):
                node = self._endpoint_node(ep, place)
                node.row = first + i
                place.children.append(node)
                place.index_of[ep.name] = node
            self.endInsertRows()
        state.read_at = snapshot.read_at
        state.stale = False
        state.health = "connected"
        self._set_values(place, self._place_values(place, state))

    def _endpoint_node(self, ep: EndpointStatus, place: Node) -> Node:
        node = Node("endpoint", (place.key, ep.name), endpoint_row(ep), place, ep)
        for i, dep in enumerate(ep.deployments):
            child = Node("deployment", (place.key, ep.name, dep.name), deployment_row(dep, ep), node, dep)
            child.row = i
            node.children.append(child)
            node.index_of[dep.name] = child
        return node

    def _apply_deployments(self, node: Node, ep: EndpointStatus) -> None:
        deps = {d.name: d for d in ep.deployments}
        self._remove_missing(node, deps)
        added: list[DeploymentStatus] = []
        for dep in ep.deployments:
            child = node.index_of.get(dep.name)
            if child is None:
                added.append(dep)
                continue
            child.payload = dep
            self._set_values(child, deployment_row(dep, ep))
        if added:
            first = len(node.children)
            self.beginInsertRows(self._index(node), first, first + len(added) - 1)
            for i, dep in enumerate(added):
                child = Node("deployment", (*node.key, dep.name), deployment_row(dep, ep), node, dep)
                child.row = first + i
                node.children.append(child)
                node.index_of[dep.name] = child
            self.endInsertRows()

    def _remove_missing(self, parent: Node, keep: dict[str, Any]) -> None:
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
            self.endRemoveRows()
        self._renumber(parent, runs[0][0])

    @staticmethod
    def _renumber(parent: Node, start: int) -> None:
        for i in range(start, len(parent.children)):
            parent.children[i].row = i

    def _set_values(self, node: Node, values: Row) -> None:
        """Store the row and announce only the columns that changed, so a sorted proxy
        re-sorts a row only when its sort column changed."""
        old = node.values
        if values == old:
            return
        node.values = values
        last_col = len(HEADERS) - 1
        if len(old) != len(values):
            first, last = 0, last_col
        else:
            changed = [min(i, last_col) if i <= last_col else 0 for i, (a, b) in enumerate(zip(old, values,
                                                                                          strict=True)) if a != b]
            first, last = min(changed), max(changed)
        self.dataChanged.emit(self.createIndex(node.row, first, node), self.createIndex(node.row, last, node))

    def _index(self, node: Node) -> QModelIndex:
        return QModelIndex() if node is self._root else self.createIndex(node.row, 0, node)

    # ------------------------------------------------------------ staleness and lookups
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

    def is_stale(self, place_id: str) -> bool:
        state = self._states.get(place_id)
        return bool(state and state.stale)

    def read_at(self, place_id: str) -> float | None:
        state = self._states.get(place_id)
        return state.read_at if state else None

    def _emit_subtree(self, node: Node) -> None:
        if node.children:
            last = len(node.children) - 1
            self.dataChanged.emit(self.createIndex(0, 0, node.children[0]),
                                  self.createIndex(last, len(HEADERS) - 1, node.children[last]))
            for child in node.children:
                if child.children:
                    self._emit_subtree(child)

    def find(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> QModelIndex:
        node = self._root.index_of.get(place_id)
        for name in (endpoint, deployment):
            if node is None or name is None:
                break
            node = node.index_of.get(name)
        return QModelIndex() if node is None else self.createIndex(node.row, 0, node)

    def endpoint(self, place_id: str, name: str) -> EndpointStatus | None:
        node = self._root.index_of.get(place_id)
        child = node.index_of.get(name) if node else None
        return child.payload if child is not None else None

    def walk(self) -> Iterable[tuple[str, Any]]:
        """(kind, key) of every row, places first then their endpoints and deployments."""
        for place in self._root.children:
            yield "place", place.key
            for ep in place.children:
                yield "endpoint", ep.key
                for dep in ep.children:
                    yield "deployment", dep.key
