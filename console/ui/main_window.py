"""MainWindow: places dock, inventory, endpoint view, status bar; settings persist."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QWidget,
)

from console.backends.base import InventorySnapshot
from console.ui.actions import SPECS, accessible_name, build_actions
from console.ui.controller import Console
from console.ui.dialogs.palette import CommandPalette
from console.ui.dialogs.place import PlaceDialog
from console.ui.errors import Message
from console.ui.models.palette import PaletteEntry
from console.ui.views.endpoint import EndpointView
from console.ui.views.inventory import InventoryView
from console.ui.views.places import PlacesPanel

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
        self.messages = QListWidget(self)
        self.messages.setObjectName("messagesList")
        self.messages.setAccessibleName("Messages: errors and notices")
        self.messages_dock = self._dock("Messages", "messagesDock", self.messages,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.messages_dock.hide()

        self.message_label = QLabel("", self)
        self.message_label.setObjectName("statusMessage")
        self.message_label.setAccessibleName("Latest message")
        self.health_label = QLabel("", self)
        self.health_label.setObjectName("statusPlaceHealth")
        self.health_label.setAccessibleName("Health of the selected place")
        self.refresh_label = QLabel("", self)
        self.refresh_label.setObjectName("statusLastRefresh")
        self.refresh_label.setAccessibleName("Last refresh of the selected place")
        self.busy_label = QLabel("", self)
        self.busy_label.setObjectName("statusBusy")
        self.busy_label.setAccessibleName("Calls in flight")
        status = self.statusBar()
        status.addWidget(self.message_label, 1)
        for label in (self.health_label, self.refresh_label, self.busy_label):
            status.addPermanentWidget(label)

        self.command_palette = CommandPalette(self)
        self.window_actions = build_actions(self, {
            "add_place": self.add_place, "edit_place": self.edit_place, "remove_place": self.remove_place,
            "refresh": self.refresh, "filter": self.inventory.focus_filter, "palette": self.open_palette,
            "focus_places": self.places.tree.setFocus, "focus_inventory": self.inventory.tree.setFocus,
            "toggle_messages": self._toggle_messages, "copy_uri": self.copy_scoring_uri, "quit": self.close,
        })
        self._build_menus()

        self.inventory.sig_selection_changed.connect(self._on_inventory_selection_changed)
        self.places.sig_place_selected.connect(self._on_places_place_selected)
        self.places.sig_add_requested.connect(self.add_place)
        self.places.sig_edit_requested.connect(lambda place_id: self.edit_place(place_id))
        self.places.sig_remove_requested.connect(lambda place_id: self.remove_place(place_id))
        self.endpoint_view.sig_scoring_uri_copied.connect(
            lambda uri: self.console.sink.report(f"copied {uri}", "info", "clipboard"))
        for monitor in console.monitors.values():
            monitor.sig_snapshot_received.connect(self._on_monitor_snapshot_received)
        console.sig_places_changed.connect(self._on_console_places_changed)
        console.sig_history_loaded.connect(self.endpoint_view.set_history)
        console.sink.sig_message_reported.connect(self._on_sink_message_reported)
        console.runner.sig_busy_changed.connect(self._on_runner_busy_changed)
        console.places_model.dataChanged.connect(self._on_places_model_data_changed)
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
        self._set_selected_place(place_id)
        kind, key = self.inventory.current()
        if not kind or (key if kind == "place" else key[0]) != place_id:
            self.inventory.select(place_id)

    def _on_monitor_snapshot_received(self, snapshot: InventorySnapshot) -> None:
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

    def select_when_available(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> None:
        """Select this row now, or as soon as a snapshot brings it."""
        if not self.inventory.select(place_id, endpoint, deployment):
            self._pending_selection = (place_id, endpoint, deployment)

    # ------------------------------------------------------------ status bar and messages
    def _update_status(self) -> None:
        place = self.console.place(self.selected_place) if self.selected_place else None
        if place is None:
            self.health_label.setText("")
            self.refresh_label.setText("")
            return
        health = self.console.places_model.health(place.id)
        self.health_label.setText(f"{place.name}: {health.text() if health else '?'}")
        self.health_label.setToolTip(health.tooltip() if health else "")
        read_at = self.console.inventory_model.read_at(place.id)
        stale = " (stale)" if self.console.inventory_model.is_stale(place.id) else ""
        self.refresh_label.setText(
            "last refresh " + time.strftime("%H:%M:%S", time.localtime(read_at)) + stale if read_at else "not read yet")

    def _on_places_model_data_changed(self, *_args: Any) -> None:
        self._update_status()

    def _on_sink_message_reported(self, message: Message) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(message.time))
        source = f"{message.source}: " if message.source else ""
        self.message_label.setText(f"{stamp} {source}{message.text}")
        self.message_label.setToolTip(message.text)
        self.messages.addItem(f"{stamp} [{message.level}] {source}{message.text}")
        if self.messages.count() > 500:
            self.messages.takeItem(0)

    def _on_runner_busy_changed(self, count: int) -> None:
        self.busy_label.setText(f"{count} call{'s' if count != 1 else ''} in flight" if count else "")

    def _toggle_messages(self) -> None:
        self.messages_dock.setVisible(not self.messages_dock.isVisible())

    # ------------------------------------------------------------ actions
    def refresh(self) -> None:
        self.console.refresh()
        if self.endpoint_view.endpoint is not None:
            self._show_endpoint(self.endpoint_view.place_id, self.endpoint_view.endpoint.name, force_history=True)

    def copy_scoring_uri(self) -> None:
        uri = self.inventory.current_scoring_uri() or (
            self.endpoint_view.endpoint.scoring_uri if self.endpoint_view.endpoint else "")
        if uri:
            QGuiApplication.clipboard().setText(uri)
            self.console.sink.report(f"copied {uri}", "info", "clipboard")
        else:
            self.console.sink.report("select an endpoint to copy its scoring URI", "info", "clipboard")

    def add_place(self) -> None:
        dialog = PlaceDialog(self.console.runner, self.console.credentials, None, self)
        if dialog.exec() and dialog.result_config() is not None:
            config = dialog.result_config()
            assert config is not None
            self.console.add_place(config)
            self._on_console_places_changed()
            self.places.select(config.id)

    def edit_place(self, place_id: str | None = None) -> None:
        config = self.console.place(place_id or self.selected_place)
        if config is None or config.auto:
            self.console.sink.report("select a place you added to edit it", "info", "places")
            return
        dialog = PlaceDialog(self.console.runner, self.console.credentials, config, self)
        if dialog.exec() and dialog.result_config() is not None:
            updated = dialog.result_config()
            assert updated is not None
            self.console.update_place(updated)
            self._on_console_places_changed()

    def remove_place(self, place_id: str | None = None) -> None:
        config = self.console.place(place_id or self.selected_place)
        if config is None or config.auto:
            self.console.sink.report("select a place you added to remove it", "info", "places")
            return
        answer = QMessageBox.question(self, "Remove place",
                                      f"Remove {config.name!r}? Its stored secret is deleted from the keyring.")
        if answer == QMessageBox.StandardButton.Yes:
            self.console.remove_place(config.id)

    def palette_entries(self) -> list[PaletteEntry]:
        entries = [PaletteEntry("action", a.text().replace("&", ""), a.toolTip(), a.trigger,
                                a.shortcut().toString()) for a in self.window_actions.values()]
        for config in self.console.places_model.places():
            entries.append(PaletteEntry("place", config.name, config.state_dir or config.url or config.context or "",
                                        partial(self._jump, config.id)))
        for kind, key in self.console.inventory_model.walk():
            if kind == "endpoint":
                entries.append(PaletteEntry("endpoint", key[1], self._place_name(key[0]),
                                            partial(self._jump, key[0], key[1])))
            elif kind == "deployment":
                entries.append(PaletteEntry("deployment", key[2], f"{key[1]} · {self._place_name(key[0])}",
                                            partial(self._jump, key[0], key[1], key[2])))
        return entries

    def _place_name(self, place_id: str) -> str:
        config = self.console.place(place_id)
        return config.name if config else place_id

    def _jump(self, place_id: str, endpoint: str | None = None, deployment: str | None = None) -> None:
        self.places.select(place_id)
        self.inventory.select(place_id, endpoint, deployment)
        self.inventory.tree.setFocus()

    def open_palette(self) -> None:
        self.command_palette.open_with(self.palette_entries())

    # ------------------------------------------------------------ settings
    def restore_settings(self) -> None:
        if self.settings.value("version") != str(SETTINGS_VERSION) and self.settings.value("version") is not None:
            return
        for key, restore in (("geometry", self.restoreGeometry), ("windowState", self.restoreState),
                             ("mainSplitter", self.splitter.restoreState),
                             ("endpointSplitter", self.endpoint_view.splitter.restoreState),
                             ("inventoryHeader", self.inventory.restore_header_state)):
            value = self.settings.value(key)
            if value:
                restore(value)
        try:
            last = json.loads(str(self.settings.value("lastSelection") or "null"))
        except ValueError:
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
        self.settings.setValue("inventoryHeader", self.inventory.header_state())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.command_palette.close()
        super().closeEvent(event)
