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

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:
        node = self._node(parent)
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        if 0 <= row < len(node.children) and 0 <= column < len(HEADERS):
            return self.createIndex(row, column, node.children[row])
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node = self._node(index).parent
        if node is None or node is self._root:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return len(HEADERS)

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:
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
