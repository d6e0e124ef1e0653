"""InventoryView: endpoints and deployments of every place, sortable, type-to-filter."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from console.ui.models.inventory import KEY_ROLE, KIND_ROLE, SORT_ROLE, InventoryModel
from console.ui.models.rows import Col

AUTO_EXPAND_ENDPOINTS = 50


class InventoryProxy(QSortFilterProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        # Recursive filtering costs a walk up the tree on every dataChanged: on only while filtering.
        self.setRecursiveFilteringEnabled(False)
        self.setAutoAcceptChildRows(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setDynamicSortFilter(True)


class InventoryView(QWidget):
    sig_selection_changed = Signal(str, object)  # kind ("place", "endpoint", "deployment", ""), key

    def __init__(self, model: InventoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inventory")
        self.model = model
        self.proxy = InventoryProxy(self)
        self.proxy.setSourceModel(model)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setObjectName("inventoryFilter")
        self.filter_edit.setPlaceholderText("Filter endpoints and deployments of all places (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Inventory filter")
        self.tree = QTreeView(self)
        self.tree.setObjectName("inventoryTree")
        self.tree.setAccessibleName("Inventory of endpoints and deployments")
        self.tree.setModel(self.proxy)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(Col.NAME, Qt.SortOrder.AscendingOrder)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setStretchLastSection(False)
        for col, width in ((Col.NAME, 200), (Col.MODEL, 110), (Col.RUNTIME, 110), (Col.REPLICAS, 70),
                           (Col.STATE, 110), (Col.TRAFFIC, 70), (Col.MIRROR, 70), (Col.SCORING_URI, 300),
                           (Col.AGE, 60)):
            self.tree.setColumnWidth(col, width)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.tree)

        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(120)
        self._filter_timer.timeout.connect(self._on_filter_timer_timeout)
        self.filter_edit.textChanged.connect(lambda _text: self._filter_timer.start())
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(5000)
        self._age_timer.timeout.connect(self.tree.viewport().update)
        self._age_timer.start()
        self.proxy.rowsInserted.connect(self._on_proxy_rows_inserted)
        self.tree.selectionModel().selectionChanged.connect(self._on_tree_selection_changed)

    # ---- filter
    def focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def _on_filter_timer_timeout(self) -> None:
        text = self.filter_edit.text().strip()
        self.proxy.setRecursiveFilteringEnabled(bool(text))
        self.proxy.setFilterFixedString(text)
        if text:
            self.tree.expandAll()

    # ---- expansion and selection
    def _on_proxy_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if parent.isValid():
            if parent.data(KIND_ROLE) == "place" and self.proxy.rowCount(parent) <= AUTO_EXPAND_ENDPOINTS:
                for row in range(first, last + 1):
                    self.tree.expand(self.proxy.index(row, 0, parent))
            return
        for row in range(first, last + 1):
            self.tree.expand(self.proxy.index(row, 0))

    def select(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> bool:
        source = self.model.find(place_id, endpoint, deployment)
        index = self.proxy.mapFromSource(source)
        if not index.isValid():
            return False
        parent = index.parent()
        while parent.isValid():
            self.tree.expand(parent)
            parent = parent.parent()
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        return True

    def current(self) -> tuple[str, Any]:
        index = self.tree.currentIndex()
        if not index.isValid():
            return "", None
        index = index.siblingAtColumn(0)
        return str(index.data(KIND_ROLE)), index.data(KEY_ROLE)

    def current_scoring_uri(self) -> str:
        index = self.tree.currentIndex()
        while index.isValid() and index.data(KIND_ROLE) == "deployment":
            index = index.parent()
        if not index.isValid() or index.data(KIND_ROLE) != "endpoint":
            return ""
        return str(index.siblingAtColumn(Col.SCORING_URI).data() or "")

    def _on_tree_selection_changed(self, *_args: Any) -> None:
        kind, key = self.current()
        self.sig_selection_changed.emit(kind, key)

    # ---- persistence
    def header_state(self) -> QByteArray:
        return self.tree.header().saveState()

    def restore_header_state(self, state: QByteArray | bytes | None) -> None:
        if state:
            self.tree.header().restoreState(QByteArray(state))

