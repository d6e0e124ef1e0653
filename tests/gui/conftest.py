"""Fixtures for the console's widget and item-model tests (offscreen Qt)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator

import pytest

from console.ui.tasks import TaskRunner


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    """A TaskRunner that must have no worker busy when the test ends (dangling-thread check)."""
    tasks = TaskRunner(max_threads=4)
    yield tasks
    assert tasks.shutdown(timeout_s=5.0), "a worker thread was still busy after the test"
    assert tasks.active_threads() == 0
