"""ChangeSender: send a confirmed change on a worker, then verify it.

send → (the engine applies it, or refuses it) → read back until the engine reports the new
revision applied by its router → watch the observed live traffic converge to the new split
(console/ui/traffic/convergence.py) → "confirmed in the data plane", or on the deadline exactly
what was and was not confirmed. A conflict (the endpoint changed since the change was made)
becomes `sig_conflict_found` with the current state and who changed it; nothing is retried.
An engine that does not answer leaves the outcome unknown: the state is read back when the
engine answers again (a restarted one is found through its state dir), never guessed.
Every message names the endpoint, the revision and the cause.

On a Kubernetes context (calls.Sent): an HTTPRoute is applied once every parent gateway reports
the new generation accepted; the other kinds end "accepted by the API server, data plane not
confirmed" unless telemetry for the endpoint shows the new split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from console.backends.base import BackendError, Conflict, Forbidden, NotSupported, Unreachable
from console.backends.kubernetes.wording import CONFIRMED, NOT_CONFIRMED
from console.domain.approvals import ChangeProposal
from console.domain.models import AuditEvent, EndpointStatus
from console.ui.models.tables import split_text
from console.ui.tasks import TaskRunner
from console.ui.traffic import calls
from console.ui.traffic.calls import Change, EndpointRead, Sent
from console.ui.traffic.convergence import Convergence, check, check_counts
from console.ui.traffic.observed import ObservedTraffic

POLL_MS = 100
VERIFY_TIMEOUT_S = 15.0
RECOVER_TIMEOUT_S = 120.0
RECOVER_POLL_MS = 500
CLUSTER_POLL_S = 0.5


@dataclass
class Outcome:
    change: Change
    state: str  # confirmed | applied | unconfirmed | proposed | conflict | refused | failed | unknown | not-applied
    text: str
    revision: int | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds from the click: sent, applied, confirmed
    status: EndpointStatus | None = None  # the endpoint as the engine last answered, where it did


@dataclass(frozen=True)
class ConflictInfo:
    change: Change
    read: EndpointRead
    events: tuple[AuditEvent, ...]
    cause: str


@dataclass
class _Run:
    change: Change
    backend: Any
    revision: int | None = None
    status: EndpointStatus | None = None
    applied_at: float | None = None  # epoch seconds of the revision (the engine's clock)
    deadline: float = 0.0
    busy: bool = False  # a read is in flight
    phase: str = "sending"  # sending | applying | converging | recovering
    last: Convergence | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cause: str = ""
    sent: Sent | None = None  # a cluster's answer
    polled_at: float = 0.0  # monotonic time of the last read back (a cluster is read at most every 0.5 s)


def _live(shares: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in shares.items() if v}


def _hhmm(when: datetime | float) -> str:
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when).astimezone()
    return moment.astimezone().strftime("%H:%M:%S")


class ChangeSender(QObject):
    sig_progress_changed = Signal(str, str, str)  # place id, endpoint, text
    sig_change_finished = Signal(object)  # Outcome
    sig_conflict_found = Signal(object)  # ConflictInfo

    def __init__(self, runner: TaskRunner, observed: ObservedTraffic, verify_timeout_s: float = VERIFY_TIMEOUT_S,
                 recover_timeout_s: float = RECOVER_TIMEOUT_S, confirm_data_plane: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.confirm_data_plane = confirm_data_plane  # False: done when the router reports it applied
        self.runner = runner
        self.observed = observed
        self.verify_timeout_s = verify_timeout_s
        self.recover_timeout_s = recover_timeout_s
        self._runs: dict[tuple[str, str], _Run] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        observed.sig_samples_added.connect(self._on_observed_samples_added)

    # ------------------------------------------------------------ public
    def in_flight(self, place_id: str, endpoint: str) -> str | None:
        """The change under way on the endpoint from this console, in words (None: none)."""
        run = self._runs.get((place_id, endpoint))
        if run is None:
            return None
        return f"this console's {run.change.describe()} is {run.phase}"

    def send(self, change: Change, backend: Any) -> bool:
        key = (change.place_id, change.endpoint)
        if key in self._runs:
            self._finish(_Run(change, backend), "refused", f"{change.describe()} not sent: "
                         f"{self.in_flight(*key)}; wait for it to finish")
            return False
        run = _Run(change, backend)
        self._runs[key] = run
        self.observed.watch(change.place_id, change.endpoint)
        self._progress(run, f"sending the {change.describe()}…")
        self.runner.submit(calls.send, backend, change, on_done=lambda result: self._on_sent(run, result),
                           on_error=lambda error: self._on_send_failed(run, error), name=f"send {change.describe()}")
        return True

    # ------------------------------------------------------------ sending
    def _on_sent(self, run: _Run, result: EndpointStatus | ChangeProposal | Sent) -> None:
        run.timings["sent"] = self._since(run)
        if isinstance(result, Sent):
            self._sent_to_cluster(run, result)
            return
        if isinstance(result, ChangeProposal):
            self._finish(run, "proposed", f"{run.change.endpoint}: proposal {result.id} made on revision "
                         f"{result.revision} ({split_text(result.after.traffic)}); it waits for another person's "
                         f"approval (expires {_hhmm(result.expires)})", result.revision)
            return
        self._accepted(run, result)

    def _accepted(self, run: _Run, status: EndpointStatus) -> None:
        run.status, run.revision = status, status.revision
        run.phase, run.deadline = "applying", time.monotonic() + self.verify_timeout_s
        self._progress(run, f"{run.change.endpoint}: revision {status.revision} accepted; reading back until the "
                       "router applies it…")
        self._timer.start()
        self._poll(run)

    def _sent_to_cluster(self, run: _Run, sent: Sent) -> None:
        change, status = run.change, sent.status
        run.sent, run.status, run.revision = sent, status, sent.generation
        if sent.outcome == "proposed":
            self._finish(run, "proposed", sent.text, sent.generation)
            return
        if sent.confirms == "gateways":
            run.phase, run.deadline = "applying", time.monotonic() + self.verify_timeout_s
            self._progress(run, f"{change.endpoint}: {sent.text}; waiting for every parent gateway to accept "
                           f"generation {sent.generation}…")
            self._timer.start()
            self._on_read(run, EndpointRead(status, (), time.time(), head=0))
            return
        samples = self.observed.samples(change.place_id, change.endpoint)
        if not self.confirm_data_plane or not samples:
            self._finish(run, "applied", f"{change.endpoint}: {sent.text} ({split_text(status.traffic)}): "
                         f"{NOT_CONFIRMED}", sent.generation)
            return
        run.applied_at, run.timings["applied"] = time.time(), self._since(run)
        run.phase, run.deadline = "converging", time.monotonic() + self.verify_timeout_s
        self._progress(run, f"{change.endpoint}: {sent.text}; watching the observed traffic converge…")
        self._timer.start()
        self._converge(run)

    def _on_send_failed(self, run: _Run, error: BaseException) -> None:
        change = run.change
        head = f"{change.describe()} was not applied"
        server = "the API server" if change.on_cluster else "the engine"
        if isinstance(error, Conflict) and "rollout" in str(error) and not change.on_cluster:
            self._finish(run, "refused", f"{head}: an automated rollout is under way: {error}")
        elif isinstance(error, Conflict):
            self._progress(run, f"{change.endpoint} changed since {change.made_on()}: reading who changed it…")
            self.runner.submit(calls.conflict_details, run.backend, change.endpoint, change.revision, change,
                               error.current, on_done=lambda found: self._on_conflict_read(run, error, found),
                               on_error=lambda _e: self._finish(run, "conflict", f"{head}: {error}"),
                               name=f"read the conflict on {change.endpoint}")
        elif isinstance(error, Forbidden | NotSupported) and (change.on_cluster or isinstance(error, Forbidden)):
            self._finish(run, "refused", f"{head}: {error}")
        elif isinstance(error, Unreachable):
            run.phase, run.cause = "recovering", str(error)
            run.deadline = time.monotonic() + self.recover_timeout_s
            self._progress(run, f"outcome unknown: the {change.describe()} was sent but {server} did not answer "
                           f"({error}); reading the state back when {server} answers again…")
            self._timer.start()
        else:
            self._finish(run, "failed", f"{head}: {error}")

    def _on_conflict_read(self, run: _Run, error: BaseException, found: tuple[EndpointRead, list[AuditEvent]]) -> None:
        read, events = found
        run.status = read.status
        now = "generation" if read.on_cluster else "revision"
        who = ", ".join(dict.fromkeys(e.actor for e in events))
        self._finish(run, "conflict", f"{run.change.describe()} was not applied: {run.change.endpoint} is now at "
                     f"{now} {read.status.revision} ({split_text(read.status.traffic)})"
                     + (f", changed by {who}" if who else "") + f": {error}", read.status.revision)
        self.sig_conflict_found.emit(ConflictInfo(run.change, read, tuple(events), str(error)))

    # ------------------------------------------------------------ reading back
    def _on_timer_timeout(self) -> None:
        now = time.monotonic()
        for run in list(self._runs.values()):
            if run.phase == "sending":
                continue
            if now > run.deadline:
                self._expire(run)
            elif run.phase in ("applying", "recovering"):
                self._poll(run)
            elif run.phase == "converging":
                self._converge(run)
                if run.phase == "converging" and run.sent is None:
                    self._poll(run)  # the router's own count comes with the endpoint
        if not self._runs:
            self._timer.stop()

    def _poll(self, run: _Run) -> None:
        if run.busy:
            return
        last = run.timings.get("polled", -1.0)
        if run.phase == "recovering" and self._since(run) - last < RECOVER_POLL_MS / 1000:
            return
        if run.change.on_cluster and time.monotonic() - run.polled_at < CLUSTER_POLL_S:
            return
        run.polled_at = time.monotonic()
        run.busy = True
        run.timings["polled"] = self._since(run)
        self.runner.submit(calls.read_endpoint, run.backend, run.change.endpoint, False,
                           on_done=lambda read: self._on_read(run, read),
                           on_error=lambda error: self._on_read_failed(run, error),
                           name=f"read back {run.change.endpoint}")

    def _on_read_failed(self, run: _Run, error: BaseException) -> None:
        run.busy = False
        if run.phase == "applying" and isinstance(error, BackendError):
            run.cause = str(error)  # keep trying until the deadline

    def _on_read(self, run: _Run, read: EndpointRead) -> None:
        run.busy = False
        if self._runs.get((run.change.place_id, run.change.endpoint)) is not run:
            return
        if run.phase == "recovering":
            self._recovered(run, read)
            return
        if run.phase == "converging" and run.revision is not None:
            self._converge_routed(run, read)
            return
        if run.phase != "applying" or run.revision is None:
            return
        if run.sent is not None:
            if read.status.applied_revision >= run.revision:
                run.status, run.timings["applied"] = read.status, self._since(run)
                self._finish(run, "confirmed", f"{run.change.endpoint}: {run.sent.target} generation {run.revision} "
                             f"({split_text(read.status.traffic)}) {CONFIRMED}", run.revision)
            else:
                run.cause = read.status.description
            return
        if read.status.applied_revision >= run.revision:
            mine = next((r for r in read.revisions if r.number == run.revision), None)
            run.applied_at = mine.time.timestamp() if mine else read.read_at
            run.timings["applied"] = self._since(run)
            if not self.confirm_data_plane:
                self._finish(run, "applied", f"{run.change.endpoint}: revision {run.revision} applied by the router "
                             "(the data plane was not watched)", run.revision)
                return
            run.phase = "converging"
            self._progress(run, f"{run.change.endpoint}: revision {run.revision} applied by the router; "
                           "watching the live traffic converge…")
            self._converge(run)

    def _recovered(self, run: _Run, read: EndpointRead) -> None:
        change = run.change
        if read.on_cluster:
            self._recovered_cluster(run, read)
            return
        ours = next((r for r in read.revisions if r.number == change.revision + 1), None)
        if ours is not None and _live(ours.traffic) == _live(change.traffic) and _live(ours.mirror) == _live(
                change.mirror) and (change.kind == "rollback" or ours.reason == change.reason):
            self._progress(run, f"the engine answered again: {change.endpoint} revision {ours.number} is this "
                           f"change (by {ours.actor} at {_hhmm(ours.time)}); verifying it…")
            run.status, run.revision = read.status, ours.number
            run.phase, run.deadline = "applying", time.monotonic() + self.verify_timeout_s
            self._on_read(run, read)
            return
        if read.status.revision == change.revision:
            text = (f"{change.describe()} was not applied: the engine answered again and {change.endpoint} is still "
                    f"at revision {change.revision} ({split_text(read.status.traffic)}); the change was lost with the "
                    f"connection ({run.cause}): review it again to send it")
        else:
            other = ours or max(read.revisions, key=lambda r: r.number)
            text = (f"{change.describe()} was not applied: the engine answered again and {change.endpoint} is at "
                    f"revision {read.status.revision} ({split_text(read.status.traffic)}), changed by {other.actor} "
                    f"at {_hhmm(other.time)}: start again from the current state")
        run.status = read.status
        self._finish(run, "not-applied", text, read.status.revision)

    def _recovered_cluster(self, run: _Run, read: EndpointRead) -> None:
        change, status = run.change, read.status
        ours = next((r for r in sorted(read.revisions, key=lambda r: -r.number) if r.number > (change.seen or 0)
                     and r.actor == change.actor and _live(r.traffic) == _live(change.traffic)), None)
        run.status = status
        if ours is not None:
            self._finish(run, "applied", f"the API server answered again: {change.endpoint} history revision "
                         f"{ours.number} is this change (by {ours.actor} at {_hhmm(ours.time)}); {read.target} is at "
                         f"generation {status.revision} ({split_text(status.traffic)})", status.revision)
        elif status.revision == change.revision:
            self._finish(run, "not-applied", f"{change.describe()} was not applied: the API server answered again "
                         f"and {read.target} is still at generation {change.revision} ({split_text(status.traffic)});"
                         f" the change was lost with the connection ({run.cause}): review it again to send it",
                         status.revision)
        else:
            self._finish(run, "not-applied", f"{change.describe()} was not applied: {read.target} is now at "
                         f"generation {status.revision} ({split_text(status.traffic)}), changed by someone else: "
                         "start again from the current state", status.revision)

    # ------------------------------------------------------------ converging
    def _on_observed_samples_added(self, place_id: str, endpoint: str) -> None:
        run = self._runs.get((place_id, endpoint))
        if run is not None and run.phase == "converging":
            self._converge(run)

    def _converge(self, run: _Run) -> None:
        if run.applied_at is None or run.status is None:
            return
        change = run.change
        samples = self.observed.samples(change.place_id, change.endpoint)
        run.last = check(samples, change.endpoint, run.applied_at, change.before, run.status.traffic)
        if run.last.confirmed:
            run.timings["confirmed"] = self._since(run)
            self._finish(run, "confirmed", f"{change.endpoint}: {'generation' if run.sent else 'revision'} "
                         f"{run.revision} "
                         f"({split_text(run.status.traffic)}) confirmed in the data plane: {run.last.text}",
                         run.revision)

    def _converge_routed(self, run: _Run, read: EndpointRead) -> None:
        """The router counts what each revision's table routed: once that count, read back with
        the endpoint, follows the new split, the data plane has taken it (telemetry confirms the
        same a second or two later, when its one-second windows close)."""
        status = read.status
        if run.sent is not None or status.applied_revision != run.revision or run.status is None:
            return
        change = run.change
        result = check_counts(status.routed, change.before, run.status.traffic, seen_by="routed by the router")
        if result.confirmed:
            run.last = result
            run.timings["confirmed"] = self._since(run)
            self._finish(run, "confirmed", f"{change.endpoint}: revision {run.revision} "
                         f"({split_text(run.status.traffic)}) confirmed in the data plane: {result.text}",
                         run.revision)
        elif run.last is None or not run.last.requests:
            run.last = result

    def _expire(self, run: _Run) -> None:
        change, waited = run.change, self.verify_timeout_s
        if run.sent is not None:
            self._expire_cluster(run)
        elif run.phase == "recovering":
            self._finish(run, "unknown", f"outcome unknown: the {change.describe()} was sent but "
                         f"{'the API server' if change.on_cluster else 'the engine'} has not answered for "
                         f"{self.recover_timeout_s:.0f} s ({run.cause}); when it is back, read "
                         + (f"the history of {change.endpoint}" if change.on_cluster else
                            f"`switchboard revisions {change.endpoint}`") + " before changing anything")
        elif run.phase == "applying":
            self._finish(run, "unconfirmed", f"{change.endpoint}: revision {run.revision} was accepted but the router "
                         f"had not reported it applied after {waited:.0f} s"
                         + (f" (last read: {run.cause})" if run.cause else "")
                         + "; nothing in the data plane was confirmed", run.revision)
        else:
            seen = run.last.text if run.last else "no telemetry arrived"
            self._finish(run, "unconfirmed", f"{change.endpoint}: revision {run.revision} was applied by the router "
                         f"(confirmed) but the live traffic was not confirmed to follow it within {waited:.0f} s: "
                         f"{seen}", run.revision)

    def _expire_cluster(self, run: _Run) -> None:
        change, waited, sent = run.change, self.verify_timeout_s, run.sent
        assert sent is not None
        if run.phase == "applying":
            self._finish(run, "unconfirmed", f"{change.endpoint}: {sent.text}, but not every parent gateway reported "
                         f"generation {run.revision} accepted within {waited:.0f} s"
                         + (f" ({run.cause})" if run.cause else ""), run.revision)
        else:
            seen = run.last.text if run.last else "no telemetry arrived"
            self._finish(run, "applied", f"{change.endpoint}: {sent.text}: {NOT_CONFIRMED} (the observed traffic "
                         f"did not show the new split within {waited:.0f} s: {seen})", run.revision)

    # ------------------------------------------------------------ the end
    def _since(self, run: _Run) -> float:
        return time.perf_counter() - run.change.clicked if run.change.clicked else 0.0

    def _progress(self, run: _Run, text: str) -> None:
        self.sig_progress_changed.emit(run.change.place_id, run.change.endpoint, text)

    def _finish(self, run: _Run, state: str, text: str, revision: int | None = None) -> None:
        key = (run.change.place_id, run.change.endpoint)
        if self._runs.get(key) is run:
            del self._runs[key]
        run.timings.pop("polled", None)
        outcome = Outcome(run.change, state, text, revision, dict(run.timings), run.status)
        self._progress(run, text)
        self.sig_change_finished.emit(outcome)
