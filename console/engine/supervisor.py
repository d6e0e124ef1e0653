"""Replica processes: start, readiness probes, restart with backoff, drain, stop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
from collections import deque
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from console.domain.models import DeploymentSpec, DeploymentState, DeploymentStatus, ReplicaStatus, Runtime
from console.engine.logs import LogHub
from console.engine.replica import EXIT_LOAD_ERROR, LISTENING

START_TIMEOUT = 60.0
MAX_START_FAILURES = 5
MAX_BACKOFF = 30.0
STABLE_AFTER = 30.0
DRAIN_TIMEOUT = 30.0
STOP_GRACE = 5.0


class Replica:
    """One replica process (or, for the upstream runtime, the probed upstream server)."""

    def __init__(self, replica_id: str, generation: int) -> None:
        self.id = replica_id
        self.generation = generation
        self.proc: asyncio.subprocess.Process | None = None
        self.url: str | None = None
        self.port: int | None = None
        self.state = "starting"
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.outstanding = 0
        self.stopping = False
        self.draining = False
        self.ever_ready = False
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self.task: asyncio.Task[None] | None = None

    @property
    def routable(self) -> bool:
        return self.state == "ready" and not self.draining and not self.stopping

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def status(self) -> ReplicaStatus:
        state = "draining" if self.draining and not self.stopping else self.state
        return ReplicaStatus(
            id=self.id, pid=self.pid, port=self.port, state=state, restarts=self.restarts,
            last_exit_code=self.last_exit_code, outstanding=self.outstanding,
        )


class Deployment:
    """A deployment's live replicas and its state."""

    def __init__(self, spec: DeploymentSpec, created: datetime) -> None:
        self.spec = spec
        self.created = created
        self.replicas: list[Replica] = []
        self.failed_reason = ""
        self.deleting = False
        self.generation = 0
        self.ever_ready = False

    def routable(self) -> list[Replica]:
        return [r for r in self.replicas if r.routable]

    def current(self) -> list[Replica]:
        return [r for r in self.replicas if r.generation == self.generation and not r.draining]

    @property
    def state(self) -> DeploymentState:
        ready = sum(1 for r in self.current() if r.routable)
        desired = self.spec.replicas if self.spec.runtime != Runtime.UPSTREAM else 1
        if self.deleting:
            return DeploymentState.DELETING
        if self.failed_reason:
            return DeploymentState.FAILED
        if desired > 0 and ready >= desired:
            return DeploymentState.READY
        if not self.ever_ready:
            return DeploymentState.CREATING
        return DeploymentState.DEGRADED

    def status(self) -> DeploymentStatus:
        current = self.current()
        desired = self.spec.replicas if self.spec.runtime != Runtime.UPSTREAM else 1
        reason = self.failed_reason
        if not reason and self.state == DeploymentState.DEGRADED:
            reason = f"{sum(1 for r in current if r.routable)} of {desired} replicas ready"
        return DeploymentStatus(
            name=self.spec.name, endpoint=self.spec.endpoint, model=self.spec.model,
            runtime=self.spec.runtime, state=self.state, reason=reason,
            replicas_ready=sum(1 for r in current if r.routable), replicas_desired=desired,
            replicas=[r.status() for r in self.replicas], spec=self.spec, created=self.created,
        )


class Supervisor:
    def __init__(self, logs: LogHub) -> None:
        self.logs = logs
        self.deployments: dict[str, Deployment] = {}
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start background work and keep a reference until it ends (so it is never collected)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    # -- desired state -------------------------------------------------------------

    def ensure(self, spec: DeploymentSpec, created: datetime | None = None) -> None:
        """Bring the deployment to `spec`: create it, scale it, or replace its replicas."""
        dep = self.deployments.get(spec.name)
        if dep is None:
            dep = self.deployments[spec.name] = Deployment(spec, created or datetime.now(UTC))
            self._scale(dep)
            return
        old = dep.spec
        dep.spec = spec
        if old.model_copy(update={"replicas": spec.replicas}) == spec and not dep.failed_reason:
            self._scale(dep)
            return
        # Anything but the replica count changed (or it had failed): a new generation
        # starts; the old one drains once the new one is ready.
        dep.failed_reason = ""
        dep.generation += 1
        previous = [r for r in dep.replicas if r.generation < dep.generation]
        self._scale(dep)
        self._spawn(self._retire_when_ready(dep, previous))

    def _scale(self, dep: Deployment) -> None:
        desired = dep.spec.replicas if dep.spec.runtime != Runtime.UPSTREAM else 1
        current = dep.current()
        for _ in range(desired - len(current)):
            replica = Replica(f"{dep.spec.name}-{next(self._ids)}", dep.generation)
            dep.replicas.append(replica)
            replica.task = self._spawn(self._run(dep, replica))
        if len(current) > desired:
            # Scale down: the least useful replicas drain first.
            order = sorted(current, key=lambda r: (r.routable, -r.outstanding))
            for replica in order[: len(current) - desired]:
                self._spawn(self._drain_and_stop(dep, replica))

    async def _retire_when_ready(self, dep: Deployment, previous: list[Replica]) -> None:
        """The previous generation drains once the new one is Ready (or the update failed)."""
        generation = dep.generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT * MAX_START_FAILURES
        while dep.generation == generation and not dep.failed_reason and dep.state != DeploymentState.READY:
            if dep.spec.replicas == 0 or dep.deleting:
                break
            if loop.time() > deadline:
                dep.failed_reason = "update did not become Ready in time; the previous replicas keep serving"
                self.logs.write(dep.spec.name, "engine", dep.failed_reason)
                return
            await asyncio.sleep(0.2)
        if dep.generation != generation or dep.failed_reason:
            if dep.failed_reason:
                self.logs.write(dep.spec.name, "engine", "update failed; the previous replicas keep serving")
            return
        await asyncio.gather(*(self._drain_and_stop(dep, r) for r in previous))

    async def remove(self, name: str) -> None:
        """Drain every replica, stop it, and forget the deployment."""
        dep = self.deployments.get(name)
        if dep is None:
            return
        dep.deleting = True
        await asyncio.gather(*(self._drain_and_stop(dep, r) for r in list(dep.replicas)))
        self.deployments.pop(name, None)

    async def shutdown(self) -> None:
        replicas = [(d, r) for d in self.deployments.values() for r in d.replicas]
        await asyncio.gather(*(self._stop(d, r) for d, r in replicas))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    # -- one replica's life --------------------------------------------------------

    async def _drain_and_stop(self, dep: Deployment, replica: Replica) -> None:
        replica.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT
        while replica.outstanding > 0 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await self._stop(dep, replica)

    async def _stop(self, dep: Deployment, replica: Replica) -> None:
        replica.stopping = True
        proc = replica.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if replica.task is not None and replica.task is not asyncio.current_task():
            replica.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replica.task
        replica.state = "stopped"
        if replica in dep.replicas:
            dep.replicas.remove(replica)
            self.logs.write(dep.spec.name, replica.id, "replica stopped")

    async def _run(self, dep: Deployment, replica: Replica) -> None:
        failures = 0
        while not replica.stopping:
            if dep.spec.runtime == Runtime.UPSTREAM:
                replica.url = dep.spec.upstream
                await self._probe(dep, replica, None)
                return
            started = asyncio.get_running_loop().time()
            code = await self._run_process(dep, replica)
            if replica.stopping:
                return
            replica.last_exit_code = code
            replica.state = "crashed"
            reason = replica.stderr_tail[-1] if replica.stderr_tail else "no output"
            self.logs.write(dep.spec.name, replica.id, f"replica {exit_text(code)}: {reason}")
            if code == EXIT_LOAD_ERROR:
                dep.failed_reason = reason
                return
            stable = asyncio.get_running_loop().time() - started > STABLE_AFTER
            failures = 0 if stable else failures + 1
            if not replica.ever_ready and failures >= MAX_START_FAILURES:
                dep.failed_reason = f"replica failed to start {failures} times; last: {reason}"
                return
            backoff = min(MAX_BACKOFF, 0.5 * 2 ** max(failures - 1, 0))
            self.logs.write(dep.spec.name, replica.id, f"restarting in {backoff:.1f}s")
            replica.restarts += 1
            await asyncio.sleep(backoff)

    async def _run_process(self, dep: Deployment, replica: Replica) -> int:
        spec = dep.spec
        settings = {
            "deployment": spec.name, "replica_id": replica.id, "runtime": spec.runtime.value,
            "model_path": spec.model.path, "readiness_path": spec.readiness.path, "parent_pid": os.getpid(),
        }
        env = {**os.environ, **spec.env, "SWITCHBOARD_REPLICA": json.dumps(settings), "PYTHONUNBUFFERED": "1"}
        if spec.resources.gpus == 0 and "CUDA_VISIBLE_DEVICES" not in spec.env:
            env["CUDA_VISIBLE_DEVICES"] = ""  # a replica without GPUs in its spec does not get one
        replica.state = "starting"
        replica.stderr_tail.clear()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.engine.replica", env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        replica.proc = proc
        self.logs.write(spec.name, replica.id, f"replica started, pid {proc.pid}")
        listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            asyncio.create_task(self._pump(spec.name, replica, proc.stdout, listening)),
            asyncio.create_task(self._pump(spec.name, replica, proc.stderr, None)),
        ]
        probe: asyncio.Task[None] | None = None
        try:
            done, _ = await asyncio.wait(
                [listening, asyncio.ensure_future(proc.wait())], timeout=START_TIMEOUT,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if listening in done and not listening.cancelled():
                replica.port = listening.result()
                replica.url = f"http://127.0.0.1:{replica.port}"
                probe = asyncio.create_task(self._probe(dep, replica, proc))
            elif not done:
                self.logs.write(spec.name, replica.id, f"not listening after {START_TIMEOUT:.0f}s; killing it")
                proc.kill()
            code = await proc.wait()
        finally:
            if probe is not None:
                probe.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        replica.port = None
        return code

    async def _pump(
        self, deployment: str, replica: Replica, stream: asyncio.StreamReader, listening: asyncio.Future[int] | None
    ) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the stream limit
                raw = await stream.read(64 * 1024)
            if not raw:
                return
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if listening is not None and not listening.done() and text.startswith(LISTENING):
                listening.set_result(int(text.split()[1]))
                continue
            if listening is None:
                replica.stderr_tail.append(text)
            self.logs.write(deployment, replica.id, text)

    async def _probe(self, dep: Deployment, replica: Replica, proc: asyncio.subprocess.Process | None) -> None:
        """Probe readiness every period; `failure_threshold` misses in a row mark it not ready."""
        readiness = dep.spec.readiness
        misses = 0
        assert self._http is not None and replica.url is not None
        while not replica.stopping and (proc is None or proc.returncode is None):
            ok = False
            try:
                timeout = aiohttp.ClientTimeout(total=max(readiness.period, 1.0))
                async with self._http.get(replica.url + readiness.path, timeout=timeout) as resp:
                    ok = resp.status < 400
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                misses = 0
                if replica.state != "ready":
                    self.logs.write(dep.spec.name, replica.id, "replica ready")
                replica.state = "ready"
                replica.ever_ready = dep.ever_ready = True
            else:
                misses += 1
                if replica.state == "ready" and misses >= readiness.failure_threshold:
                    replica.state = "not-ready"
                    self.logs.write(dep.spec.name, replica.id, f"readiness failed {misses} times")
                elif replica.state == "starting" and proc is None and misses >= readiness.failure_threshold:
                    replica.state = "not-ready"
            # Probe quickly until first ready, then at the configured period.
            await asyncio.sleep(readiness.period if replica.state == "ready" else min(readiness.period, 0.1))


def exit_text(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name}), exit code {code}"
    return f"exited with code {code}"


def resolve_paths(spec: DeploymentSpec, base_dir: Path | None) -> DeploymentSpec:
    """Model paths in specs are relative to the spec file; the engine stores them absolute."""
    if spec.model.path is None or base_dir is None or Path(spec.model.path).is_absolute():
        return spec
    model = spec.model.model_copy(update={"path": str((base_dir / spec.model.path).resolve())})
    return spec.model_copy(update={"model": model})
