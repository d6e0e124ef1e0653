"""Fixtures for the console's widget and item-model tests (offscreen Qt)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console, engine_place_id
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import FakeFactory, MemoryKeyring


def _idle_runner(max_threads: int) -> Iterator[TaskRunner]:
    tasks = TaskRunner(max_threads=max_threads)
    yield tasks
    assert tasks.shutdown(timeout_s=5.0), "a worker thread was still busy after the test"
    assert tasks.active_threads() == 0


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    """A TaskRunner that must have no worker busy when the test ends (dangling-thread check)."""
    yield from _idle_runner(4)


@pytest.fixture
def serial_runner(qtbot) -> Iterator[TaskRunner]:
    """A TaskRunner with one worker: tasks run, and their results arrive, in the order they were
    submitted, so a later task's result proves every earlier one's was handled (tests.gui.sync)."""
    yield from _idle_runner(1)


@pytest.fixture
def env(tmp_path, monkeypatch, qtbot):
    """Main windows on fake places: env["make"]() gives (console, window); see fakes.start_window."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    factory = FakeFactory()
    state_dir = tmp_path / "state"
    place_id = engine_place_id(state_dir)

    runners: list[TaskRunner] = []

    def make(settings_name="console.ini"):
        runner = TaskRunner(max_threads=4)
        runners.append(runner)
        sink = ErrorSink()
        console = Console(runner, sink, CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp_path / "config"),
                          backend_factory=factory)
        window = MainWindow(console, QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        return console, window

    yield {"make": make, "factory": factory, "state_dir": state_dir, "place_id": place_id, "tmp": tmp_path}
    for backend in factory.backends.values():
        if backend.gate is not None:
            backend.gate.set()
    for runner in runners:
        assert runner.shutdown(timeout_s=5.0), "a worker was still busy after the test"
        assert runner.active_threads() == 0
