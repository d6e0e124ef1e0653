"""The console's telemetry feed against real engine processes: history on the first connect,
live latencies under the demo traffic, reconnection with a gap after an engine restart, and a
quit that does not wait for a stream that is silent."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from collections.abc import Iterator

import pytest

from console.backends import launcher
from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.engine import EngineBackend
from console.backends.places import PlaceConfig, PlacesStore
from console.backends.serving import ServingBackend
from console.backends.telemetry_stream import EngineTelemetryStream
from console.domain.telemetry import TelemetryBatch
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.tasks import TaskRunner
from console.ui.telemetry_feed import LIVE, STOPPED, TelemetryFeed
from tests.gui.fakes import MemoryKeyring
from tests.harness import start_engine
from tests.recorded_host import recorded_host

pytestmark = [pytest.mark.integration, pytest.mark.gui]
DEMO = {"fraud-v1", "fraud-v2", "fraud-v3"}


class Recorder:
    def __init__(self, feed: TelemetryFeed) -> None:
        self.batches: list[TelemetryBatch] = []
        self.states: list[tuple[str, str]] = []
        feed.sig_batch_received.connect(self.batches.append)
        feed.sig_source_changed.connect(lambda place, text: self.states.append((place, text)))

    def samples(self, history: bool | None = None):
        return [s for b in self.batches if history is None or b.history == history for s in b.samples]

    def texts(self) -> list[str]:
        return [text for _place, text in self.states]


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner(max_threads=4)
    yield tasks
    assert tasks.shutdown(timeout_s=5.0), "a worker was still busy after the test"
    assert tasks.active_threads() == 0


@pytest.fixture
def feed(runner) -> Iterator[TelemetryFeed]:
    made = TelemetryFeed(runner)
    yield made
    made.shutdown()


def test_first_connect_brings_history_then_live_latencies_of_the_demo(demo_engine, feed, qtbot):
    connected_at = time.time()
    seen = Recorder(feed)
    traffic = launcher.DemoTraffic(demo_engine.state_dir)
    backend = EngineBackend("local", demo_engine.state_dir)
    try:
        assert feed.start("local", backend)
        qtbot.waitUntil(lambda: any(b.history for b in seen.batches), timeout=10_000)
        history = seen.samples(history=True)
        assert {s.deployment for s in history} == DEMO
        assert min(s.time for s in history) < connected_at - 1  # what happened before the console looked
        assert all(b.place_id == "local" for b in seen.batches)
        assert feed.state("local") == LIVE and seen.texts()[-1] == LIVE

        traffic.start()

        def scored_live() -> bool:
            return any(s.deployment == "fraud-v1" and s.requests and s.latency_ms.get("p95")
                       for s in seen.samples(history=False))

        qtbot.waitUntil(scored_live, timeout=30_000)
        live = [s for s in seen.samples(history=False) if s.requests]
        sample = next(s for s in live if s.deployment == "fraud-v1" and s.latency_ms.get("p95"))
        assert 0 < sample.latency_ms["p50"] <= sample.latency_ms["p95"] <= sample.latency_ms["p99"]
        assert sample.endpoint == "fraud" and sample.replicas_desired == 2 and sample.gpus is None
        times = [s.time for s in seen.samples() if s.deployment == "fraud-v1"]
        assert times == sorted(times) and len(times) == len(set(times))  # each second once, in order
    finally:
        traffic.stop()
        backend.close()
    feed.stop("local")
    assert seen.states[-1] == ("local", STOPPED)


def test_engine_restart_reports_reconnecting_then_a_gap(demo_engine, feed, qtbot):
    seen = Recorder(feed)
    backend = EngineBackend("local", demo_engine.state_dir)
    feed.start("local", backend)
    qtbot.waitUntil(lambda: feed.state("local") == LIVE and bool(seen.samples(history=False)), timeout=10_000)

    demo_engine.stop()
    qtbot.waitUntil(lambda: feed.state("local").startswith("reconnecting in "), timeout=15_000)
    last_before = max(s.time for s in seen.samples())
    # the exact reason, not a generic failure: the stream ended, or the engine is gone
    assert any(why in feed.state("local") for why in ("ended the telemetry stream", "connection was closed",
                                                      "not running", "connection refused")), feed.state("local")

    def backed_off() -> bool:  # retries wait 1, 2, 4 s...: the next report names a longer wait
        return any(text.startswith(("reconnecting in 2 s", "reconnecting in 4 s")) for text in seen.texts())

    qtbot.waitUntil(backed_off, timeout=15_000)
    restarted = start_engine(demo_engine.state_dir)
    try:
        qtbot.waitUntil(lambda: any(b.gap_from is not None for b in seen.batches), timeout=30_000)
        gap = next(b for b in seen.batches if b.gap_from is not None)
        assert gap.gap_from == last_before
        assert gap.gap_to is not None and gap.gap_to > gap.gap_from + 2
        qtbot.waitUntil(lambda: feed.state("local") == LIVE, timeout=10_000)
        qtbot.waitUntil(lambda: any(s.time >= gap.gap_to for s in seen.samples()), timeout=10_000)
        after = [s for s in seen.samples() if s.time > last_before]
        assert after and min(s.time for s in after) == gap.gap_to  # nothing drawn inside the gap
        assert {s.deployment for s in after} == DEMO  # the restarted engine's deployments, found again
    finally:
        feed.stop("local")
        backend.close()
        restarted.stop()


def test_quitting_does_not_wait_for_a_silent_stream(engine, qtbot):
    """No deployments: the engine sends nothing but a heartbeat every 15 s, so the worker is
    blocked in a read; the stop must wake it at once."""
    runner = TaskRunner(max_threads=2)
    feed = TelemetryFeed(runner)
    seen = Recorder(feed)
    feed.start("local", EngineBackend("local", engine.state_dir))
    qtbot.waitUntil(lambda: feed.state("local") == LIVE, timeout=10_000)
    feed.shutdown()
    assert runner.shutdown(timeout_s=3.0), "the stream's worker did not end"
    assert runner.active_threads() == 0
    assert seen.states[-1] == ("local", STOPPED) and seen.batches == []


def test_a_stream_stopped_from_another_thread_ends_its_reader(engine):
    stream = EngineTelemetryStream.for_state_dir(engine.state_dir, "local", 0)
    with stream:
        stream.connect()
        stream.stop()
        assert list(stream.batches()) == []


def test_a_serving_host_is_polled_and_its_outage_reported_and_drawn_as_a_gap(feed, qtbot):
    seen = Recorder(feed)
    with recorded_host() as host:
        host.metrics("vllm-1.prom")
        backend = ServingBackend(PlaceConfig(kind=PlaceKind.SERVING, name="h", url=host.url))
        backend.telemetry_period_s = 0.5  # the place's polling period, short for the test
        try:
            assert feed.start("host", backend)
            qtbot.waitUntil(lambda: feed.state("host") == LIVE, timeout=10_000)  # the first scrape: a baseline
            host.metrics("vllm-2.prom")
            qtbot.waitUntil(lambda: any(s.latency_ms.get("p50") for s in seen.samples()), timeout=10_000)
            sample = next(s for s in seen.samples() if s.latency_ms.get("p50"))
            assert sample.endpoint == "meta-llama/Llama-3.1-8B-Instruct"
            assert sample.latency_ms["p50"] == pytest.approx(800.0)

            host.routes[("GET", "/metrics")] = (503, b"warming up")
            qtbot.waitUntil(lambda: feed.state("host").startswith("reconnecting in 1 s: "), timeout=10_000)
            assert "HTTP 503" in feed.state("host")
            host.metrics("vllm-2.prom")
            qtbot.waitUntil(lambda: any(b.gap_from is not None for b in seen.batches), timeout=15_000)
            assert feed.state("host") == LIVE
            assert len([b for b in seen.batches if b.gap_from is not None]) == 1
        finally:
            feed.stop("host")
            backend.close()


def test_the_console_reads_telemetry_of_its_places_and_stops_with_them(demo_engine, tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp_path / "config"))
    seen = Recorder(console.telemetry)
    try:
        pid = console.load(demo_engine.state_dir)
        assert pid is not None and console.telemetry.places() == []  # the local engine: once it answers
        console.monitors[pid].start()
        qtbot.waitUntil(lambda: console.telemetry.state(pid) == LIVE, timeout=15_000)
        qtbot.waitUntil(lambda: {s.deployment for s in seen.samples()} == DEMO, timeout=10_000)
        console.remove_place(pid)
        assert console.telemetry.places() == [] and seen.states[-1] == (pid, STOPPED)
    finally:
        assert console.shutdown(timeout_s=5.0), "a worker was still busy after the console's shutdown"
    assert runner.active_threads() == 0
