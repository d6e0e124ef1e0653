"""TelemetryFeed: live telemetry of every place, delivered on the GUI thread.

A local engine place is read through its telemetry stream (backends/telemetry_stream.py), one
long task on the TaskRunner per place; a place whose backend implements SupportsTelemetry
(serving hosts, Prometheus) is polled every `telemetry_period_s`, one call in flight. Either
way a failure is retried with backoff (1, 2, 4, 8 s), a reconnection asks for the history that
covers the outage, and what could not be recovered is delivered as a gap batch.

Batches reach `sig_batch_received` at most every FLUSH_MS (merged per place), so many
deployments at 1 Hz cost a few deliveries a second. Nothing here blocks the GUI thread, and
`shutdown()` only asks the workers to stop (the runner's shutdown waits, bounded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from console.backends.base import SupportsTelemetry
from console.backends.engine import EngineBackend
from console.backends.telemetry_stream import Continuity, EngineTelemetryStream
from console.domain.telemetry import TelemetryBatch
from console.ui.tasks import Emit, TaskRunner

BACKOFF_S = (1, 2, 4, 8)
FLUSH_MS = 250
LIVE = "live"
STOPPED = "stopped"
CONNECTING = "connecting…"
_CONNECTED = object()  # emitted by a stream task once its connection is open


def run_engine_stream(emit: Emit, stream: EngineTelemetryStream) -> None:
    """The worker side of one engine connection: returns when the engine ends the stream or
    the stream is stopped; raises the connection's failure."""
    with stream:
        stream.connect()
        if not emit(_CONNECTED):
            return
        for batch in stream.batches():
            if not emit(batch):
                return


@dataclass
class _Source:
    place_id: str
    backend: Any
    poll: bool
    continuity: Continuity
    due_at: float | None = None  # monotonic time of the next connection attempt or poll
    task_id: int = 0
    stream: EngineTelemetryStream | None = None
    failures: int = 0
    read_ok: bool = False  # a poll has succeeded: later polls ask for no history unless recovering
    state: str = ""
    problems_before: int = 0  # malformed samples skipped by earlier connections
    problems_shown: int = 0
    pending: list[TelemetryBatch] = field(default_factory=list)


class TelemetryFeed(QObject):
    sig_batch_received = Signal(object)  # TelemetryBatch
    sig_source_changed = Signal(str, str)  # place id, "live" / "reconnecting in N s: <error>" / "stopped"

    def __init__(self, runner: TaskRunner, flush_ms: int = FLUSH_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._sources: dict[str, _Source] = {}
        self._relays: dict[str, str] = {}  # a Prometheus place → the cluster place whose endpoints it measures
        # one timer for every source: it hands on what arrived and starts the retries and polls
        # that are due (no timer per source: nothing to delete when a place goes away)
        self._tick = QTimer(self)
        self._tick.setInterval(flush_ms)
        self._tick.timeout.connect(self._on_tick_timeout)

    # ------------------------------------------------------------ public
    @staticmethod
    def has_telemetry(backend: object) -> bool:
        return isinstance(backend, EngineBackend | SupportsTelemetry)

    def start(self, place_id: str, backend: object) -> bool:
        """Read `backend`'s telemetry from now on (False: it has none). Already reading it: a
        pending retry happens now."""
        source = self._sources.get(place_id)
        if source is not None and source.backend is backend:
            if not source.task_id:
                self._connect(source)
            return True
        self.stop(place_id)
        if not self.has_telemetry(backend):
            return False
        poll = not isinstance(backend, EngineBackend)
        slack = max(2.0, 2.0 * float(getattr(backend, "telemetry_period_s", 1.0)))
        source = _Source(place_id, backend, poll, Continuity(place_id, slack_s=slack))
        self._sources[place_id] = source
        if not self._tick.isActive():
            self._tick.start()
        self._connect(source)
        return True

    def relay(self, place_id: str, to_place_id: str | None) -> None:
        """Hand `place_id`'s batches on as `to_place_id`'s too (None: stop): a Prometheus server that
        watches a cluster gives that cluster's endpoints their charts and traffic confirmation."""
        if to_place_id:
            self._relays[place_id] = to_place_id
        else:
            self._relays.pop(place_id, None)

    def relayed_to(self, place_id: str) -> list[str]:
        """The places whose telemetry is handed on to `place_id`."""
        return sorted(source for source, target in self._relays.items() if target == place_id)

    def stop(self, place_id: str) -> None:
        source = self._sources.pop(place_id, None)
        if source is None:
            return
        if source.task_id:
            self._runner.cancel(source.task_id)  # stops the stream: its socket is shut down
        self.sig_source_changed.emit(place_id, STOPPED)
        if not self._sources:
            self._tick.stop()

    def shutdown(self) -> None:
        """Stop every source; never waits (TaskRunner.shutdown waits, bounded)."""
        for place_id in list(self._sources):
            self.stop(place_id)
        self._tick.stop()

    def places(self) -> list[str]:
        return list(self._sources)

    def state(self, place_id: str) -> str:
        source = self._sources.get(place_id)
        return source.state if source is not None else STOPPED

    def problems(self, place_id: str) -> int:
        """Malformed samples skipped so far for this place."""
        source = self._sources.get(place_id)
        return _problems(source) if source is not None else 0

    # ------------------------------------------------------------ reading
    def _connect(self, source: _Source) -> None:
        if source.task_id or self._sources.get(source.place_id) is not source:
            return
        source.due_at = None
        history = source.continuity.history_s()
        if source.poll:
            if source.read_ok and not source.failures:
                history = 0.0
            source.task_id = self._runner.submit(
                source.backend.telemetry, history, on_done=lambda batch: self._on_poll_done(source, batch),
                on_error=lambda error: self._on_read_failed(source, error), name=f"telemetry of {source.place_id}")
            return
        if not source.state:
            self._set_state(source, CONNECTING)
        stream = EngineTelemetryStream.for_state_dir(source.backend.state_dir, source.place_id, history)
        source.problems_before = _problems(source)
        source.stream = stream
        source.task_id = self._runner.submit_stream(
            run_engine_stream, stream, on_items=lambda items: self._on_stream_items(source, items),
            stop=stream.stop, on_done=lambda _none: self._on_stream_ended(source),
            on_error=lambda error: self._on_read_failed(source, error), name=f"telemetry of {source.place_id}")

    def _on_stream_items(self, source: _Source, items: list[Any]) -> None:
        for item in items:
            if item is _CONNECTED:
                source.continuity.resumed()
                source.failures = 0
                self._set_state(source, LIVE)
            else:
                self._queue(source, item)
        count = _problems(source)
        if count != source.problems_shown and source.stream is not None and source.state.startswith(LIVE):
            source.problems_shown = count
            last = source.stream.batcher.last_problem
            self._set_state(source, f"{LIVE} ({count} malformed samples skipped, the last: {last})")

    def _on_stream_ended(self, source: _Source) -> None:
        source.task_id = 0
        self._retry(source, "the engine ended the telemetry stream")

    def _on_poll_done(self, source: _Source, batch: TelemetryBatch) -> None:
        source.task_id = 0
        if source.failures:
            source.continuity.resumed()
        source.failures = 0
        source.read_ok = True
        self._set_state(source, LIVE)
        self._queue(source, batch)
        source.due_at = time.monotonic() + float(source.backend.telemetry_period_s)

    def _on_read_failed(self, source: _Source, error: BaseException) -> None:
        source.task_id = 0
        self._retry(source, str(error) or error.__class__.__name__)

    def _retry(self, source: _Source, why: str) -> None:
        if self._sources.get(source.place_id) is not source:
            return
        delay = BACKOFF_S[min(source.failures, len(BACKOFF_S) - 1)]
        source.failures += 1
        self._set_state(source, f"reconnecting in {delay} s: {why}")
        source.due_at = time.monotonic() + delay

    def _set_state(self, source: _Source, text: str) -> None:
        if text != source.state:
            source.state = text
            self.sig_source_changed.emit(source.place_id, text)

    # ------------------------------------------------------------ delivery
    def _queue(self, source: _Source, batch: TelemetryBatch) -> None:
        source.pending.extend(source.continuity.accept(batch))

    def _on_tick_timeout(self) -> None:
        now = time.monotonic()
        for source in list(self._sources.values()):
            batches, source.pending = source.pending, []
            relay = self._relays.get(source.place_id)
            for batch in merge(batches):
                self.sig_batch_received.emit(batch)
                if relay:
                    self.sig_batch_received.emit(batch.model_copy(update={"place_id": relay}))
            if source.due_at is not None and source.due_at <= now and not source.task_id:
                self._connect(source)


def _problems(source: _Source) -> int:
    return source.problems_before + (source.stream.batcher.problems if source.stream is not None else 0)


def merge(batches: list[TelemetryBatch]) -> list[TelemetryBatch]:
    """Consecutive batches of one place with the same `history` flag and no gap, as one batch."""
    out: list[TelemetryBatch] = []
    run: list[TelemetryBatch] = []

    def close_run() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            samples = tuple(s for b in run for s in b.samples)
            out.append(run[-1].model_copy(update={"samples": samples}))
        run.clear()

    for batch in batches:
        if batch.gap_from is not None:
            close_run()
            out.append(batch)
        elif run and run[-1].history != batch.history:
            close_run()
            run.append(batch)
        else:
            run.append(batch)
    close_run()
    return out

