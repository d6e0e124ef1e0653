"""A synthetic place with 10,000 deployments: time to first show, time to apply a refresh that
changes 1% of them (target < 200 ms, as row changes with selection kept), and memory.

In the app the worker that reads a place also computes its rows (rows.prepare); the GUI
thread applies them. Both are timed here, separately and together.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_console_inventory.py
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil
from PySide6.QtWidgets import QApplication

from console.ui.models.inventory import InventoryModel
from console.ui.models.rows import prepare
from console.ui.views.inventory import InventoryView
from tests.gui.factories import big_snapshot

ENDPOINTS, PER_ENDPOINT = 1000, 10
TOTAL = ENDPOINTS * PER_ENDPOINT


class GcTimer:
    """Time spent in full (generation 2) collections: they stop every thread, the GUI's too."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._start)


def main() -> None:
    gc_timer = GcTimer()
    app = QApplication(sys.argv[:1])
    rss0 = psutil.Process().memory_info().rss
    first = big_snapshot("synthetic", ENDPOINTS, PER_ENDPOINT)
    model = InventoryModel()
    model.add_place("synthetic", "Synthetic", "engine", "bench", freshness_s=10)
    view = InventoryView(model)
    view.resize(1400, 800)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    prepared = prepare(first)
    first_prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.apply_snapshot(prepared)
    app.processEvents()
    first_show = time.perf_counter() - t0
    view.select("synthetic", "ep-0500", "ep-0500-d5")
    view.tree.verticalScrollBar().setValue(view.tree.verticalScrollBar().maximum() // 2)
    app.processEvents()
    scroll = view.tree.verticalScrollBar().value()
    rss_loaded = psutil.Process().memory_info().rss

    rng = random.Random(7)
    timings, prepares, changes = [], [], []
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda *a: changes.append(1))
    changed: frozenset[int] = frozenset()
    gc_timer.pauses.clear()
    for _round in range(5):
        fresh = rng.sample(sorted(set(range(TOTAL)) - changed), TOTAL // 100)
        changed = changed | frozenset(fresh)  # exactly 1% differ from the previous snapshot
        snapshot = big_snapshot("synthetic", ENDPOINTS, PER_ENDPOINT, changed=changed)  # parsed off-thread in the app
        changes.clear()
        t0 = time.perf_counter()
        prepared = prepare(snapshot)  # on the worker in the app
        prepares.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model.apply_snapshot(prepared)  # on the GUI thread
        app.processEvents()
        timings.append(time.perf_counter() - t0)
    assert not resets, "a refresh reset the model"
    assert view.current() == ("deployment", ("synthetic", "ep-0500", "ep-0500-d5")), view.current()
    print(f"deployments: {TOTAL} in {ENDPOINTS} endpoints (one place), sorted proxy + tree view shown")
    print(f"first show: rows {first_prepare * 1000:.0f} ms (worker) + apply and paint {first_show * 1000:.0f} ms "
          f"(GUI thread)")
    total = [a + b for a, b in zip(prepares, timings, strict=True)]
    print(f"refresh changing 1% ({TOTAL // 100} deployments), over {len(timings)} refreshes (target < 200 ms):")
    print(f"  GUI thread (apply + paint): median {statistics.median(timings) * 1000:.1f} ms, "
          f"max {max(timings) * 1000:.1f} ms")
    print(f"  worker (rows of 10,000 deployments): median {statistics.median(prepares) * 1000:.1f} ms, "
          f"max {max(prepares) * 1000:.1f} ms")
    print(f"  both, as if on one thread: median {statistics.median(total) * 1000:.1f} ms, "
          f"max {max(total) * 1000:.1f} ms")
    pauses = gc_timer.pauses
    print(f"  full GC collections during the 5 rounds (snapshot building included): {len(pauses)}"
          + (f", {max(pauses) * 1000:.0f} ms the longest" if pauses else ""))
    print(f"  {len(changes)} dataChanged, 0 resets; selection kept; scroll {scroll} -> "
          f"{view.tree.verticalScrollBar().value()}")
    print(f"memory: RSS {rss_loaded / 2**20:.0f} MiB after loading ({(rss_loaded - rss0) / 2**20:.0f} MiB for the "
          f"inventory incl. the snapshot objects)")


if __name__ == "__main__":
    main()
