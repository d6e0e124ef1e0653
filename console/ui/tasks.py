"""Background work → signals. The only place in the console that starts threads.

`TaskRunner.submit(fn, *args, on_done=..., on_error=...)` runs `fn` on a QThreadPool
worker; the callbacks run later on the GUI thread. Workers never touch widgets: they
only hand back a result or an exception. `shutdown()` drops queued work, stops delivering
results and waits a bounded time; calls still blocked in I/O are abandoned (each has its
own timeout) so quitting never waits on the network.

`TaskRunner.submit_stream(fn, *args, on_items=..., stop=...)` runs one long task that hands
back many results: `fn(emit, *args)` calls `emit(item)` (False once nobody listens: the task
should end); `on_items(items)` runs on the GUI thread with every item emitted since its last
call, so a fast producer costs one queued signal per GUI turn, not one per item. `cancel` and
`shutdown` call `stop()` (from the GUI thread; it must not block) to make the task end.
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
Emit = Callable[[Any], bool]
Items = Callable[[list[Any]], None]


class _Outbox:
    """Items a streaming task emitted that the GUI thread has not taken yet."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Any] = []
        self.woken = False  # a delivery signal is on its way
        self.open = True

    def put(self, item: Any) -> bool | None:
        """Queue `item`: True if the GUI thread must be woken, None if nobody listens any more."""
        with self.lock:
            if not self.open:
                return None
            self.items.append(item)
            wake, self.woken = not self.woken, True
            return wake

    def take(self) -> list[Any]:
        with self.lock:
            items, self.items, self.woken = self.items, [], False
            return items

    def close(self) -> None:
        with self.lock:
            self.open = False
            self.items = []


@dataclass
class _Pending:
    name: str
    on_done: Done | None
    on_error: Failed | None
    on_items: Items | None = None
    outbox: _Outbox | None = None
    stop: Callable[[], None] | None = None


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


class _StreamTask(_Task):
    def __init__(self, runner: TaskRunner, task_id: int, fn: Callable[..., Any], args: tuple[Any, ...],
                 outbox: _Outbox) -> None:
        super().__init__(runner, task_id, fn, (lambda item: runner._emit(task_id, outbox, item), *args))


class TaskRunner(QObject):
    """Runs callables off the GUI thread and reports back on it."""

    _sig_task_finished = Signal(int, object, object)
    _sig_task_emitted = Signal(int)
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
        self._sig_task_emitted.connect(self._on_worker_emitted)

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

    def submit_stream(self, fn: Callable[..., Any], *args: Any, on_items: Items, stop: Callable[[], None] | None = None,
                      on_done: Done | None = None, on_error: Failed | None = None, name: str = "") -> int:
        """Queue the long task `fn(emit, *args)`; `on_items` gets its emitted items on the GUI thread
        (all of them before `on_done`/`on_error`). Returns a task id (0 once shutting down)."""
        if self._closing:
            return 0
        task_id = next(self._ids)
        outbox = _Outbox()
        self._pending[task_id] = _Pending(name or getattr(fn, "__name__", "task"), on_done, on_error,
                                          on_items, outbox, stop)
        self._pool.start(_StreamTask(self, task_id, fn, args, outbox))
        self.sig_busy_changed.emit(len(self._pending))
        return task_id

    def cancel(self, task_id: int) -> None:
        """Forget a task's callbacks; its result, when it comes, is dropped. A streaming task is
        told to stop."""
        pending = self._pending.pop(task_id, None)
        if pending is not None:
            self._stop(pending)
            self.sig_busy_changed.emit(len(self._pending))

    def _stop(self, pending: _Pending) -> None:
        if pending.outbox is not None:
            pending.outbox.close()
        if pending.stop is not None:
            pending.stop()

    def _emit(self, task_id: int, outbox: _Outbox, item: Any) -> bool:
        """Called on the worker thread by a streaming task's `emit`."""
        wake = outbox.put(item)
        if wake is None or self._closing:
            return False
        if wake:
            with self._lock:
                if not self._closing:
                    self._sig_task_emitted.emit(task_id)
        return True

    @Slot(int)
    def _on_worker_emitted(self, task_id: int) -> None:
        pending = self._pending.get(task_id)
        if pending is None or pending.outbox is None or self._closing:
            return
        items = pending.outbox.take()
        if items and pending.on_items is not None:
            pending.on_items(items)

    def _deliver(self, task_id: int, result: Any, error: BaseException | None) -> None:
        """Called on the worker thread: hand the outcome to the GUI thread, unless closing."""
        with self._lock:
            if not self._closing:
                self._sig_task_finished.emit(task_id, result, error)

    @Slot(int, object, object)
    def _on_worker_finished(self, task_id: int, result: Any, error: BaseException | None) -> None:
        if task_id in self._pending:
            self._on_worker_emitted(task_id)  # items emitted before the end come first
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
        for pending in self._pending.values():
            self._stop(pending)
        self._pending.clear()
        self._pool.clear()
        return bool(self._pool.waitForDone(int(timeout_s * 1000)))
