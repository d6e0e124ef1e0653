"""Background work → signals. The only place in the console that starts threads.

`TaskRunner.submit(fn, *args, on_done=..., on_error=...)` runs `fn` on a QThreadPool
worker; the callbacks run later on the GUI thread. Workers never touch widgets: they
only hand back a result or an exception. `shutdown()` drops queued work, stops delivering
results and waits a bounded time; calls still blocked in I/O are abandoned (each has its
own timeout) so quitting never waits on the network.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


@dataclass
class _Pending:
    name: str
    on_done: Done | None
    on_error: Failed | None


class _Task(QRunnable):
    def __init__(self, runner: TaskRunner, task_id: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._runner = runner
        self._task_id = task_id
        self._fn = fn
        self._args = args

    def run(self) -> None:
        if self._runner.closing:
            return
        result: Any = None
        error: BaseException | None = None
        try:
            result = self._fn(*self._args)
        except Exception as exc:
            error = exc
        self._runner._deliver(self._task_id, result, error)


class TaskRunner(QObject):
    """Runs callables off the GUI thread and reports back on it."""

    _sig_task_finished = Signal(int, object, object)
    sig_task_failed = Signal(str, object)  # name, exception: failures nobody handled
    sig_busy_changed = Signal(int)  # tasks in flight

    def __init__(self, max_threads: int = 8, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(max_threads)
        self._pool.setExpiryTimeout(2000)
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closing = False
        self._sig_task_finished.connect(self._on_worker_finished)

    @property
    def closing(self) -> bool:
        return self._closing

    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Done | None = None,
               on_error: Failed | None = None, name: str = "") -> int:
        """Queue `fn(*args)`; returns a task id (0 once shutting down)."""
        if self._closing:
            return 0
        task_id = next(self._ids)
        self._pending[task_id] = _Pending(name or getattr(fn, "__name__", "task"), on_done, on_error)
        self._pool.start(_Task(self, task_id, fn, args))
        self.sig_busy_changed.emit(len(self._pending))
        return task_id

    def cancel(self, task_id: int) -> None:
        """Forget a task's callbacks; its result, when it comes, is dropped."""
        if self._pending.pop(task_id, None) is not None:
            self.sig_busy_changed.emit(len(self._pending))

    def _deliver(self, task_id: int, result: Any, error: BaseException | None) -> None:
        """Called on the worker thread: hand the outcome to the GUI thread, unless closing."""
        with self._lock:
            if not self._closing:
                self._sig_task_finished.emit(task_id, result, error)

    @Slot(int, object, object)
    def _on_worker_finished(self, task_id: int, result: Any, error: BaseException | None) -> None:
        pending = self._pending.pop(task_id, None)
        if pending is None or self._closing:
            return
        self.sig_busy_changed.emit(len(self._pending))
        if error is None:
            if pending.on_done is not None:
                pending.on_done(result)
        elif pending.on_error is not None:
            pending.on_error(error)
        else:
            self.sig_task_failed.emit(pending.name, error)

    def active_threads(self) -> int:
        return int(self._pool.activeThreadCount())

    def shutdown(self, timeout_s: float = 1.5) -> bool:
        """Stop delivering, drop queued work, wait up to `timeout_s`. True if no worker is left busy."""
        with self._lock:
            self._closing = True
        self._pending.clear()
        self._pool.clear()
        return bool(self._pool.waitForDone(int(timeout_s * 1000)))
