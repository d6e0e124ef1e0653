"""Log viewer benchmarks: a large JSON-lines file, a regex search of 1,000,000 lines, and
10,000 live lines a second into a live pane.

    .venv/bin/python tests/bench/bench_logs.py [--size-mb 1024] [--rate 10000] [--seconds 10]
                                               [--only file|search|live] [--hidden]

Generates its files in a temp dir (deleted at the end); offscreen Qt. Prints:
  - time to first screen of the file (open → first rows painted) and time to complete its index
  - resident memory while the file is shown (after scrolling to 20 places) against its size
  - regex search over 1,000,000 lines (target about 1 s)
  - the GUI thread while 10,000 lines a second arrive (target: p99 stall under 16 ms). The lines
    come from a load generator in another process, framed as the engine's log stream, and are read
    by the app's own reader (EngineLogSource: httpx and the line parser, on a TaskRunner worker in
    this process, competing for the GIL as in the app); the GUI runs a real event loop
    (app.exec). Printed: the time of each 10 Hz append and of each repaint of the table (wall
    and CPU), the event loop's lateness on a 5 ms precise timer (the stall figure: p50/p99/max),
    and the garbage collector's passes. --hidden measures again with the view hidden.
Exits 0 when the targets are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PySide6.QtCore import QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from console.backends.logfiles import LogFile, compile_search  # noqa: E402
from console.backends.logstreams import EngineLogSource, LiveFeed  # noqa: E402
from console.ui.logs import LogsDock  # noqa: E402
from console.ui.logs.livepane import LivePane  # noqa: E402
from console.ui.tasks import TaskRunner  # noqa: E402

LEVELS = ("info",) * 7 + ("debug", "warning", "error")
PROBE_MS = 5  # the event loop's lateness is measured on a timer of this interval


def block(lines: int, start: int) -> bytes:
    """`lines` JSON lines of about 250 bytes each."""
    out = []
    for i in range(start, start + lines):
        out.append(json.dumps({
            "time": f"2026-11-22T{(i // 3600000) % 24:02d}:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}."
                    f"{i % 1000:03d}Z", "level": LEVELS[i % 10], "logger": "scoring.worker",
            "request_id": f"req-{i:010d}", "msg": f"scored batch {i % 977} of model fraud:2 in {i % 53}.{i % 7} ms",
            "replica": f"fraud-v2-{i % 4}"}))
    return ("\n".join(out) + "\n").encode()


def write_file(path: Path, size: int | None = None, lines: int | None = None) -> int:
    """Write by repeating a 40,000-line block (fast); returns the line count."""
    template = block(40_000, 0)
    per = template.count(b"\n")
    written = count = 0
    with open(path, "wb") as out:
        while (size is None or written < size) and (lines is None or count < lines):
            chunk = template
            if lines is not None and count + per > lines:
                chunk = b"".join(template.splitlines(keepends=True)[: lines - count])
            out.write(chunk)
            written += len(chunk)
            count += chunk.count(b"\n")
    return count


def wait(app: QApplication, condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.001)  # a benchmark's poll, not a test's synchronisation
    return True


def bench_file(app: QApplication, folder: Path, size_mb: int) -> dict[str, float]:
    path = folder / "big.jsonl"
    started = time.monotonic()
    lines = write_file(path, size=size_mb * 1024 * 1024)
    size = path.stat().st_size
    print(f"generated {size / 2**20:,.0f} MB, {lines:,} JSON lines in {time.monotonic() - started:.1f} s")
    rss0 = psutil.Process().memory_info().rss
    runner = TaskRunner(2)
    dock = LogsDock(runner, QSettings(str(folder / "bench.ini"), QSettings.Format.IniFormat))
    dock.resize(1400, 700)
    dock.show()
    t0 = time.monotonic()
    pane = dock.open_file(path)
    assert pane is not None
    wait(app, lambda: pane.model.rowCount() > 0, 60)
    pane.view.viewport().repaint()
    first = time.monotonic() - t0
    wait(app, lambda: pane.indexed, 600)
    indexed = time.monotonic() - t0
    rng = np.random.default_rng(1)
    for row in rng.integers(0, pane.model.rowCount(), 20):
        pane.go_to_row(int(row))
        pane.view.viewport().repaint()
        app.processEvents()
    rss = psutil.Process().memory_info().rss
    print(f"file: first screen {first * 1000:.0f} ms; index complete {indexed:.1f} s "
          f"({size / 2**20 / indexed:,.0f} MB/s, {len(pane.file):,} lines, "
          f"index {pane.file.memory_bytes() / 2**20:.0f} MB)")
    print(f"memory while showing it: {rss / 2**20:,.0f} MB resident ({(rss - rss0) / 2**20:,.0f} MB more than "
          f"before opening) for a {size / 2**20:,.0f} MB file")
    dock.shutdown()
    runner.shutdown(5.0)
    path.unlink()
    return {"first": first, "indexed": indexed, "rss_growth": (rss - rss0) / size}


def bench_search(folder: Path) -> float:
    path = folder / "million.jsonl"
    write_file(path, lines=1_000_000)
    logfile = LogFile(path)
    logfile.build()
    times = []
    for _ in range(3):
        started = time.monotonic()
        found = logfile.search(compile_search(r'"level": "error".*in 4\d\.\d ms', regex=True))
        times.append(time.monotonic() - started)
    print(f"regex search over {len(logfile):,} lines ({path.stat().st_size / 2**20:,.0f} MB): "
          f"{min(times):.2f} s best of 3, median {sorted(times)[1]:.2f} s, {len(found):,} matching lines")
    logfile.close()
    path.unlink()
    return sorted(times)[1]


def serve_lines(rate: int) -> None:
    """`--serve RATE`: a load generator in its own process, framed as the engine frames its log stream
    (uvicorn with httptools, a StreamingResponse of `<time> <source> <text>` lines, what came in each
    20 ms in one chunk): router request lines and replica lines at `rate` lines a second. Prints its port."""
    import asyncio
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from console.engine.logs import LogLine

    async def lines() -> Any:
        started, sent = time.monotonic(), 0
        while True:
            await asyncio.sleep(0.02)  # the engine sends what came in each 20 ms as one chunk
            due = int((time.monotonic() - started) * rate)
            now = time.time()
            yield "".join(LogLine(now, "bench", "router" if i % 5 else f"bench-{i % 4}",
                                  f"request req-{i:08d} status {500 if i % 97 == 0 else 200} {i % 50}.{i % 9}ms"
                                  if i % 5 else f"INFO scored batch {i % 977} of model fraud:2 in {i % 53} ms"
                                  ).render() + "\n" for i in range(sent, due))
            sent = due

    async def logs(_request: Any) -> StreamingResponse:
        return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")

    app = Starlette(routes=[Route("/v1/deployments/{name}/logs", logs)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, http="httptools")
    uvicorn.Server(config).run(sockets=[sock])


@contextlib.contextmanager
def line_server(rate: int, folder: Path) -> Iterator[Path]:
    """A state dir whose engine.json points at a `serve_lines` process (stopped afterwards)."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(rate)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        state = Path(tempfile.mkdtemp(prefix="state-", dir=folder))
        (state / "engine.json").write_text(json.dumps({"pid": proc.pid, "control_url": f"http://127.0.0.1:{port}"}))
        (state / "token").write_text("bench-token")
        yield state
    finally:
        proc.kill()
        proc.wait(10)


def percentiles(values: list[float]) -> str:
    return (f"p50 {np.percentile(values, 50):.1f} ms, p99 {np.percentile(values, 99):.1f} ms, "
            f"max {max(values):.1f} ms ({len(values)})")


def bench_live(app: QApplication, folder: Path, rate: int, seconds: float, visible: bool = True) -> float:
    """10,000 lines a second through the real reader (httpx and the engine-line parser, on a TaskRunner
    worker in this process) into a LivePane, the GUI on a real event loop (app.exec)."""
    with line_server(rate, folder) as state:
        runner = TaskRunner(2)
        pane = LivePane("bench", "bench", runner, [LiveFeed(EngineLogSource(state, "bench"))])
        pane.resize(1400, 700)
        if visible:
            pane.show()
        ticks: list[float] = []
        paints: list[float] = []
        paint_cpu: list[float] = []
        original_tick = pane.tick

        def timed_tick() -> None:
            started = time.perf_counter()
            original_tick()
            ticks.append((time.perf_counter() - started) * 1000)

        def timed_paint(event: Any) -> None:
            started, cpu_started = time.perf_counter(), time.thread_time()
            type(pane.view).paintEvent(pane.view, event)
            paints.append((time.perf_counter() - started) * 1000)
            paint_cpu.append((time.thread_time() - cpu_started) * 1000)

        pane.tick = timed_tick  # type: ignore[method-assign]
        pane.view.paintEvent = timed_paint  # type: ignore[method-assign]
        lateness: list[float] = []
        last = [0.0]

        def on_probe() -> None:
            now = time.perf_counter()
            if last[0]:
                lateness.append(max(0.0, (now - last[0]) * 1000 - PROBE_MS))
            last[0] = now

        probe = QTimer()
        probe.setTimerType(Qt.TimerType.PreciseTimer)
        probe.setInterval(PROBE_MS)
        probe.timeout.connect(on_probe)
        collections: list[tuple[int, float]] = []  # (generation, ms) of the garbage collector's passes
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                collections.append((info["generation"], (time.perf_counter() - gc_started[0]) * 1000))

        # connected, and half a second of lines shown (first paints, caches warm): measure from here
        wait(app, lambda: pane.live.entry_count() >= rate // 2, 30)
        gc.collect()  # the start-up's garbage: what the window measures is the steady state
        gc.callbacks.append(on_gc)
        for figures in (ticks, paints, paint_cpu):
            figures.clear()
        cpu0, received0 = time.process_time(), sum(feed.received for feed in pane.feeds)
        probe.start()
        QTimer.singleShot(int(seconds * 1000), app.quit)
        app.exec()
        probe.stop()
        gc.callbacks.remove(on_gc)
        cpu = time.process_time() - cpu0
        received = sum(feed.received for feed in pane.feeds) - received0
        pane.shutdown()
        runner.shutdown(5.0)
    late_p99 = float(np.percentile(lateness, 99))
    print(f"live ({'view shown' if visible else 'view hidden'}): {received / seconds:,.0f} lines/s received for "
          f"{seconds:g} s; {pane.live.entry_count():,} lines in the view, {pane.live.dropped:,} dropped from view; "
          f"process CPU {cpu / seconds:.0%} of one core; load average {os.getloadavg()[0]:.2f}")
    print(f"  GUI thread per 10 Hz append: {percentiles(ticks)}")
    if paints:
        print(f"  GUI thread per repaint of the table: {percentiles(paints)}; its CPU time {percentiles(paint_cpu)}")
    print(f"  event loop lateness ({PROBE_MS} ms timer): {percentiles(lateness)}")
    full = [ms for generation, ms in collections if generation == 2]
    longest = max((ms for _generation, ms in collections), default=0.0)
    print(f"  garbage collector: {len(collections)} passes, longest {longest:.1f} ms; "
          f"{len(full)} full, longest {max(full, default=0.0):.1f} ms")
    return late_p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=("file", "search", "live"), help="run one part only")
    parser.add_argument("--hidden", action="store_true", help="live part: also measure with the view hidden")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the live part's line server
    args = parser.parse_args()
    if args.serve:
        serve_lines(args.serve)
        return 0
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "file"):
            growth = bench_file(app, folder, args.size_mb)["rss_growth"]
            print(f"target: memory far below the file: {growth:.0%} of its size")
            ok = ok and growth < 0.25
        if args.only in (None, "search"):
            search_s = bench_search(folder)
            print(f"target: regex search of 1,000,000 lines about 1 s: median {search_s:.2f} s")
            ok = ok and search_s < 1.5
        if args.only in (None, "live"):
            stall = bench_live(app, folder, args.rate, args.seconds)
            if args.hidden:
                bench_live(app, folder, args.rate, args.seconds, visible=False)
            print(f"target: GUI thread's stall p99 under 16 ms at {args.rate:,} lines/s: {stall:.1f} ms")
            ok = ok and stall < 16
    print(f"targets {'met' if ok else 'NOT met'}; command: .venv/bin/python tests/bench/bench_logs.py "
          f"--size-mb {args.size_mb} --rate {args.rate} --seconds {args.seconds:g}"
          + (f" --only {args.only}" if args.only else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
