from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import RunningEngine, start_engine


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
