"""Proof that something did NOT happen, without sleeping: run the event loop up to a point
that is provably after the events in question, then check.

`run_through(qtbot, runner, after_ms)` returns once
- every timer due within `after_ms` that was started before the call has fired (Qt fires
  timers in the order of their deadlines; the sentinel's is later), and then
- a no-op task submitted on `runner` after those timers has been delivered. On a runner with
  one worker (the `serial_runner` fixture) tasks run and deliver in submission order, so
  every task submitted before it (by those timers, say) has been delivered too.

Use it inside `qtbot.assertNotEmitted(signal)`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from console.ui.tasks import TaskRunner


class _Sentinel(QObject):
    sig_reached = Signal()


def run_through(qtbot, runner: TaskRunner, after_ms: int = 0, timeout: int = 5000) -> None:
    assert runner._pool.maxThreadCount() == 1, "ordering needs a runner with one worker (serial_runner)"
    sentinel = _Sentinel()

    def submit() -> None:
        runner.submit(lambda: None, on_done=lambda _none: sentinel.sig_reached.emit(), name="sentinel")

    timer = QTimer()
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(after_ms)
    timer.timeout.connect(submit)
    with qtbot.waitSignal(sentinel.sig_reached, timeout=timeout):
        timer.start()
