"""A MainWindow on a real engine for the release tests (approvals, rollouts, records): the
console has its own config dir, so its own identity, as a person's console would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QSettings

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.harness import demo_traffic as demo_traffic  # the tests import it from here


@contextmanager
def release_window(state_dir: Path, folder: Path, qtbot) -> Iterator[MainWindow]:
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(folder / "config"))
    window = MainWindow(console, QSettings(str(folder / "console.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.place_id = console.load(state_dir)  # type: ignore[attr-defined]
    window._on_console_places_changed()
    console.monitors[window.place_id].start()  # type: ignore[attr-defined]
    window.show()
    try:
        yield window
    finally:
        window.close()
        assert console.shutdown(timeout_s=5.0), "a worker was still busy after the window closed"
        assert runner.active_threads() == 0


def messages(window: MainWindow) -> list[str]:
    return [m.text for m in window.console.sink.messages]


def show_endpoint(window: MainWindow, qtbot, endpoint: str = "fraud") -> None:
    """Select `endpoint` in the inventory and wait for its rollout strip to have been read."""
    place = window.place_id  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.inventory.select(place, endpoint), timeout=30_000)
    qtbot.waitUntil(lambda: (place, endpoint) in window.rollouts.rollouts, timeout=10_000)
    qtbot.waitUntil(window.endpoint_view.rollout_strip.isVisible, timeout=5_000)
