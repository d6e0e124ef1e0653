"""The inventory's tree (places → endpoints → deployments) and its read-only Qt interface.

InventoryModel (inventory.py) adds the writes: places, snapshots as row changes, staleness.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from console.domain.models import DeploymentStatus, EndpointStatus
from console.ui.models.rows import HEADER_TIPS, HEADERS, Col, Row, display, sort_key

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
KEY_ROLE = Qt.ItemDataRole.UserRole + 3
PAYLOAD_ROLE = Qt.ItemDataRole.UserRole + 4
STALE_ROLE = Qt.ItemDataRole.UserRole + 5
STATE_COLORS = {"Ready": "#2e9d4f", "Degraded": "#d08a00", "Failed": "#d0342c", "Creating": "#3a7bd5",
                "Deleting": "#8a8a8a", "unreachable": "#d0342c", "reconnecting": "#d08a00", "stale": "#d08a00"}
RIGHT_ALIGNED = frozenset((Col.REPLICAS, Col.TRAFFIC, Col.MIRROR, Col.AGE))
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()


class PlaceState:
    __slots__ = ("freshness_s", "health", "location", "read_at", "stale")

    def __init__(self, freshness_s: float, location: str = "") -> None:
        self.freshness_s = freshness_s
        self.location = location  # in full (the row shows a short form)
        self.read_at: float | None = None
        self.health = "loading"
        self.stale = False


class Node:
    """A row. `payload`: the EndpointStatus of an endpoint row (a deployment's is looked up
    in its endpoint's); `fingerprint`: the hash of an endpoint's rows as last shown;
    `texts`: the shown strings, computed on first paint and dropped when `values` change."""

    __slots__ = ("children", "fingerprint", "index_of", "key", "kind", "parent", "payload", "place", "row",
                 "texts", "values")

    def __init__(self, kind: str, key: Any, values: Row, parent: Node | None, place: PlaceState | None,
                 payload: Any = None) -> None:
        self.kind = kind
        self.key = key
        self.values = values
        self.parent = parent
        self.place = place
        self.payload = payload
        self.fingerprint = 0
        self.texts: list[str | None] | None = None
        self.children: list[Node] = []
        self.index_of: dict[str, Node] = {}
        self.row = 0

    def set_values(self, values: Row) -> None:
        self.values = values
        self.texts = None


# Roles as plain ints: data() runs for every painted cell, several times.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ACCESSIBLE = int(Qt.ItemDataRole.AccessibleTextRole)
_HANDLED = frozenset((_DISPLAY, _TOOLTIP, _FOREGROUND, _FONT, _ALIGNMENT, _ACCESSIBLE, int(SORT_ROLE),
                      int(KIND_ROLE), int(KEY_ROLE), int(PAYLOAD_ROLE), int(STALE_ROLE)))
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
_COLUMNS = len(HEADERS)
_STALE_COLOR = "#8a8a8a"
BREACH_COLOR = "#d0342c"
_MARKED = frozenset((Col.NAME, Col.STATE))  # the columns a breach colours


class InventoryTree(QAbstractItemModel):
    """Read side: Qt's item-model interface and lookups over the nodes."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._root = Node("root", None, (), None, None)
        self._states: dict[str, PlaceState] = {}
        self._italic = QFont()
        self._italic.setItalic(True)
        self._brushes: dict[str, QBrush] = {}
        # SLO breaches (AlertMonitor): deployment key → sentence; endpoint key → its deployments'
        self._breached: dict[tuple[str, ...], str] = {}

    # ------------------------------------------------------------ Qt interface (hot: kept lean)
    def index(self, row: int, column: int, parent: Index = ROOT) -> QModelIndex:
        if parent.isValid():
            if parent.column() != 0:
                return QModelIndex()
            node: Node = parent.internalPointer()
        else:
            node = self._root
        children = node.children
        if 0 <= row < len(children) and 0 <= column < _COLUMNS:
            return self.createIndex(row, column, children[row])
        return QModelIndex()

    def parent(self, index: Index = ROOT) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node = index.internalPointer().parent
        if node is None or node is self._root:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def rowCount(self, parent: Index = ROOT) -> int:
        if not parent.isValid():
            return len(self._root.children)
        if parent.column() != 0:
            return 0
        return len(parent.internalPointer().children)

    def columnCount(self, parent: Index = ROOT) -> int:
        return _COLUMNS

    def hasChildren(self, parent: Index = ROOT) -> bool:
        return self.rowCount(parent) > 0

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else _NO_FLAGS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Col(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(Col(section))
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        role = int(role)
        if role not in _HANDLED or not index.isValid():
            return None
        node: Node = index.internalPointer()
        col = index.column()
        if role == _DISPLAY:
            texts = node.texts
            if texts is None:
                texts = node.texts = [None] * _COLUMNS
            text = texts[col]
            if text is None:
                text = display(node.values, col)
                if col == Col.STATE and self._breached and self._breach(node):
                    text = f"{text} · SLO breach"
                if col != Col.AGE:  # the age moves with the clock
                    texts[col] = text
            return text
        if role == SORT_ROLE:
            return sort_key(node.values, col)
        if role == KIND_ROLE:
            return node.kind
        if role == KEY_ROLE:
            return node.key
        if role == PAYLOAD_ROLE:
            return self._payload(node)
        if role == _ALIGNMENT:
            return _RIGHT if col in RIGHT_ALIGNED else None
        stale = node.place is not None and node.place.stale
        if role == STALE_ROLE:
            return stale
        if role == _FOREGROUND:
            if stale:
                return self._brush(_STALE_COLOR)
            if self._breached and col in _MARKED and self._breach(node):
                return self._brush(BREACH_COLOR)
            if col == Col.STATE:
                color = STATE_COLORS.get(str(node.values[Col.STATE]).split(",")[0])
                return self._brush(color) if color else None
            return None
        if role == _FONT:
            return self._italic if stale else None
        if role == _TOOLTIP:
            breach = self._breach(node) if self._breached else ""
            tip = self._tooltip(node, col, stale)
            return f"SLO breach: {breach}" + (f"\n{tip}" if tip else "") if breach else tip
        return f"{HEADERS[Col(col)]}: {display(node.values, col)}"  # accessible text

    def _breach(self, node: Node) -> str:
        return self._breached.get(node.key, "") if node.kind in ("deployment", "endpoint") else ""

    def _brush(self, color: str) -> QBrush:
        brush = self._brushes.get(color)
        if brush is None:
            brush = self._brushes[color] = QBrush(QColor(color))
        return brush

    @staticmethod
    def _tooltip(node: Node, col: int, stale: bool) -> str | None:
        lines = []
        if stale and node.place is not None:
            when = time.strftime("%H:%M:%S", time.localtime(node.place.read_at or 0))
            lines.append(f"stale: last read at {when}, older than {node.place.freshness_s:.0f} s")
        if col == Col.NAME and len(node.values) > 9 and node.values[9]:
            lines.append(str(node.values[9]))
        if col == Col.SCORING_URI and node.values[Col.SCORING_URI]:
            lines.append(f"{node.values[Col.SCORING_URI]} (Ctrl+Shift+C copies it)")
        return "\n".join(lines) or None

    @staticmethod
    def _payload(node: Node) -> Any:
        if node.kind == "deployment" and node.parent is not None and node.parent.payload is not None:
            return next((d for d in node.parent.payload.deployments if d.name == node.key[-1]), None)
        return node.payload

    # ------------------------------------------------------------ lookups
    def place_ids(self) -> list[str]:
        return [n.key for n in self._root.children]

    def is_stale(self, place_id: str) -> bool:
        state = self._states.get(place_id)
        return bool(state and state.stale)

    def read_at(self, place_id: str) -> float | None:
        state = self._states.get(place_id)
        return state.read_at if state else None

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

    def deployment(self, place_id: str, endpoint: str, name: str) -> DeploymentStatus | None:
        ep = self.endpoint(place_id, endpoint)
        return next((d for d in ep.deployments if d.name == name), None) if ep is not None else None

    def walk(self) -> Iterable[tuple[str, Any]]:
        """(kind, key) of every row, places first then their endpoints and deployments."""
        for place in self._root.children:
            yield "place", place.key
            for ep in place.children:
                yield "endpoint", ep.key
                for dep in ep.children:
                    yield "deployment", dep.key
