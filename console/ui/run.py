"""Composition root: QApplication, backends, Console, MainWindow; the shutdown order.

Quitting stops the demo traffic, stops delivering results, waits at most ~1 s for workers
and then exits even if a call still hangs in I/O (each call has its own timeout): the
console never waits on the network to quit. The local engine keeps running by design.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QAbstractItemView, QApplication, QLabel, QTreeView, QWidget

from console import __version__
from console.backends import launcher
from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from console.ui.theme import follow_system

DEMO_ENDPOINT = "fraud"
RESOURCES = Path(__file__).resolve().parent.parent.parent / "resources"
ICON = RESOURCES / "icons" / "switchboard.svg"


def run(args: argparse.Namespace) -> int:
    config_dir = (args.config_dir or launcher.default_config_dir()).expanduser()
    state_dir = args.state_dir.expanduser().resolve() if args.state_dir else None
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "switchboard"])
    assert isinstance(app, QApplication)
    app.setApplicationName("Switchboard")
    app.setOrganizationName("switchboard")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("switchboard")
    follow_system(app)
    icon = QIcon(str(ICON))
    app.setWindowIcon(icon)

    config_dir.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(config_dir / "console.ini"), QSettings.Format.IniFormat)
    runner = TaskRunner()
    sink = ErrorSink()
    console = Console(runner, sink, CredentialStore(), PlacesStore(config_dir))
    window = MainWindow(console, settings, icon)
    window.show()  # before any network answer: places fill in as they answer

    auto_engine = console.load(state_dir)
    window._on_console_places_changed()
    if auto_engine is not None:
        def on_engine_ready(place_id: str) -> None:
            if not window.has_saved_selection() and not args.no_demo:
                window.select_when_available(place_id, DEMO_ENDPOINT)

        console.sig_engine_ready.connect(on_engine_ready)
        console.launch_local(auto_engine, demo=not args.no_demo)
        if not window.has_saved_selection():
            window.select_when_available(auto_engine, None if args.no_demo else DEMO_ENDPOINT)
            window.places.select(auto_engine)

    _quit_on_signals(app)
    if args.screenshot is not None:
        _arm_screenshot(window, args.screenshot)
    started = time.monotonic()
    rc = app.exec()
    window.save_settings()
    clean = console.shutdown(timeout_s=1.0)
    sink.report(f"quit after {time.monotonic() - started:.1f} s; workers idle: {clean}", "info", "app")
    if not clean:
        # A call is still blocked in I/O (each has its own timeout). Do not wait for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return int(rc)


def _quit_on_signals(app: Any) -> None:
    """SIGINT/SIGTERM quit cleanly; a timer lets Python run its signal handlers."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: app.quit())
    timer = QTimer(app)
    timer.setInterval(200)
    timer.timeout.connect(lambda: None)
    timer.start()


SCREENSHOT_CHART_S = 20.0  # seconds of live charts in the screenshot, after the first value


def _arm_screenshot(window: Any, path: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    timer = QTimer(window)
    timer.setInterval(250)
    window.endpoint_view.charts.set_window(60)  # the shortest window: the demo's first seconds fill it
    charted_since: list[float] = []

    def ready() -> bool:
        view = window.endpoint_view
        deps = view.deployments_model.items()
        listed = bool(view.endpoint and deps and view.revisions_model.rowCount()
                      and all(d.state.value != "Creating" for d in deps))
        if not (listed and view.charts.has_data()):
            return False
        if not charted_since:
            charted_since.append(time.monotonic())
        return time.monotonic() - charted_since[0] >= SCREENSHOT_CHART_S

    def tick() -> None:
        if not ready() and time.monotonic() < deadline:
            return
        timer.stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(path))
        names = ("placesTree", "inventoryTree", "inventoryFilter", "endpointView", "endpointDeployments",
                 "revisionHistory", "historyTabs", "statusPlaceHealth", "chartsPanel",
                 "trafficPanel")
        report = {"ready": ready(), "charts": window.endpoint_view.charts.has_data(),
                  "size": [window.width(), window.height()],
                  "visible": {n: bool((w := window.findChild(QWidget, n)) and w.isVisible()) for n in names},
                  "health": window.health_label.text(), "endpoint": window.endpoint_view.title.text(),
                  "deployments": [[d.name, d.state.value] for d in window.endpoint_view.deployments_model.items()],
                  "revisions": window.endpoint_view.revisions_model.rowCount(),
                  "selected": list(window.inventory.current()), "texts": _shown_texts(window)}
        Path(f"{path}.json").write_text(json.dumps(report, indent=2))
        QApplication.quit()

    timer.timeout.connect(tick)
    timer.start()


def _shown_texts(window: Any) -> list[str]:
    """Every text the window shows: labels, window title, and the cells of the rows visible in
    its tree and table views (expanded rows only)."""
    texts = [window.windowTitle()]
    texts += [label.text() for label in window.findChildren(QLabel) if label.isVisible() and label.text()]

    def rows(view: QAbstractItemView, parent: QModelIndex) -> None:
        model = view.model()
        for row in range(model.rowCount(parent)):
            first = model.index(row, 0, parent)
            texts.extend(str(model.index(row, c, parent).data() or "") for c in range(model.columnCount(parent)))
            if isinstance(view, QTreeView) and view.isExpanded(first):
                rows(view, first)

    for view in window.findChildren(QAbstractItemView):
        if view.isVisible() and view.model() is not None:
            rows(view, QModelIndex())
    return [t for t in texts if t]
