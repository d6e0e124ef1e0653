"""Pause the cyclic garbage collector while thousands of long-lived objects are made.

Parsing a list of 5,000 Deployments or mapping 5,000 endpoints creates hundreds of thousands of
containers that survive; each full collection on the way walks all of them again, which tripled
the time of both. JSON bodies and the domain snapshots hold no reference cycles (they are freed
by reference counting), so nothing is lost by collecting once afterwards instead. Shared by
threads: the collector is enabled again when the last pause ends, and only if it was enabled."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
