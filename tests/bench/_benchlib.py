"""Shared pieces of the engine benchmarks (tests/bench/bench_engine_*.py).

Everything here listens on and talks to 127.0.0.1 only, and every process it starts is
stopped by the caller (context managers below).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import DEMO, RunningEngine, start_engine, wait_until  # noqa: E402

HOST = "127.0.0.1"
SCORE_BODY = json.dumps({"inputs": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]}).encode()
ECHO_SERVER = Path(__file__).resolve().parent / "_echo_upstream.py"

__all__ = [
    "DEMO",
    "HOST",
    "ROOT",
    "SCORE_BODY",
    "OtherLoad",
    "RunningEngine",
    "apply_and_wait",
    "command_line",
    "echo_upstream",
    "engine",
    "free_port",
    "header",
    "percentile",
    "start_engine",
    "summary",
    "upstream_specs",
    "wait_port",
    "wait_until",
]


def command_line() -> str:
    """The exact command that produced the figures, relative to the repository root."""
    exe = sys.executable
    with contextlib.suppress(ValueError):
        exe = str(Path(exe).relative_to(ROOT))
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    return f"cd {shlex.quote(str(ROOT))} && " + shlex.join([exe, str(script), *sys.argv[1:]])


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat. Busy is process time only
    (user, nice, system): interrupt and softirq time (loopback networking) is left out."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[0] + fields[1] + fields[2], sum(fields[:8])


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over the next `seconds` (0..1)."""
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    return (busy1 - busy0) / max(total1 - total0, 1.0)


def wait_quiet(threshold: float = 0.2, limit_s: float = 120.0) -> None:
    """Wait (at most limit_s) until other work leaves the CPUs mostly idle; say what was found."""
    deadline = time.monotonic() + limit_s
    busy = machine_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = machine_busy()
    note = "" if busy <= threshold else f" (still busy after waiting {limit_s:.0f} s: figures are disturbed)"
    print(f"machine before start: {busy * 100:.0f}% of all CPUs busy over 1 s{note}")


def _tree_cpu() -> float:
    """CPU seconds of this process and its descendants (live ones, and the ones it has reaped)."""
    import psutil

    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


class OtherLoad:
    """How much of the machine's CPU *other* processes used while the block ran, so a disturbed
    measurement says so. `with OtherLoad() as other: ...; print(other.line())`."""

    def __enter__(self) -> OtherLoad:
        self.start = time.monotonic()
        self.busy0, _ = _cpu_times()
        self.ours0 = _tree_cpu()
        self.fraction = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self.start
        busy1, _ = _cpu_times()
        busy = (busy1 - self.busy0) / os.sysconf("SC_CLK_TCK")
        others = max(0.0, busy - (_tree_cpu() - self.ours0))
        self.fraction = others / max(wall * (os.cpu_count() or 1), 1e-9)

    def line(self) -> str:
        note = "" if self.fraction < 0.1 else " -- the machine was shared: figures are disturbed, run again"
        return f"other processes used {self.fraction * 100:.0f}% of all CPUs during the measurement{note}"


def header(title: str) -> None:
    import aiohttp

    print(f"== {title}")
    print(f"command: {command_line()}")
    if Path("/proc/stat").exists():
        wait_quiet()
    load = os.getloadavg()
    print(
        f"host: {platform.node()} {os.cpu_count()} cpus, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    sys.stdout.flush()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values_ms: Sequence[float]) -> str:
    if not values_ms:
        return "n=0"
    return (
        f"n={len(values_ms)} p50={percentile(values_ms, 50):.3f} ms p90={percentile(values_ms, 90):.3f} ms "
        f"p99={percentile(values_ms, 99):.3f} ms max={max(values_ms):.3f} ms"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    def open_() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex((HOST, port)) == 0

    wait_until(open_, timeout, interval=0.01, what=f"something listening on {HOST}:{port}")


@contextlib.contextmanager
def echo_upstream() -> Iterator[str]:
    """A tiny aiohttp server (own process) answering POST /score and GET /ready; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ECHO_SERVER), str(port)], stdin=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://{HOST}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def upstream_specs(endpoint: str, deployments: dict[str, tuple[str, int]]) -> list[dict[str, Any]]:
    """An endpoint whose deployments are `upstream` runtimes: name -> (upstream URL, weight)."""
    specs: list[dict[str, Any]] = [{
        "kind": "Endpoint", "name": endpoint, "description": "benchmark",
        "traffic": {name: weight for name, (_, weight) in deployments.items()}, "mirror": {},
    }]
    for name, (url, _) in deployments.items():
        specs.append({
            "kind": "Deployment", "endpoint": endpoint, "name": name, "runtime": "upstream", "upstream": url,
            "model": {"name": name, "version": "1"}, "replicas": 1,
            "readiness": {"path": "/ready", "period": 1, "failure_threshold": 3},
        })
    return specs


@contextlib.contextmanager
def engine(*extra: str) -> Iterator[RunningEngine]:
    """A real engine (`python -m console engine`) on a fresh temporary state dir; stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        running = start_engine(Path(tmp) / "state", *extra)
        try:
            yield running
        finally:
            running.stop()


def apply_and_wait(running: RunningEngine, specs: list[dict[str, Any]], endpoint: str) -> str:
    """Apply specs, wait until every deployment of the endpoint is Ready; answers the endpoint key."""
    with running.client("bench@localhost") as client:
        client.request("POST", "/v1/apply", json={"specs": specs})
    running.wait_ready(endpoint, timeout=60)
    return running.key(endpoint)
