"""Traffic shifts and rollbacks from the console: click-to-confirmed time, and failed client
requests while the console changes the split again and again.

    .venv/bin/python tests/bench/bench_console_shift.py [--rate 300] [--confirmed 5] [--shifts 100] [--rollbacks 10]

Starts an engine with the demo (fraud-v1, fraud-v2 Ready; a policy that lets any step through),
sends scoring requests open loop at --rate req/s for the whole run (bench_engine_shift.py's load
generator, in a thread of its own), and opens the real console (MainWindow, offscreen) on it.

1. Click-to-confirmed: --confirmed shifts (Review… then the dialog's Apply change) and
   --confirmed rollbacks (Rollback… then Roll back now) flip all live traffic between fraud-v1
   and fraud-v2. Each is timed from the click on the dialog's confirm button until the console
   reports "confirmed in the data plane" (router applied the revision, and the observed live
   share converged: console/ui/traffic/convergence.py), with the time until "applied" beside it.
2. --shifts traffic changes, then --rollbacks rollbacks, sent through the console's ChangeSender
   (If-Match, read back until the router reports the revision applied; the data plane is not
   watched for these, so the run stays short) flipping the split each time.

Targets: a rollback confirmed in the data plane under 1 s from the click; zero failed client
requests. The engine's telemetry has one-second windows and a window counts only when it began
after the change was applied, so "confirmed" cannot come sooner than the end of the next whole
second; the figures show by how much.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from _benchlib import DEMO, OtherLoad, engine, header, percentile, summary
from bench_engine_shift import Run, load
from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings
from PySide6.QtWidgets import QApplication

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.domain.endpoint_policy import EndpointPolicy
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from console.ui.traffic.calls import Change
from console.ui.traffic.send import ChangeSender, Outcome
from tests.gui.fakes import MemoryKeyring

TARGET_ROLLBACK_S = 1.0
FLIP = {"fraud-v1": "fraud-v2", "fraud-v2": "fraud-v1"}


def pump(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)


def load_thread(url: str, key: str, rate: float, limit_s: float, run: Run) -> tuple[threading.Thread, Any]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
            await load(session, url, key, rate, limit_s, stop, run)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="bench-load", daemon=True)
    thread.start()
    return thread, lambda: loop.call_soon_threadsafe(stop.set)


def live_owner(window: MainWindow) -> str:
    status = window.endpoint_view.traffic_panel.status
    assert status is not None
    return max(status.traffic, key=lambda n: status.traffic[n])


def confirmed_changes(window: MainWindow, count: int) -> tuple[list[Outcome], list[Outcome]]:
    """`count` shifts through the review dialog, then `count` rollbacks through the rollback dialog."""
    flows, panel = window.traffic, window.endpoint_view.traffic_panel
    shifts: list[Outcome] = []
    rollbacks: list[Outcome] = []
    for kind in ["shift"] * count + ["rollback"] * count:
        pump(lambda: panel.status is not None and not panel._busy, 30, "the panel to be idle")
        done = len(flows.outcomes)
        if kind == "shift":
            new = FLIP[live_owner(window)]
            panel.candidate.setCurrentText(new)
            panel.promote_button.click()
            flows.review_dialog = None
            flows.review()
            dialog = pump(lambda: flows.review_dialog if flows.review_dialog and flows.review_dialog.isVisible()
                          else None, 15, "the review dialog")
            dialog.reason.setText("bench shift")
            if dialog.acknowledge.isVisible():
                dialog.acknowledge.setChecked(True)
            if not dialog.send_button.isEnabled():
                raise RuntimeError(f"the review blocks the shift: {dialog.why_not.text()}")
            dialog.send_button.click()
        else:
            flows.rollback_dialog = None
            flows.rollback()
            dialog = pump(lambda: flows.rollback_dialog if flows.rollback_dialog and
                          flows.rollback_dialog.isVisible() else None, 15, "the rollback dialog")
            dialog.confirm_button.click()
        outcome = pump(lambda d=done: flows.outcomes[d] if len(flows.outcomes) > d else None, 30, f"the {kind}")
        if outcome.state != "confirmed":
            raise RuntimeError(f"{kind} not confirmed: {outcome.text}")
        (shifts if kind == "shift" else rollbacks).append(outcome)
        window.console.refresh()
        pump(lambda r=outcome.revision: panel.status is not None and panel.status.revision == r, 15, "the revision")
    return shifts, rollbacks


def many_changes(window: MainWindow, pid: str, shifts: int, rollbacks: int) -> list[Outcome]:
    console = window.console
    sender = ChangeSender(console.runner, window.traffic.observed, confirm_data_plane=False)
    outcomes: list[Outcome] = []
    sender.sig_change_finished.connect(outcomes.append)
    backend = console.backend(pid)
    status = window.endpoint_view.traffic_panel.status
    assert status is not None
    revision, traffic = status.revision, {n: w for n, w in status.traffic.items()}
    for index, kind in enumerate(["shift"] * shifts + ["rollback"] * rollbacks):
        owner = max(traffic, key=lambda n: traffic[n])
        target = {owner: 0, FLIP[owner]: 100}
        change = Change(pid, "fraud", kind, revision, dict(traffic), target, reason=f"bench {kind}",
                        to_revision=revision - 1 if kind == "rollback" else None, clicked=time.perf_counter())
        sender.send(change, backend)
        outcome = pump(lambda i=index: outcomes[i] if len(outcomes) > i else None, 30, f"{kind} {index}")
        if outcome.state != "applied" or outcome.status is None:
            raise RuntimeError(f"{kind} {index}: {outcome.text}")
        revision, traffic = outcome.status.revision, dict(outcome.status.traffic)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="scoring requests per second (max 2000)")
    parser.add_argument("--confirmed", type=int, default=5, help="shifts and rollbacks timed to confirmation (max 20)")
    parser.add_argument("--shifts", type=int, default=100, help="shifts sent through the console (max 1000)")
    parser.add_argument("--rollbacks", type=int, default=10, help="rollbacks sent through the console (max 100)")
    args = parser.parse_args()
    args.rate, args.confirmed = min(args.rate, 2000.0), min(args.confirmed, 20)
    args.shifts, args.rollbacks = min(args.shifts, 1000), min(args.rollbacks, 100)
    header("traffic shift and rollback from the console (demo endpoint, offscreen MainWindow)")
    app = QApplication.instance() or QApplication([])
    with engine() as running, tempfile.TemporaryDirectory(prefix="switchboard-bench-console-") as tmp:
        with running.client("bench@localhost") as client:
            client.apply_yaml(DEMO.read_text(), DEMO.parent)
        running.wait_ready("fraud", timeout=90)
        with running.client("bench@localhost") as client:
            client.set_policy("fraud", EndpointPolicy(max_step=100, bake_s=0))
        key = running.key("fraud")
        url = f"{running.data_url}/endpoints/fraud/score"
        run = Run()
        limit_s = 120 + 3 * (args.confirmed * 2) + 0.5 * (args.shifts + args.rollbacks)
        thread, stop = load_thread(url, key, args.rate, limit_s, run)
        runner = TaskRunner()
        console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(Path(tmp)))
        window = MainWindow(console, QSettings(str(Path(tmp) / "console.ini"), QSettings.Format.IniFormat))
        pid = console.load(running.state_dir)
        assert pid is not None
        window._on_console_places_changed()
        console.monitors[pid].start()
        window.select_when_available(pid, "fraud")
        panel = window.endpoint_view.traffic_panel
        pump(lambda: panel.status is not None and panel.status.policy is not None, 30, "the endpoint")
        pump(lambda: len(window.traffic.observed.samples(pid, "fraud")) >= 6, 30, "telemetry")
        print(f"demo Ready; {args.rate:g} req/s open loop to {url}; console on {running.state_dir}")
        sys.stdout.flush()
        wall = time.perf_counter()
        with OtherLoad() as other:
            shifts, rollbacks = confirmed_changes(window, args.confirmed)
            many = many_changes(window, pid, args.shifts, args.rollbacks)
            time.sleep(0.5)
        wall = time.perf_counter() - wall
        stop()
        thread.join(30)
        window.close()
        console.shutdown(timeout_s=5.0)
    app.quit()
    sent = len(run.sent)
    failed = [s for s in run.sent if s.status != 200]
    duration = (run.sent[-1].sent - run.sent[0].sent) if sent > 1 else 0.0
    print(f"client requests: {sent} sent over {duration:.1f} s ({sent / duration if duration else 0:.0f} req/s), "
          f"failed: {len(failed)} (target 0); sender lateness p99 {percentile(run.lateness, 99):.2f} ms; "
          f"changes took {wall:.1f} s")
    print(other.line())
    for example in failed[:5]:
        print(f"  failed: status {example.status} {example.error}")
    ok = not failed
    for kind, outcomes in (("shift", shifts), ("rollback", rollbacks)):
        applied = [o.timings["applied"] * 1000 for o in outcomes]
        confirmed = [o.timings["confirmed"] * 1000 for o in outcomes]
        print(f"{kind}s through the dialog, click on confirm ->")
        print(f"  router applied (read back): {summary(applied)}")
        line = f"  confirmed in the data plane: {summary(confirmed)}"
        if kind == "rollback":
            met = bool(confirmed) and percentile(confirmed, 100) < TARGET_ROLLBACK_S * 1000
            ok = ok and met
            line += f" (target < {TARGET_ROLLBACK_S:g} s: {'met' if met else 'MISSED'})"
        print(line)
    for kind in ("shift", "rollback"):
        trips = [o.timings["applied"] * 1000 for o in many if o.change.kind == kind]
        print(f"{len(trips)} {kind}s through the ChangeSender, send -> router applied (read back): {summary(trips)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
