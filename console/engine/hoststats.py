"""CPU and memory of replica processes (psutil) and NVIDIA GPU figures (NVML)."""

from __future__ import annotations

import contextlib
from typing import Any

import psutil


class HostStats:
    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self.gpu_error = ""
        self._nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception as exc:  # no driver, no library, no GPU: all mean "no GPU figures"
            self.gpu_error = f"NVML unavailable: {exc}"

    @property
    def has_gpu(self) -> bool:
        return self._nvml is not None

    def processes(self, pids: list[int]) -> tuple[float, int]:
        """Summed CPU percent (since the last call) and RSS bytes of these processes."""
        cpu, rss = 0.0, 0
        for pid in pids:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # the first reading only starts the clock
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(pid, None)
        return round(cpu, 1), rss

    def retain(self, pids: set[int]) -> None:
        """Forget the processes not in `pids` (replicas that ended). Called once per tick with
        every replica's pid: `processes` is called per deployment, and a process forgotten
        between two of its calls would read 0% again (its first reading only starts the clock)."""
        for pid in set(self._procs) - pids:
            del self._procs[pid]

    def gpus(self) -> list[dict[str, Any]] | None:
        """Per-GPU utilisation and memory, with the memory used by each process id; None without a GPU."""
        nv = self._nvml
        if nv is None:
            return None
        out: list[dict[str, Any]] = []
        try:
            for index in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                memory = nv.nvmlDeviceGetMemoryInfo(handle)
                util = nv.nvmlDeviceGetUtilizationRates(handle)
                name = nv.nvmlDeviceGetName(handle)
                by_pid: dict[int, int] = {}
                with contextlib.suppress(nv.NVMLError):
                    for proc in nv.nvmlDeviceGetComputeRunningProcesses(handle):
                        by_pid[int(proc.pid)] = int(proc.usedGpuMemory or 0)
                out.append({
                    "index": index, "name": name.decode() if isinstance(name, bytes) else str(name),
                    "utilization": int(util.gpu), "memory_used": int(memory.used),
                    "memory_total": int(memory.total), "pids": by_pid,
                })
        except nv.NVMLError as exc:
            self.gpu_error = f"NVML error: {exc}"
            return None
        return out


def gpus_for(gpus: list[dict[str, Any]] | None, replica_pids: dict[str, int]) -> list[dict[str, Any]] | None:
    """The host's GPU figures with `replica_memory` for this deployment's replicas."""
    if gpus is None:
        return None
    result = []
    for gpu in gpus:
        memory = {rid: gpu["pids"][pid] for rid, pid in replica_pids.items() if pid in gpu["pids"]}
        result.append({k: v for k, v in gpu.items() if k != "pids"} | {"replica_memory": memory})
    return result
