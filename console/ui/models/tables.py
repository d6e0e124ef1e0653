"""Flat table models over lists of domain objects, updated by key (never reset).

DeploymentsTableModel, RevisionsTableModel and AuditEventsTableModel are the endpoint
view's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from console.domain.models import AuditEvent, DeploymentStatus, ReplicaStatus, Revision
from console.ui.models.inventory import SORT_ROLE, STATE_COLORS

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()
ITEM_ROLE = Qt.ItemDataRole.UserRole + 20
Column = tuple[str, Callable[[Any], Any]]


def split_text(shares: dict[str, int]) -> str:
    return ", ".join(f"{name} {weight}%" for name, weight in sorted(shares.items(), key=lambda kv: -kv[1]) if weight)


def when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    text = split_text(value) if isinstance(value, dict) and all(isinstance(v, int) for v in value.values()) \
        else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class KeyedTableModel(QAbstractTableModel, Generic[T]):
    columns: Sequence[Column] = ()

    def __init__(self, key: Callable[[T], Any], parent: Any = None) -> None:
        super().__init__(parent)
        self._key = key
        self._items: list[T] = []
        self._rows: list[tuple[Any, ...]] = []
        self._row_of: dict[Any, int] = {}

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.columns):
            return self.columns[section][0]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        value = self._rows[index.row()][index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return "" if value is None else str(value)
        if role == SORT_ROLE:
            return value if isinstance(value, int | float) else str(value)
        if role == ITEM_ROLE:
            return self._items[index.row()]
        if role == Qt.ItemDataRole.ForegroundRole:
            color = STATE_COLORS.get(str(value))
            return QBrush(QColor(color)) if color else None
        return None

    def items(self) -> list[T]:
        return list(self._items)

    def item(self, row: int) -> T:
        return self._items[row]

    def _row(self, item: T) -> tuple[Any, ...]:
        return tuple(fn(item) for _, fn in self.columns)

    def set_items(self, items: Sequence[T]) -> None:
        """Make the rows equal `items`: removes, changes and appended inserts; no reset."""
        wanted = {self._key(item): item for item in items}
        for row in range(len(self._items) - 1, -1, -1):
            if self._key(self._items[row]) not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                del self._rows[row]
                self.endRemoveRows()
        self._row_of = {self._key(item): row for row, item in enumerate(self._items)}
        new: list[T] = []
        for key, item in wanted.items():
            row_no = self._row_of.get(key)
            if row_no is None:
                new.append(item)
                continue
            values = self._row(item)
            self._items[row_no] = item
            if values != self._rows[row_no]:
                self._rows[row_no] = values
                self.dataChanged.emit(self.index(row_no, 0), self.index(row_no, len(self.columns) - 1))
        if new:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for item in new:
                self._row_of[self._key(item)] = len(self._items)
                self._items.append(item)
                self._rows.append(self._row(item))
            self.endInsertRows()

    def clear(self) -> None:
        self.set_items([])


class DeploymentsTableModel(KeyedTableModel[DeploymentStatus]):
    columns = (
        ("Deployment", lambda d: d.name),
        ("Model", lambda d: f"{d.model.name}:{d.model.version}"),
        ("Runtime", lambda d: d.runtime.value),
        ("Replicas", lambda d: f"{d.replicas_ready}/{d.replicas_desired}"),
        ("State", lambda d: d.state.value),
        ("Restarts", lambda d: sum(r.restarts for r in d.replicas)),
        ("Reason", lambda d: d.reason),
        ("Details", lambda d: " · ".join(v if k in ("image", "Deployment") else f"{k} {v}"
                                         for k, v in d.detail.items())),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(lambda d: d.name, parent)


def _where(replica: ReplicaStatus) -> str:
    if replica.node:
        return f"node {replica.node}"
    if replica.port:
        return f"127.0.0.1:{replica.port}" + (f" (pid {replica.pid})" if replica.pid else "")
    return f"pid {replica.pid}" if replica.pid else ""


class ReplicasTableModel(KeyedTableModel[tuple[str, ReplicaStatus]]):
    """Every replica (a Kubernetes pod) of an endpoint's deployments: (deployment name, replica)."""

    columns = (
        ("Deployment", lambda item: item[0]),
        ("Replica", lambda item: item[1].id),
        ("State", lambda item: item[1].state + (f" ({item[1].phase})" if item[1].phase else "")),
        ("Restarts", lambda item: item[1].restarts),
        ("Where", lambda item: _where(item[1])),
        ("Last exit", lambda item: "" if item[1].last_exit_code is None else item[1].last_exit_code),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(lambda item: (item[0], item[1].id), parent)


class RevisionsTableModel(KeyedTableModel[Revision]):
    columns = (
        ("Revision", lambda r: r.number),
        ("Time", lambda r: when(r.time)),
        ("Actor", lambda r: r.actor),
        ("Kind", lambda r: r.kind + (f" (restores {r.restores})" if r.restores else "")),
        ("Split", lambda r: split_text(r.traffic)),
        ("Mirror", lambda r: split_text(r.mirror)),
        ("Reason", lambda r: r.reason),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(lambda r: r.number, parent)


class AuditEventsTableModel(KeyedTableModel[AuditEvent]):
    columns = (
        ("Seq", lambda e: e.seq),
        ("Time", lambda e: when(e.time)),
        ("Actor", lambda e: e.actor),
        ("Action", lambda e: e.action),
        ("Deployment", lambda e: e.deployment or ""),
        ("Before", lambda e: short(e.before)),
        ("After", lambda e: short(e.after)),
        ("Reason", lambda e: e.reason),
        ("Outcome", lambda e: e.outcome),
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(lambda e: e.seq, parent)
