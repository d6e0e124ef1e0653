"""What keeps a real engine private: the control token on every route, endpoint keys on the data
plane, the token file's mode, engine.json, one engine per state dir, loopback only."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from console import __version__
from tests.harness import RunningEngine, start_engine

pytestmark = pytest.mark.integration

ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("security") / "state")
    try:
        running.apply_demo()
        with running.client() as client:
            client.request("POST", "/v1/apply", json={"specs": [{"kind": "Endpoint", "name": "other"}]})
        yield running
    finally:
        running.stop()


def engine_command(state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "console", "engine", "--state-dir", str(state_dir), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def control_routes(engine: RunningEngine) -> list[tuple[str, str]]:
    """Every (method, path) in the OpenAPI description, path parameters filled with real names."""
    with engine.client() as client:
        schema = client.request("GET", "/openapi.json")
    routes = [("GET", "/openapi.json")]
    for path, operations in schema["paths"].items():
        concrete = path.replace("{name}", "fraud-v3" if path.startswith("/v1/deployments") else "fraud")
        routes += [(method.upper(), concrete) for method in operations]
    return routes


def body_for(method: str, path: str, revision: int) -> dict[str, Any]:
    if path.endswith("/traffic"):
        return {"json": {"traffic": {"fraud-v1": 10, "fraud-v2": 90}}, "headers": {"If-Match": str(revision)}}
    if path.endswith("/rollback"):
        return {"json": {}, "headers": {"If-Match": str(revision)}}
    if path == "/v1/apply":
        return {"json": {"specs": [{"kind": "Endpoint", "name": "intruder"}]}}
    if method == "DELETE":
        return {"json": {"reason": "intruder"}}
    return {}


def test_the_token_file_is_private(engine: RunningEngine) -> None:
    mode = stat.S_IMODE((engine.state_dir / "token").stat().st_mode)
    assert mode == 0o600
    assert len(engine.token) >= 32


def test_the_state_dir_and_everything_in_it_is_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "shared"
    state_dir.mkdir(mode=0o755)  # as a launcher might have made it
    state_dir.chmod(0o755)
    running = start_engine(state_dir)
    try:
        running.apply_demo()
        assert running.score("fraud").status_code == 200
        with running.client() as client:  # make sure request lines reach the log file
            client.request("GET", "/v1/deployments/fraud-v1/logs", params={"tail": 1})
    finally:
        running.stop()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for path in state_dir.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(state_dir)} is readable by others: {oct(mode)}"
    assert (state_dir / "state.db").exists() and any((state_dir / "logs").iterdir())


def test_engine_json_describes_the_running_engine(engine: RunningEngine) -> None:
    info = json.loads((engine.state_dir / "engine.json").read_text())
    assert info["pid"] == engine.proc.pid
    assert info["version"] == __version__
    for key in ("control_url", "data_url"):
        assert info[key].startswith("http://127.0.0.1:")
        assert int(info[key].rsplit(":", 1)[1]) > 0
    assert info["control_url"] != info["data_url"]
    started = datetime.fromisoformat(info["started"])
    assert started.tzinfo is not None and started <= datetime.now(UTC)
    with engine.client() as client:
        live = client.request("GET", "/v1/engine")
    assert {k: live[k] for k in ("pid", "control_url", "data_url", "version", "started")} == {
        k: info[k] for k in ("pid", "control_url", "data_url", "version", "started")}
    assert isinstance(live["gpu"], bool)
    assert "token" not in json.dumps(info).lower()


def test_every_control_route_needs_the_token(engine: RunningEngine) -> None:
    routes = control_routes(engine)
    assert len(routes) >= 15
    routes = sorted(set(routes) | {("GET", "/metrics"), ("GET", "/v1/telemetry/stream")})
    with engine.client() as client:
        before = client.endpoints(), client.request("GET", "/v1/audit")
    revision = before[0][0]["revision"]
    wrong = ["", "Bearer", f"Bearer {engine.token}x", f"Bearer {engine.token[:-1]}", f"Basic {engine.token}",
             engine.token, f"bearer {engine.token}"]
    with httpx.Client(base_url=engine.control_url, timeout=30) as http:
        for method, path in routes:
            for auth in wrong:
                headers = {"Authorization": auth} if auth else {}
                kwargs = body_for(method, path, revision)
                kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
                resp = http.request(method, path, **kwargs)
                assert resp.status_code == 401, (method, path, auth, resp.status_code, resp.text)
                assert "token" in resp.json()["error"]
    with engine.client() as client:
        assert (client.endpoints(), client.request("GET", "/v1/audit")) == before
        assert client.http.get("/v1/deployments/fraud-v3").status_code == 200


def test_the_data_plane_needs_the_endpoints_own_key(engine: RunningEngine) -> None:
    key = engine.key("fraud")
    other = engine.key("other")
    assert key != other
    url = f"{engine.data_url}/endpoints/fraud/score"
    with httpx.Client(timeout=30) as http:
        for auth in ["", f"Bearer {key}x", f"Bearer {key[:-1]}", f"Bearer {other}", f"Bearer {engine.token}",
                     key, f"Basic {key}", "Bearer"]:
            headers = {"Authorization": auth} if auth else {}
            resp = http.post(url, json={"inputs": [ROW]}, headers=headers)
            assert resp.status_code == 401, (auth, resp.text)
            assert "key" in resp.json()["error"] and "x-deployment" not in resp.headers
            pinned = http.post(url, json={"inputs": [ROW]}, headers={**headers, "x-deployment": "fraud-v3"})
            assert pinned.status_code == 401
        resp = http.post(url, json={"inputs": [ROW]}, headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200
    status = subprocess.run(
        [sys.executable, "-m", "console", "status", "--keys", "--state-dir", str(engine.state_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert status.returncode == 0 and f"key: {key}" in status.stdout and f"key: {other}" in status.stdout
    assert "fraud-v1" in status.stdout and "2/2 ready" in status.stdout


def test_the_engine_listens_on_loopback_only(engine: RunningEngine) -> None:
    listening = [c for c in psutil.Process(engine.proc.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert len(listening) == 2
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}


def test_a_second_engine_on_the_same_state_dir_refuses(engine: RunningEngine) -> None:
    info = (engine.state_dir / "engine.json").read_text()
    done = engine_command(engine.state_dir)
    assert done.returncode == 2
    assert f"another engine is already running on state dir {engine.state_dir}" in done.stderr
    assert f"pid {engine.proc.pid}" in done.stderr
    assert (engine.state_dir / "engine.json").read_text() == info
    assert engine.proc.poll() is None
    with engine.client() as client:
        assert client.request("GET", "/v1/engine")["pid"] == engine.proc.pid


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.1", "::", "example.com"])
def test_a_non_loopback_host_is_refused(tmp_path: Path, host: str) -> None:
    done = engine_command(tmp_path / "state", "--host", host)
    assert done.returncode == 2
    assert "loopback" in done.stderr and host in done.stderr
    assert not (tmp_path / "state" / "engine.json").exists()
    assert not (tmp_path / "state" / "token").exists()


def test_a_client_without_a_running_engine_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "console", "status", "--state-dir", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1 and "no engine is running" in done.stderr
