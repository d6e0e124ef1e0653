"""MainWindow: places dock, inventory, endpoint view, status bar; settings persist."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QSystemTrayIcon,
    QToolBar,
    QWidget,
)

from console.backends.base import InventorySnapshot
from console.ui.actions import SPECS, accessible_name, build_actions
from console.ui.alerts import AlertMonitor
from console.ui.cluster.flows import ClusterActions
from console.ui.commands import Commands
from console.ui.controller import Console
from console.ui.dialogs.kube_context import KubeContextDialog
from console.ui.dialogs.palette import CommandPalette
from console.ui.dialogs.place import PlaceDialog
from console.ui.dialogs.place_flows import PlaceFlows
from console.ui.dialogs.slo import SloDialog, edit_slo
from console.ui.errors import Message
from console.ui.logs import LogsDock
from console.ui.logs.dock import local_paths
from console.ui.logs.targets import NoLogs, log_target
from console.ui.models.palette import PaletteEntry
from console.ui.models.places import TLS_OFF, tls_off
from console.ui.release.approvals import PendingApprovalsDock
from console.ui.release.pending import ApprovalsWatcher
from console.ui.release.record import ReleaseRecordDialog
from console.ui.release.rollout_flow import RolloutFlow
from console.ui.traffic.flows import TrafficFlows
from console.ui.views.endpoint import EndpointView
from console.ui.views.inventory import InventoryView
from console.ui.views.places import PlacesPanel
from console.ui.views.status import MessagesList, StatusBar

SETTINGS_VERSION = 1


class MainWindow(QMainWindow):
    sig_selection_restored = Signal(str, str)  # place id, endpoint

    def __init__(self, console: Console, settings: QSettings, icon: QIcon | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("Switchboard")
        self.setAccessibleName("Switchboard main window")
        if icon is not None:
            self.setWindowIcon(icon)
        self.console = console
        self.settings = settings
        self.selected_place = ""
        self._pending_selection: tuple[str, str | None, str | None] | None = None
        self._history_key: tuple[str, str, int] | None = None

        self.inventory = InventoryView(console.inventory_model, self)
        self.endpoint_view = EndpointView(self)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.inventory)
        self.splitter.addWidget(self.endpoint_view)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.setCentralWidget(self.splitter)

        self.places = PlacesPanel(console.places_model, self)
        self.places_dock = self._dock("Places", "placesDock", self.places, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.messages = MessagesList(self)
        self.messages_dock = self._dock("Messages", "messagesDock", self.messages,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.messages_dock.hide()
        self.logs_dock = LogsDock(console.runner, settings,
                                  lambda text, level: console.sink.report(text, level, "logs"), self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.logs_dock)
        self.logs_dock.hide()
        self.setAcceptDrops(True)

        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.message_label, self.health_label = self.status.message_label, self.status.health_label
        self.refresh_label, self.busy_label = self.status.refresh_label, self.status.busy_label

        self.command_palette = CommandPalette(self)
        self.traffic = TrafficFlows(console, self.endpoint_view.traffic_panel, self, current=self._current_endpoint)
        self.place_flows = PlaceFlows(console, self, on_saved=self.places.select)
        self.window_actions = build_actions(self, {
            "add_place": self.add_place, "edit_place": self.edit_place, "remove_place": self.remove_place,
            "refresh": self.refresh, "filter": self.inventory.focus_filter, "palette": self.open_palette,
            "focus_places": self.places.tree.setFocus, "focus_inventory": self.inventory.tree.setFocus,
            "toggle_messages": self._toggle_messages, "copy_uri": self.copy_scoring_uri, "quit": self.close,
            "logs": self.open_logs, "open_log_file": self.logs_dock.open_file_dialog,
            "edit_slo": self.edit_slo,
            "approvals": self._toggle_approvals, "start_rollout": self.start_rollout, "record": self.release_record,
            "rollback": lambda: self.traffic.rollback(), "review_traffic": lambda: self.traffic.review(),
        })
        self._build_menus()
        self.cluster_actions = ClusterActions(self)  # Cluster menu: rollbacks and rollout controls
        self.commands = Commands(self)

        self.inventory.sig_selection_changed.connect(self._on_inventory_selection_changed)
        self.places.sig_place_selected.connect(self._on_places_place_selected)
        self.places.sig_add_requested.connect(self.add_place)
        self.places.sig_edit_requested.connect(lambda place_id: self.edit_place(place_id))
        self.places.sig_remove_requested.connect(lambda place_id: self.remove_place(place_id))
        self.endpoint_view.sig_scoring_uri_copied.connect(
            lambda uri: self.console.sink.report(f"copied the scoring URI: {uri}", "info", "clipboard"))
        for monitor in console.monitors.values():
            monitor.sig_snapshot_received.connect(self._on_monitor_snapshot_received)
        console.sig_places_changed.connect(self._on_console_places_changed)
        console.sig_history_loaded.connect(self.endpoint_view.set_history)
        console.sig_history_loaded.connect(
            lambda place_id, endpoint, revisions, _events: self.endpoint_view.charts.set_revisions(
                place_id, endpoint, revisions))
        self.endpoint_view.charts.sig_export_finished.connect(
            lambda text, level: self.console.sink.report(text, level, "charts"))
        console.telemetry.sig_batch_received.connect(self.endpoint_view.charts.add_batch)
        console.telemetry.sig_source_changed.connect(self.endpoint_view.charts.set_source_state)
        console.sink.sig_message_reported.connect(self._on_sink_message_reported)
        self.alerts = AlertMonitor(console.sink, self.windowIcon(), self._place_name, parent=self)
        console.telemetry.sig_batch_received.connect(self.alerts.add_batch)
        self.alerts.sig_breaches_changed.connect(self._on_alerts_breaches_changed)
        console.runner.sig_busy_changed.connect(self.status.set_busy)
        console.places_model.dataChanged.connect(self._on_places_model_data_changed)
        self.approvals = ApprovalsWatcher(console, notify=self._notify, parent=self)
        self.approvals_dock = PendingApprovalsDock(console, self.approvals, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.approvals_dock)
        self.approvals_dock.hide()
        self.approvals.sig_proposal_arrived.connect(lambda _p: self.approvals_dock.show())
        self.approvals.start()
        self.rollouts = RolloutFlow(console, self.endpoint_view, self, notify=self._notify)
        self.rollouts.start()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(1000)
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()
        self.resize(1400, 820)
        self.restore_settings()

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setAccessibleName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        menus: dict[str, Any] = {name: self.menuBar().addMenu(name) for name in ("&File", "&Place", "&View",
                                                                                 "&Endpoint")}
        for spec in SPECS:
            if spec.menu not in menus:
                menus[spec.menu] = self.menuBar().addMenu(spec.menu)
            menus[spec.menu].addAction(self.window_actions[spec.name])
        menus["&View"].addSeparator()
        menus["&View"].addAction(self.places_dock.toggleViewAction())
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setAccessibleName("Main toolbar")
        for name in ("refresh", "add_place", "palette", "copy_uri"):
            toolbar.addAction(self.window_actions[name])
            button = toolbar.widgetForAction(self.window_actions[name])
            if button is not None:
                button.setAccessibleName(accessible_name(self.window_actions[name]))
        self.addToolBar(toolbar)

    # ------------------------------------------------------------ selection and endpoint view
    def _on_inventory_selection_changed(self, kind: str, key: Any) -> None:
        if not kind:
            return
        place_id = key if kind == "place" else key[0]
        self._set_selected_place(place_id)
        if kind in ("endpoint", "deployment"):
            self._show_endpoint(place_id, key[1], force_history=True)
        self.settings.setValue("lastSelection", json.dumps([place_id, *(list(key[1:]) if kind != "place" else [])]))

    def _show_endpoint(self, place_id: str, name: str, force_history: bool = False) -> None:
        endpoint = self.console.inventory_model.endpoint(place_id, name)
        self.endpoint_view.show_endpoint(place_id, endpoint)
        if endpoint is None:
            return
        key = (place_id, name, endpoint.revision)
        if force_history or key != self._history_key:
            self._history_key = key
            self.console.load_history(place_id, name)

    def _set_selected_place(self, place_id: str) -> None:
        if place_id and place_id != self.selected_place:
            self.selected_place = place_id
            self._update_status()

    def _on_places_place_selected(self, place_id: str) -> None:
        if not place_id:
            return
        self.console.connect_place(place_id)  # a Kubernetes context is read when first selected
        self._set_selected_place(place_id)
        kind, key = self.inventory.current()
        if not kind or (key if kind == "place" else key[0]) != place_id:
            self.inventory.select(place_id)

    def _on_monitor_snapshot_received(self, snapshot: InventorySnapshot) -> None:
        self.alerts.set_inventory(snapshot)
        if self._pending_selection and self._pending_selection[0] == snapshot.place_id:
            place_id, endpoint, deployment = self._pending_selection
            if self.inventory.select(place_id, endpoint, deployment):
                self._pending_selection = None
                self.sig_selection_restored.emit(place_id, endpoint or "")
        if self.endpoint_view.endpoint is not None and self.endpoint_view.place_id == snapshot.place_id:
            self._show_endpoint(snapshot.place_id, self.endpoint_view.endpoint.name)
        if snapshot.place_id == self.selected_place:
            self._update_status()

    def _on_console_places_changed(self) -> None:
        for monitor in self.console.monitors.values():
            monitor.sig_snapshot_received.connect(self._on_monitor_snapshot_received,
                                                  Qt.ConnectionType.UniqueConnection)
        if self.endpoint_view.endpoint is not None and self.console.place(self.endpoint_view.place_id) is None:
            self.endpoint_view.show_endpoint("", None)  # its place was removed
        if self.selected_place and self.console.place(self.selected_place) is None:
            self.selected_place = ""
            self._update_status()

    def select_when_available(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> None:
        """Select this row now, or as soon as a snapshot brings it."""
        if not self.inventory.select(place_id, endpoint, deployment):
            self._pending_selection = (place_id, endpoint, deployment)

    def _place_name(self, place_id: str) -> str:
        config = self.console.place(place_id)
        return config.name if config else place_id

    def _on_alerts_breaches_changed(self, place_id: str, endpoint: str) -> None:
        breaches = self.alerts.breaches(place_id, endpoint)
        self.console.inventory_model.set_breaches(place_id, endpoint, breaches)
        charts = getattr(self.endpoint_view, "charts", None)
        if charts is not None:
            charts.set_breaches(place_id, endpoint, breaches)

    # ------------------------------------------------------------ status bar and messages
    def _update_status(self) -> None:
        place = self.console.place(self.selected_place) if self.selected_place else None
        if place is None:
            self.status.show_place(None, None, None, False)
            return
        model = self.console.inventory_model
        self.status.show_place(place.name, self.console.places_model.health(place.id), model.read_at(place.id),
                               model.is_stale(place.id), note=TLS_OFF if tls_off(place) else "")

    def _on_places_model_data_changed(self, *_args: Any) -> None:
        self._update_status()

    def _on_sink_message_reported(self, message: Message) -> None:
        self.status.show_message(message)
        self.messages.add(message)

    def _toggle_messages(self) -> None:
        self.messages_dock.setVisible(not self.messages_dock.isVisible())

    # ------------------------------------------------------------ releases (console/ui/release)
    def _notify(self, title: str, text: str, level: str = "info") -> None:
        """An approval wanted or a rollout rolled back: the messages and, where there is one, the tray."""
        self.console.sink.report(f"{title}: {text}", level, "release")
        tray = self.alerts._tray()  # the SLO alerts' tray icon, shared
        if tray is not None:
            tray.showMessage(f"Switchboard · {title}", text, QSystemTrayIcon.MessageIcon.Information, 10_000)

    def _toggle_approvals(self) -> None:
        self.approvals_dock.setVisible(not self.approvals_dock.isVisible())
        if self.approvals_dock.isVisible():
            self.approvals.poll()

    def _current_endpoint(self) -> tuple[str, str] | None:
        kind, key = self.inventory.current()
        if kind in ("endpoint", "deployment"):
            return key[0], key[1]
        if self.endpoint_view.endpoint is not None:
            return self.endpoint_view.place_id, self.endpoint_view.endpoint.name
        return None

    def start_rollout(self, path: str | None = None, place_id: str | None = None, endpoint: str | None = None) -> Any:
        """"Start rollout from plan…" for `endpoint` (selected first), else the one shown; reads `path` if given."""
        if place_id and endpoint and not self.inventory.select(place_id, endpoint):
            self.console.sink.report(f"{endpoint} is no longer listed", "warning", "rollout")
            return None
        return self.rollouts.open_plan(path)

    def release_record(self, place_id: str | None = None, endpoint: str | None = None) -> ReleaseRecordDialog:
        chosen = (place_id, endpoint) if place_id and endpoint else self._current_endpoint() or ("", "")
        dialog = ReleaseRecordDialog(self.console, chosen[0], chosen[1], self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.record_dialog = dialog
        return dialog

    # ------------------------------------------------------------ actions
    def refresh(self) -> None:
        self.console.refresh()
        if self.endpoint_view.endpoint is not None:
            self._show_endpoint(self.endpoint_view.place_id, self.endpoint_view.endpoint.name, force_history=True)

    def copy_scoring_uri(self) -> None:
        uri = self.inventory.current_scoring_uri() or (
            self.endpoint_view.endpoint.scoring_uri if self.endpoint_view.endpoint else "")
        if uri:
            self.commands.copy(uri, "the scoring URI")
        else:
            self.console.sink.report("select an endpoint to copy its scoring URI", "info", "clipboard")

    def edit_slo(self, place_id: str | None = None, endpoint: str | None = None) -> SloDialog | None:
        """The SLO dialog of `endpoint`, or of the endpoint selected (or shown) now."""
        if place_id is None or endpoint is None:
            kind, key = self.inventory.current()
            if kind in ("endpoint", "deployment"):
                place_id, endpoint = key[0], key[1]
            elif self.endpoint_view.endpoint is not None:
                place_id, endpoint = self.endpoint_view.place_id, self.endpoint_view.endpoint.name
            else:
                self.console.sink.report("select an endpoint to edit its SLO", "info", "SLO")
                return None
        return edit_slo(self.console, self, place_id, endpoint)

    def open_logs(self, replica: str | None = None) -> None:
        """Follow the logs of the selected deployment (or of every deployment of the selected endpoint)."""
        kind, key = self.inventory.current()
        try:
            target = log_target(self.console, kind, key, replica)
        except NoLogs as exc:
            self.console.sink.report(str(exc), "info", "logs")
            return
        self.logs_dock.open_sources(target.key, target.title, target.sources, target.on_disk)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for path in local_paths(event):
            self.logs_dock.open_file(path)
        event.acceptProposedAction()

    def add_place(self) -> PlaceDialog:
        return self.place_flows.add()

    def edit_place(self, place_id: str | None = None) -> PlaceDialog | KubeContextDialog | None:
        return self.place_flows.edit(place_id or self.selected_place)

    def remove_place(self, place_id: str | None = None) -> QMessageBox | None:
        return self.place_flows.remove(place_id or self.selected_place)

    def palette_entries(self) -> list[PaletteEntry]:
        """Every entry the palette offers now (the palette itself makes them as they match)."""
        return self.commands.all_entries()

    def open_palette(self) -> None:
        self.command_palette.open_with(self.commands.entries())

    # ------------------------------------------------------------ settings
    def restore_settings(self) -> None:
        if self.settings.value("version") != str(SETTINGS_VERSION) and self.settings.value("version") is not None:
            return
        for key, restore in (("geometry", self.restoreGeometry), ("windowState", self.restoreState),
                             ("mainSplitter", self.splitter.restoreState),
                             ("endpointSplitter", self.endpoint_view.splitter.restoreState),
                             ("endpointTablesSplitter", self.endpoint_view.tables_splitter.restoreState),
                             ("inventoryHeader", self.inventory.restore_header_state)):
            value = self.settings.value(key)
            if value:
                restore(value)
        try:
            last = json.loads(str(self.settings.value("lastSelection") or "null"))
        except ValueError as exc:
            self.console.sink.report(f"the saved selection in {self.settings.fileName()} was not restored: {exc}",
                                     "warning", "settings")
            last = None
        if isinstance(last, list) and last and all(isinstance(x, str) for x in last):
            self._pending_selection = (last[0], last[1] if len(last) > 1 else None, last[2] if len(last) > 2 else None)

    def has_saved_selection(self) -> bool:
        return self._pending_selection is not None

    def save_settings(self) -> None:
        self.settings.setValue("version", str(SETTINGS_VERSION))
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("mainSplitter", self.splitter.saveState())
        self.settings.setValue("endpointSplitter", self.endpoint_view.splitter.saveState())
        self.settings.setValue("endpointTablesSplitter", self.endpoint_view.tables_splitter.saveState())
        self.settings.setValue("inventoryHeader", self.inventory.header_state())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.approvals.stop()
        self.rollouts.stop()
        self.cluster_actions.stop()
        self.logs_dock.shutdown()
        self.command_palette.close()
        super().closeEvent(event)
