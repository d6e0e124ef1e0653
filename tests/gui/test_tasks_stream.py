"""TaskRunner.submit_stream: one long task, many results on the GUI thread, and a stop that ends it."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

pytestmark = pytest.mark.gui


def test_items_arrive_in_order_on_the_gui_thread_before_the_end(qtbot, runner):
    got: list[int] = []
    threads = set()
    finished = []

    def produce(emit, count):
        for i in range(count):
            assert emit(i)
        return "done"

    def items(batch):
        threads.add(QThread.currentThread())
        got.extend(batch)

    def done(result):
        finished.append((result, len(got)))

    runner.submit_stream(produce, 5000, on_items=items, on_done=done)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert got == list(range(5000))
    assert finished == [("done", 5000)]  # every item was handed over before on_done
    assert threads == {QThread.currentThread()}


def test_failure_after_items_reaches_on_error_after_the_items(qtbot, runner):
    seen: list[object] = []

    def produce(emit):
        emit("first")
        raise OSError("the source went away")

    runner.submit_stream(produce, on_items=seen.extend, on_error=seen.append)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen[0] == "first" and isinstance(seen[1], OSError)


def test_cancel_calls_stop_and_drops_later_items(qtbot, runner):
    stop = threading.Event()
    got: list[int] = []
    refused = threading.Event()

    def produce(emit):
        i = 0
        while not stop.wait(0.01):
            if not emit(i):
                refused.set()
                return
            i += 1

    task = runner.submit_stream(produce, on_items=got.extend, stop=stop.set)
    qtbot.waitUntil(lambda: len(got) > 3, timeout=5000)
    runner.cancel(task)
    assert stop.is_set()
    count = len(got)
    qtbot.waitUntil(lambda: runner.active_threads() == 0, timeout=5000)
    assert len(got) == count  # nothing delivered after the cancel


def test_emit_answers_false_once_nobody_listens(qtbot, runner):
    cancelled = threading.Event()
    answers: list[bool] = []

    def produce(emit):
        emit("before")
        cancelled.wait(5)
        answers.append(emit("after"))

    task = runner.submit_stream(produce, on_items=lambda items: None)
    runner.cancel(task)
    cancelled.set()
    qtbot.waitUntil(lambda: runner.active_threads() == 0 and bool(answers), timeout=5000)
    assert answers == [False]


def test_shutdown_stops_streaming_tasks_and_waits_for_them(qtbot):
    from console.ui.tasks import TaskRunner

    runner = TaskRunner(max_threads=2)
    stop = threading.Event()
    started = threading.Event()

    def produce(emit):
        started.set()
        stop.wait(30)

    runner.submit_stream(produce, on_items=lambda items: None, stop=stop.set)
    assert started.wait(5)
    assert runner.shutdown(timeout_s=5.0)
    assert stop.is_set() and runner.active_threads() == 0
    assert runner.submit_stream(produce, on_items=lambda items: None) == 0
