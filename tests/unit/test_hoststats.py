"""GPU figures from NVML, checked against a stand-in NVML module (no GPU on the test machines)."""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import pytest

from console.engine.hoststats import HostStats, gpus_for


class FakeNVMLError(Exception):
    pass


def fake_nvml(pids: dict[int, int]) -> types.ModuleType:
    nv: Any = types.ModuleType("pynvml")
    nv.NVMLError = FakeNVMLError
    nv.nvmlInit = lambda: None
    nv.nvmlDeviceGetCount = lambda: 2
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(h + 1) * 2**30, total=80 * 2**30)
    nv.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h * 50)
    nv.nvmlDeviceGetName = lambda h: b"NVIDIA H100" if h == 0 else "NVIDIA H200"

    def processes(handle: int) -> list[Any]:
        if handle == 1:
            raise FakeNVMLError("not supported")
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in pids.items()]

    nv.nvmlDeviceGetComputeRunningProcesses = processes
    return nv


def test_gpu_figures_per_gpu_and_per_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml({101: 3 * 2**30, 202: 2**30}))
    stats = HostStats()
    assert stats.has_gpu
    gpus = stats.gpus()
    assert gpus is not None and [g["name"] for g in gpus] == ["NVIDIA H100", "NVIDIA H200"]
    assert [g["utilization"] for g in gpus] == [40, 90]
    mine = gpus_for(gpus, {"fraud-v1-1": 101, "fraud-v1-2": 999})
    assert mine is not None
    assert mine[0]["replica_memory"] == {"fraud-v1-1": 3 * 2**30}
    assert mine[1]["replica_memory"] == {}  # this GPU could not list its processes
    assert "pids" not in mine[0] and mine[0]["memory_total"] == 80 * 2**30


def test_without_nvml_there_are_no_gpu_figures_and_the_reason_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    broken: Any = types.ModuleType("pynvml")

    def no_driver() -> None:
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    broken.nvmlInit = no_driver
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    stats = HostStats()
    assert not stats.has_gpu and stats.gpus() is None
    assert "libnvidia-ml" in stats.gpu_error
    assert gpus_for(None, {"r": 1}) is None


def test_process_figures_of_this_process() -> None:
    stats = HostStats()
    cpu, rss = stats.processes([os.getpid()])
    assert cpu >= 0 and rss > 10 * 2**20
    assert stats.processes([2**22 + 12345]) == (0.0, 0)  # a pid that does not exist


def test_cpu_of_two_deployments_read_in_turn_is_measured_not_reset() -> None:
    """The engine reads each deployment's replicas in turn every second: reading one deployment
    must not forget another's processes, or every reading would be a first one (0%)."""
    import subprocess
    import sys

    from tests.harness import wait_until

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        stats = HostStats()
        readings: list[tuple[float, float]] = []

        def both_busy() -> bool:
            stats.retain({p.pid for p in busy})
            first, _ = stats.processes([busy[0].pid])
            second, _ = stats.processes([busy[1].pid])
            readings.append((first, second))
            return first > 5 and second > 5

        wait_until(both_busy, timeout=10, interval=0.3, what="CPU of both busy processes")
        stats.retain({busy[0].pid})  # the second one's replica ended
        assert set(stats._procs) == {busy[0].pid}
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
