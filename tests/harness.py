"""Real engine processes for tests: started on 127.0.0.1 with free ports, always stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from console.backends.engine import EngineClient

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "resources" / "demo" / "demo.yaml"
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # the condition may fail while things start
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}: last error {last_error}")


class RawClient(EngineClient):
    """The console's engine client, answering plain JSON (dicts) as tests compare them."""

    def __init__(self, control_url: str, token: str, actor: str) -> None:
        super().__init__(control_url, token, timeout=httpx.Timeout(30.0, connect=3.0), actor_name=actor)
        self.http = self._http

    def endpoints(self) -> Any:  # type: ignore[override]
        return self.request("GET", "/v1/endpoints")

    def endpoint(self, name: str) -> Any:  # type: ignore[override]
        return self.request("GET", f"/v1/endpoints/{name}")

    def apply_yaml(self, text: str, base_dir: Path | str) -> Any:
        return self.request("POST", "/v1/apply", json={"yaml": text, "base_dir": str(Path(base_dir).resolve())})

    def set_traffic(  # type: ignore[override]
        self, endpoint: str, revision: int, traffic: dict[str, int], mirror: dict[str, int], reason: str = ""
    ) -> Any:
        body = {"traffic": traffic, "mirror": mirror, "reason": reason}
        return self.request(
            "PUT", f"/v1/endpoints/{endpoint}/traffic", json=body, headers={"If-Match": str(revision)}
        )


@dataclass
class RunningEngine:
    state_dir: Path
    proc: subprocess.Popen[bytes]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return (self.state_dir / "token").read_text().strip()

    @property
    def control_url(self) -> str:
        return str(self.info["control_url"])

    @property
    def data_url(self) -> str:
        return str(self.info["data_url"])

    def client(self, actor: str = "tester@test") -> RawClient:
        return RawClient(self.control_url, self.token, actor)

    def key(self, endpoint: str) -> str:
        with self.client() as client:
            return str(client.request("GET", f"/v1/endpoints/{endpoint}/keys")["key"])

    def score(self, endpoint: str, rows: list[list[float]] | None = None, **headers: str) -> httpx.Response:
        body = {"inputs": rows or [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]}
        auth = {"Authorization": f"Bearer {self.key(endpoint)}", **headers}
        return httpx.post(f"{self.data_url}/endpoints/{endpoint}/score", json=body, headers=auth, timeout=10)

    def apply_demo(self, wait_ready: bool = True) -> None:
        with self.client() as client:
            client.apply_yaml(DEMO.read_text(), DEMO.parent)
        if wait_ready:
            self.wait_ready("fraud")

    def wait_ready(self, endpoint: str, timeout: float = 60.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            with self.client() as client:
                ep = client.endpoint(endpoint)
            return ep if ep["deployments"] and all(d["state"] == "Ready" for d in ep["deployments"]) else None

        return wait_until(ready, timeout, what=f"every deployment of {endpoint} Ready")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def running_demo(folder: Path) -> Iterator[RunningEngine]:
    """An engine of its own in `folder`, the demo applied and Ready; stopped afterwards."""
    running = start_engine(folder / "state")
    try:
        running.apply_demo()
        yield running
    finally:
        running.stop()


def start_engine(state_dir: Path, *extra: str, timeout: float = 30.0) -> RunningEngine:
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir.parent / f"{state_dir.name}-engine.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "engine", "--state-dir", str(state_dir), *extra],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    engine = RunningEngine(state_dir, proc)

    def started() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode}")
        info = json.loads((state_dir / "engine.json").read_text())
        return info if info.get("pid") == proc.pid else None

    try:
        engine.info = wait_until(started, timeout, what="engine.json of the new engine")
    except Exception:
        engine.kill()
        raise
    return engine


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate, then kill if it has not ended within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def demo_traffic(state_dir: Path, rps: float = 40) -> Iterator[subprocess.Popen[bytes]]:
    """The real `switchboard demo traffic` against the engine of `state_dir`, as an operator runs
    it; stopped afterwards."""
    command = [sys.executable, "-m", "console", "demo", "traffic", "--state-dir", str(state_dir), "--rps", str(rps)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        stop_process(proc)
