"""PlaceMonitor: connected → reconnecting (backoff, next try) → unreachable → connected."""

from __future__ import annotations

import time

import pytest

from console.backends.base import NotSupported
from console.ui.monitor import Health, PlaceMonitor
from tests.gui.fakes import FakeBackend, refused
from tests.gui.sync import run_through

pytestmark = pytest.mark.gui


def test_health_follows_failures_with_backoff_and_recovers(qtbot, runner):
    backend = FakeBackend("p1")
    monitor = PlaceMonitor(backend, runner, refresh_s=0.05, backoff_s=0.05, backoff_cap_s=0.2)
    states: list[Health] = []
    monitor.sig_health_changed.connect(lambda _pid, health: states.append(health))
    with qtbot.waitSignal(monitor.sig_snapshot_received, timeout=5000):
        monitor.start()
    assert monitor.health.state == "connected"
    backend.fail = refused()
    qtbot.waitUntil(lambda: monitor.health.state == "unreachable", timeout=5000)
    kinds = [h.state for h in states]
    assert kinds[:3] == ["connected", "reconnecting", "reconnecting"]
    failing = [h for h in states if h.state in ("reconnecting", "unreachable")]
    assert all("connection refused" in h.error and h.next_try is not None for h in failing)
    assert failing[0].next_try <= failing[-1].next_try
    assert "next try in" in failing[0].text(now=time.time())
    backend.fail = None
    qtbot.waitUntil(lambda: monitor.health.state == "connected", timeout=5000)
    monitor.stop()


def test_not_supported_place_is_on_demand_and_not_polled(qtbot, serial_runner):
    backend = FakeBackend("k")
    backend.fail = NotSupported("connecting to Kubernetes contexts is not yet supported")
    # Were it polled, the next read would come within 10 ms (every interval is 10 ms) and,
    # failing again, report its health again.
    monitor = PlaceMonitor(backend, serial_runner, refresh_s=0.01, backoff_s=0.01, backoff_cap_s=0.01)
    with qtbot.waitSignal(monitor.sig_health_changed, timeout=5000):
        monitor.start()
    assert monitor.health.state == "on-demand"
    assert backend.reads == 1
    with qtbot.assertNotEmitted(monitor.sig_health_changed), qtbot.assertNotEmitted(monitor.sig_snapshot_received):
        # past any timer the monitor could have set (5x its interval), and past any read such
        # a timer would have queued on the same one-worker runner
        run_through(qtbot, serial_runner, after_ms=50)
    assert backend.reads == 1 and not monitor.in_flight()
    monitor.stop()


def test_refresh_now_does_not_stack_reads(qtbot, runner):
    import threading

    backend = FakeBackend("p")
    backend.gate = threading.Event()
    monitor = PlaceMonitor(backend, runner, refresh_s=60)
    monitor.start()
    for _ in range(5):
        monitor.refresh_now()
    assert monitor.in_flight()
    backend.gate.set()
    qtbot.waitUntil(lambda: not monitor.in_flight(), timeout=5000)
    assert backend.reads == 1
    monitor.stop()
