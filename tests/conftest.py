from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import RunningEngine, start_engine, wait_until


def _started_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [
        t for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]


@pytest.fixture(autouse=True)
def no_dangling_threads() -> Iterator[None]:
    """Every Python thread a test starts has ended (or ends within 5 s) when it finishes."""
    before = set(threading.enumerate())
    yield
    try:
        wait_until(lambda: not _started_threads(before), timeout=5.0, what="threads started by the test to end")
    except TimeoutError:
        names = sorted(t.name for t in _started_threads(before))
        pytest.fail(f"threads left running after the test: {names}")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[RunningEngine]:
    """A real engine process on a fresh state dir (no specs applied)."""
    running = start_engine(tmp_path / "state")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def demo_engine(engine: RunningEngine) -> RunningEngine:
    """A real engine with the demo applied and every deployment Ready."""
    engine.apply_demo()
    return engine
