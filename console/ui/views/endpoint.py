"""EndpointView: one endpoint — its deployments, revision history and audit events.

The live charts are a ChartsPanel (console/ui/plots); the traffic controls are their own
issue, and their place is kept here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.domain.models import AuditEvent, EndpointStatus, Revision
from console.ui.models.inventory import SORT_ROLE
from console.ui.models.tables import (
    AuditEventsTableModel,
    DeploymentsTableModel,
    ReplicasTableModel,
    RevisionsTableModel,
    split_text,
)
from console.ui.plots.panel import ChartsPanel
from console.ui.release.rollout import RolloutStrip
from console.ui.traffic.panel import TrafficPanel


def _table(model: Any, name: str, accessible: str, parent: QWidget) -> QTableView:
    proxy = QSortFilterProxyModel(parent)
    proxy.setSortRole(SORT_ROLE)
    proxy.setSourceModel(model)
    view = QTableView(parent)
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    return view


class EndpointView(QWidget):
    sig_scoring_uri_copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("endpointView")
        self.place_id = ""
        self.endpoint: EndpointStatus | None = None
        self.title = QLabel("Select an endpoint", self)
        self.title.setObjectName("endpointTitle")
        self.title.setAccessibleName("Endpoint")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.summary = QLabel("", self)
        self.summary.setObjectName("endpointSummary")
        self.summary.setAccessibleName("Endpoint revision, split and scoring URI")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy scoring URI", self)
        self.copy_button.setObjectName("copyScoringUri")
        self.copy_button.setAccessibleName("Copy the endpoint's scoring URI")
        self.copy_button.setToolTip("Copy the scoring URI (Ctrl+Shift+C)")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_scoring_uri)

        self.deployments_model = DeploymentsTableModel(self)
        self.revisions_model = RevisionsTableModel(self)
        self.audit_model = AuditEventsTableModel(self)
        self.replicas_model = ReplicasTableModel(self)
        self.deployments_table = _table(self.deployments_model, "endpointDeployments", "Deployments of the endpoint",
                                        self)
        self.revisions_table = _table(self.revisions_model, "revisionHistory", "Revision history", self)
        self.revisions_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.audit_table = _table(self.audit_model, "auditEvents", "Audit events of the endpoint", self)
        self.audit_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.replicas_table = _table(self.replicas_model, "endpointReplicas",
                                     "Replicas (Kubernetes pods) of the endpoint's deployments", self)
        self.replicas_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)

        self.deployments_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.summary, 1)
        header.addWidget(self.copy_button)
        self.history_tabs = QTabWidget(self)
        self.history_tabs.setObjectName("historyTabs")
        self.history_tabs.setAccessibleName("Revision history and audit events")
        self.history_tabs.tabBar().setAccessibleName("History tabs")
        self.history_tabs.addTab(self.revisions_table, "Revision history")
        self.history_tabs.addTab(self.audit_table, "Audit events")
        self.history_tabs.addTab(self.replicas_table, "Replicas")
        # Left: what the endpoint is and what to do about it (deployments, the traffic split with
        # Rollback, history); right: the live charts, as tall as the view.
        tables = QSplitter(Qt.Orientation.Vertical, self)
        tables.setObjectName("endpointTablesSplitter")
        self.traffic_panel = TrafficPanel(self)
        tables.addWidget(self.deployments_table)
        tables.addWidget(self.traffic_panel)
        tables.addWidget(self.history_tabs)
        tables.setCollapsible(1, False)  # the Rollback button stays visible
        tables.setStretchFactor(0, 1)
        tables.setStretchFactor(1, 2)
        tables.setStretchFactor(2, 2)
        tables.setSizes([120, 200, 260])  # a few deployment rows, every slider row, then history
        self.tables_splitter = tables
        side = QSplitter(Qt.Orientation.Vertical, self)
        side.setObjectName("endpointSideSplitter")
        self.charts = ChartsPanel(self)
        side.addWidget(self.charts)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("endpointSplitter")
        self.splitter.addWidget(tables)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(header)
        self.rollout_strip = RolloutStrip(self)  # console/ui/release/rollout_flow.py keeps it current
        layout.addWidget(self.rollout_strip)
        layout.addWidget(self.splitter, 1)

    def show_endpoint(self, place_id: str, endpoint: EndpointStatus | None) -> None:
        changed = (place_id, endpoint.name if endpoint else None) != (
            self.place_id, self.endpoint.name if self.endpoint else None)
        self.place_id = place_id
        self.endpoint = endpoint
        self.charts.show_endpoint(place_id, endpoint)
        self.traffic_panel.show_endpoint(place_id, endpoint)
        if endpoint is None:
            self.title.setText("Select an endpoint")
            self.summary.setText("")
            self.copy_button.setEnabled(False)
            self.deployments_model.clear()
            self.replicas_model.clear()
        else:
            prod = " · production" if endpoint.production else ""
            self.title.setText(f"{endpoint.name}{prod}")
            applying = "" if endpoint.applied_revision == endpoint.revision else \
                f" (applying; {endpoint.revision_name} {endpoint.applied_revision} live)"
            mirror = f" · mirror: {split_text(endpoint.mirror)}" if any(endpoint.mirror.values()) else ""
            about = f"\n{endpoint.description}" if endpoint.description else ""
            self.summary.setText(f"{endpoint.revision_name} {endpoint.revision}{applying} · split: "
                                 f"{split_text(endpoint.traffic)}"
                                 f"{mirror}\n{endpoint.scoring_uri}{about}")
            self.summary.setToolTip(endpoint.description)
            self.copy_button.setEnabled(bool(endpoint.scoring_uri))
            self.deployments_model.set_items(endpoint.deployments)
            self.replicas_model.set_items([(d.name, r) for d in endpoint.deployments for r in d.replicas])
        if changed:
            self.revisions_model.clear()
            self.audit_model.clear()

    def set_history(self, place_id: str, endpoint: str, revisions: list[Revision], events: list[AuditEvent]) -> None:
        if self.endpoint is None or (place_id, endpoint) != (self.place_id, self.endpoint.name):
            return
        self.revisions_model.set_items(revisions)
        self.audit_model.set_items(events)

    def copy_scoring_uri(self) -> None:
        if self.endpoint is not None and self.endpoint.scoring_uri:
            QGuiApplication.clipboard().setText(self.endpoint.scoring_uri)
            self.sig_scoring_uri_copied.emit(self.endpoint.scoring_uri)
