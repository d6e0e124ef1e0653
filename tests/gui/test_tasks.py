"""TaskRunner: work off the GUI thread, results on it, and a quit that never waits on I/O."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from console.ui.tasks import TaskRunner
from tests.gui.sync import run_through

pytestmark = pytest.mark.gui


def test_result_arrives_on_gui_thread_from_a_worker(qtbot, runner):
    seen = {}

    def work():
        seen["worker"] = QThread.currentThread()
        return 42

    def done(value):
        seen["value"] = value
        seen["callback"] = QThread.currentThread()

    runner.submit(work, on_done=done)
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42
    assert seen["callback"] == QThread.currentThread()
    assert seen["worker"] != QThread.currentThread()


def test_errors_go_to_on_error_or_to_the_sink_signal(qtbot, runner):
    errors = []
    runner.submit(lambda: 1 / 0, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ZeroDivisionError)
    with qtbot.waitSignal(runner.sig_task_failed, timeout=5000) as blocker:
        runner.submit(lambda: int("x"), name="parse")
    assert blocker.args[0] == "parse"


class _Spy(QObject):
    sig_called = Signal(object)


def test_cancelled_task_result_is_dropped(qtbot, serial_runner):
    gate = threading.Event()
    spy = _Spy()
    got = []
    spy.sig_called.connect(got.append)
    task = serial_runner.submit(gate.wait, 5, on_done=spy.sig_called.emit, on_error=spy.sig_called.emit)
    serial_runner.cancel(task)
    assert serial_runner.in_flight() == 0
    with qtbot.assertNotEmitted(spy.sig_called), qtbot.assertNotEmitted(serial_runner.sig_task_failed):
        gate.set()
        run_through(qtbot, serial_runner)  # a later task on the same worker: delivered after the cancelled one
    assert got == []


def test_hanging_call_does_not_block_gui_and_shutdown_is_bounded(qtbot):
    tasks = TaskRunner(max_threads=2)
    gate = threading.Event()
    tasks.submit(gate.wait, 30)
    ticks = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=2000)  # the GUI thread keeps ticking
    timer.stop()
    started = time.monotonic()
    assert tasks.shutdown(timeout_s=0.5) is False  # abandoned, not waited for
    assert time.monotonic() - started < 1.0
    assert tasks.submit(lambda: 1) == 0  # closed
    gate.set()
    qtbot.waitUntil(lambda: tasks.active_threads() == 0, timeout=5000)
