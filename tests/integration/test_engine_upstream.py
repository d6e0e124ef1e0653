"""The `upstream` runtime: a server the engine routes to and probes, but does not start."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness import RunningEngine, wait_until

DATA = Path(__file__).parent / "data"


def start_echo(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(DATA / "echo_http.py"), str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"listening"
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()


def state(engine: RunningEngine) -> tuple[str, int]:
    with engine.client() as client:
        dep = client.request("GET", "/v1/deployments/llm-a")
    return dep["state"], dep["replicas_ready"]


def test_an_upstream_is_probed_routed_to_and_marked_down_when_it_goes_away(engine: RunningEngine) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    echo = start_echo(port)
    try:
        specs = [
            {"kind": "Endpoint", "name": "llm", "traffic": {"llm-a": 100}},
            {"kind": "Deployment", "endpoint": "llm", "name": "llm-a", "runtime": "upstream",
             "upstream": f"http://127.0.0.1:{port}", "model": {"name": "echo", "version": "1"},
             "readiness": {"path": "/health", "period": 0.2, "failure_threshold": 2}},
        ]
        with engine.client() as client:
            client.request("POST", "/v1/apply", json={"specs": specs})
        engine.wait_ready("llm")
        key = engine.key("llm")
        url = f"{engine.data_url}/endpoints/llm/v1/completions"
        answer = httpx.post(url, json={"prompt": "hi"}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["path"] == "/v1/completions"
        assert answer.headers["x-deployment"] == "llm-a" and answer.headers["x-model-version"] == "1"
    finally:
        stop(echo)
    wait_until(lambda: state(engine) == ("Degraded", 0), timeout=30, what="llm-a seen down")
    down = httpx.post(url, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert down.status_code == 503 and down.json()["deployment"] == "llm-a"
    echo = start_echo(port)
    try:
        wait_until(lambda: state(engine) == ("Ready", 1), timeout=30, what="llm-a back")
        again = httpx.post(url, json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert again.status_code == 200
    finally:
        stop(echo)
