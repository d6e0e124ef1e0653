"""PlacesTreeModel: the places dock — kinds of place, then each place with its health."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from console.backends.base import PlaceKind
from console.backends.places import PlaceConfig
from console.ui.monitor import Health

PLACE_ROLE = Qt.ItemDataRole.UserRole + 10
HEALTH_ROLE = Qt.ItemDataRole.UserRole + 11
GROUPS = (
    (PlaceKind.ENGINE, "Local engines"),
    (PlaceKind.KUBERNETES, "Kubernetes contexts"),
    (PlaceKind.SERVING, "Serving hosts"),
    (PlaceKind.PROMETHEUS, "Prometheus servers"),
)
TLS_OFF = "TLS verification off"
HEALTH_COLORS = {"connected": "#2e9d4f", "reconnecting": "#d08a00", "unreachable": "#d0342c",
                 "loading": "#3a7bd5", "starting": "#3a7bd5", "on-demand": "#8a8a8a"}
Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()


def tls_off(config: PlaceConfig) -> bool:
    """A place reached by URL whose TLS certificate is not verified."""
    return config.kind in (PlaceKind.SERVING, PlaceKind.PROMETHEUS) and not config.verify_tls


def health_text(config: PlaceConfig, health: Health) -> str:
    """The health shown for a place, with the TLS verification caveat where it applies."""
    return f"{health.text()} ({TLS_OFF})" if tls_off(config) else health.text()


class _Group:
    __slots__ = ("kind", "label", "places", "row")

    def __init__(self, row: int, kind: PlaceKind, label: str) -> None:
        self.row = row
        self.kind = kind
        self.label = label
        self.places: list[_Place] = []


class _Place:
    __slots__ = ("config", "group", "health")

    def __init__(self, config: PlaceConfig, group: _Group) -> None:
        self.config = config
        self.group = group
        self.health = Health()


class PlacesTreeModel(QAbstractItemModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._groups = [_Group(i, kind, label) for i, (kind, label) in enumerate(GROUPS)]
        self._by_kind = {g.kind: g for g in self._groups}

    # ---- Qt interface
    def index(self, row: int, column: int, parent: Index = ROOT) -> QModelIndex:
        if not 0 <= column < 2:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, self._groups[row]) if 0 <= row < len(self._groups) else QModelIndex()
        item = parent.internalPointer()
        if isinstance(item, _Group) and parent.column() == 0 and 0 <= row < len(item.places):
            return self.createIndex(row, column, item.places[row])
        return QModelIndex()

    def parent(self, index: Index = ROOT) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        item = index.internalPointer()
        if isinstance(item, _Place):
            return self.createIndex(item.group.row, 0, item.group)
        return QModelIndex()

    def rowCount(self, parent: Index = ROOT) -> int:
        if not parent.isValid():
            return len(self._groups)
        item = parent.internalPointer()
        return len(item.places) if isinstance(item, _Group) and parent.column() == 0 else 0

    def columnCount(self, parent: Index = ROOT) -> int:
        return 2

    def hasChildren(self, parent: Index = ROOT) -> bool:
        return self.rowCount(parent) > 0

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < 2:
            return ("Place", "Health")[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = index.internalPointer()
        col = index.column()
        if isinstance(item, _Group):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole) and col == 0:
                return f"{item.label} ({len(item.places)})"
            return None
        assert isinstance(item, _Place)
        if role == Qt.ItemDataRole.DisplayRole:
            return item.config.name if col == 0 else health_text(item.config, item.health)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{item.config.name}: {health_text(item.config, item.health)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            where = item.config.state_dir or item.config.url or item.config.context or ""
            lines = [item.config.name, where, item.health.tooltip()]
            if tls_off(item.config):
                lines.append(f"{TLS_OFF}: the server's certificate is not checked")
            return "\n".join(line for line in lines if line)
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            color = HEALTH_COLORS.get(item.health.state)
            return QBrush(QColor(color)) if color else None
        if role == PLACE_ROLE:
            return item.config
        if role == HEALTH_ROLE:
            return item.health
        return None

    # ---- updates
    def _find(self, place_id: str) -> _Place | None:
        for group in self._groups:
            for place in group.places:
                if place.config.id == place_id:
                    return place
        return None

    def find(self, place_id: str) -> QModelIndex:
        place = self._find(place_id)
        if place is None:
            return QModelIndex()
        return self.createIndex(place.group.places.index(place), 0, place)

    def upsert(self, config: PlaceConfig) -> None:
        place = self._find(config.id)
        if place is not None and place.group.kind == config.kind:
            place.config = config
            row = place.group.places.index(place)
            self.dataChanged.emit(self.createIndex(row, 0, place), self.createIndex(row, 1, place))
            return
        if place is not None:
            self.remove(config.id)
        group = self._by_kind[config.kind]
        row = len(group.places)
        self.beginInsertRows(self.createIndex(group.row, 0, group), row, row)
        group.places.append(_Place(config, group))
        self.endInsertRows()
        self._group_changed(group)

    def remove(self, place_id: str) -> None:
        place = self._find(place_id)
        if place is None:
            return
        group = place.group
        row = group.places.index(place)
        self.beginRemoveRows(self.createIndex(group.row, 0, group), row, row)
        del group.places[row]
        self.endRemoveRows()
        self._group_changed(group)

    def _group_changed(self, group: _Group) -> None:
        index = self.createIndex(group.row, 0, group)
        self.dataChanged.emit(index, index)

    def set_health(self, place_id: str, health: Health) -> None:
        place = self._find(place_id)
        if place is None:
            return
        place.health = health
        row = place.group.places.index(place)
        self.dataChanged.emit(self.createIndex(row, 0, place), self.createIndex(row, 1, place))

    def refresh_countdowns(self) -> None:
        """Repaint 'next try in N s' texts (called by a 1 s timer)."""
        for group in self._groups:
            for row, place in enumerate(group.places):
                if place.health.next_try is not None:
                    self.dataChanged.emit(self.createIndex(row, 1, place), self.createIndex(row, 1, place))

    def places(self) -> list[PlaceConfig]:
        return [p.config for g in self._groups for p in g.places]

    def health(self, place_id: str) -> Health | None:
        place = self._find(place_id)
        return place.health if place else None
