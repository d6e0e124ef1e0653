"""Replica processes of a real engine: crash and restart, a model that cannot load, a start that
keeps failing, and delete (refused with traffic; drains in-flight requests when allowed)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.harness import RunningEngine, start_engine, wait_until

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent / "data"
ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
SLOW_SECONDS = 3


def deployment(name: str, script: str, replicas: int = 1, env: dict[str, str] | None = None,
               runtime: str = "python") -> dict[str, Any]:
    return {
        "kind": "Deployment", "endpoint": "lab", "name": name, "runtime": runtime, "replicas": replicas,
        "model": {"name": name, "version": "1", "path": script},
        "readiness": {"path": "/ready", "period": 0.5, "failure_threshold": 3}, "env": env or {},
    }


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marker") / "crash-now"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, marker: Path) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("replicas") / "state")
    try:
        specs = [
            {"kind": "Endpoint", "name": "lab", "traffic": {"lab-echo": 100}},
            deployment("lab-echo", "echo_env.py", replicas=2, env={"FLAVOUR": "plain"}),
            deployment("lab-crashy", "crash_on_marker.py", env={"CRASH_MARKER": str(marker)}),
            deployment("lab-slow", "slow.py", env={"SLOW_SECONDS": str(SLOW_SECONDS)}),
        ]
        apply(running, specs)
        running.wait_ready("lab")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def control(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.token}", "X-Actor": "ops@test"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def data(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.key('lab')}"}
    with httpx.Client(base_url=engine.data_url, headers=headers, timeout=60) as client:
        yield client


def apply(engine: RunningEngine, specs: list[dict[str, Any]]) -> None:
    with engine.client() as client:
        client.request("POST", "/v1/apply", json={"specs": specs, "base_dir": str(DATA)})


def status(control: httpx.Client, name: str) -> dict[str, Any]:
    resp = control.get(f"/v1/deployments/{name}")
    resp.raise_for_status()
    return resp.json()


def logs(control: httpx.Client, name: str) -> str:
    return control.get(f"/v1/deployments/{name}/logs", params={"tail": 5000}).text


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pinned(data: httpx.Client, name: str) -> httpx.Response:
    return data.post("/endpoints/lab/score", json={"inputs": [ROW]}, headers={"x-deployment": name})


def test_a_replica_killed_with_sigkill_is_restarted(control: httpx.Client, data: httpx.Client) -> None:
    victim = status(control, "lab-echo")["replicas"][0]
    assert victim["state"] == "ready" and victim["pid"]
    os.kill(victim["pid"], signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        dep = status(control, "lab-echo")
        (replica,) = [r for r in dep["replicas"] if r["id"] == victim["id"]]
        done = replica["restarts"] == victim["restarts"] + 1 and replica["state"] == "ready"
        return replica if done and dep["state"] == "Ready" and dep["replicas_ready"] == 2 else None

    replica = wait_until(restarted, 60, what="the killed replica back and ready")
    assert replica["pid"] not in (None, victim["pid"])
    assert replica["last_exit_code"] == -signal.SIGKILL
    assert not alive(victim["pid"])
    text = logs(control, "lab-echo")
    crash = [ln for ln in text.splitlines() if f" {victim['id']} replica " in ln and "code -9" in ln]
    assert len(crash) == 1, text  # e.g. "replica killed by signal 9 (SIGKILL), exit code -9"
    assert f"{victim['id']} replica started, pid {replica['pid']}" in text
    assert {pinned(data, "lab-echo").json()["pid"] for _ in range(20)} <= {
        r["pid"] for r in status(control, "lab-echo")["replicas"]
    }


def test_a_replica_that_crashes_mid_request_restarts_and_logs_its_exit_code(
    control: httpx.Client, data: httpx.Client, marker: Path
) -> None:
    (before,) = status(control, "lab-crashy")["replicas"]
    marker.touch()
    resp = pinned(data, "lab-crashy")
    assert resp.status_code == 502
    assert resp.json()["deployment"] == "lab-crashy" and resp.headers["x-deployment"] == "lab-crashy"
    assert not marker.exists()

    def back() -> dict[str, Any] | None:
        dep = status(control, "lab-crashy")
        (replica,) = dep["replicas"]
        return replica if replica["restarts"] == before["restarts"] + 1 and dep["state"] == "Ready" else None

    replica = wait_until(back, 60, what="lab-crashy restarted and Ready")
    assert replica["last_exit_code"] == 17 and replica["pid"] != before["pid"]
    text = logs(control, "lab-crashy")
    assert "replica exited with code 17: crash marker" in text
    assert "restarting in " in text
    assert pinned(data, "lab-crashy").status_code == 200


def test_a_missing_model_file_fails_the_deployment_with_its_path(
    engine: RunningEngine, control: httpx.Client, data: httpx.Client
) -> None:
    missing = DATA / "models" / "absent.onnx"
    apply(engine, [deployment("lab-missing", "models/absent.onnx", replicas=2, runtime="onnx")])
    dep = wait_until(lambda: (d := status(control, "lab-missing"))["state"] == "Failed" and d, 60,
                     what="lab-missing Failed")
    assert str(missing) in dep["reason"] and "not found" in dep["reason"]
    assert dep["replicas_ready"] == 0 and dep["replicas_desired"] == 2
    # A load error is final: each replica exited once with EX_CONFIG, and none is retried.
    wait_until(lambda: all(r["last_exit_code"] == 78 for r in status(control, "lab-missing")["replicas"]), 30,
               what="both replicas' exit codes")
    dep = status(control, "lab-missing")
    assert [r["restarts"] for r in dep["replicas"]] == [0, 0]
    assert all(r["pid"] is None for r in dep["replicas"])
    text = logs(control, "lab-missing")
    assert text.count("replica started, pid") == 2 and "restarting in" not in text
    assert f"model file not found: {missing}" in text

    resp = pinned(data, "lab-missing")
    assert resp.status_code == 503 and resp.json()["deployment"] == "lab-missing"
    revision = control.get("/v1/endpoints/lab").json()["revision"]
    resp = control.put("/v1/endpoints/lab/traffic", headers={"If-Match": str(revision)},
                       json={"traffic": {"lab-echo": 90, "lab-missing": 10}})
    assert resp.status_code == 422 and "must be Ready" in resp.json()["error"]

    # Fixing the spec replaces the failed replicas.
    apply(engine, [deployment("lab-missing", "echo_env.py", replicas=2)])
    dep = wait_until(lambda: (d := status(control, "lab-missing"))["state"] == "Ready" and d, 60,
                     what="lab-missing Ready after the fix")
    assert dep["reason"] == "" and dep["replicas_ready"] == 2
    assert pinned(data, "lab-missing").status_code == 200
    assert control.delete("/v1/deployments/lab-missing").status_code == 200


def test_a_replica_that_never_starts_fails_the_deployment_after_bounded_retries(
    engine: RunningEngine, control: httpx.Client
) -> None:
    apply(engine, [deployment("lab-exits", "exit_in_init.py")])
    dep = wait_until(lambda: (d := status(control, "lab-exits"))["state"] == "Failed" and d, 90,
                     what="lab-exits Failed")
    assert "failed to start 5 times" in dep["reason"] and "giving up during init" in dep["reason"]
    (replica,) = dep["replicas"]
    assert replica["last_exit_code"] == 3 and replica["pid"] is None
    text = logs(control, "lab-exits")
    assert text.count("replica exited with code 3") == 5
    assert text.count("replica started, pid") == 5
    assert control.delete("/v1/deployments/lab-exits").status_code == 200


def test_an_in_flight_request_finishes_where_it_started_when_weights_change(
    control: httpx.Client, data: httpx.Client
) -> None:
    def shift(traffic: dict[str, int]) -> None:
        revision = control.get("/v1/endpoints/lab").json()["revision"]
        resp = control.put("/v1/endpoints/lab/traffic", headers={"If-Match": str(revision)},
                           json={"traffic": traffic, "reason": "in-flight test"})
        assert resp.status_code == 200 and resp.json()["applied_revision"] == revision + 1

    shift({"lab-slow": 100})
    answers: list[httpx.Response] = []
    unpinned = threading.Thread(target=lambda: answers.append(
        data.post("/endpoints/lab/score", json={"inputs": [ROW]})))
    unpinned.start()
    try:
        wait_until(lambda: status(control, "lab-slow")["replicas"][0]["outstanding"] == 1, 30,
                   what="the request in flight on lab-slow")
        shift({"lab-echo": 100})
        now = data.post("/endpoints/lab/score", json={"inputs": [ROW]})
        assert now.status_code == 200 and now.headers["x-deployment"] == "lab-echo"
        assert answers == [], "the slow request was still in flight when the split changed"
    finally:
        unpinned.join(60)
    assert not unpinned.is_alive()
    (slow,) = answers
    assert slow.status_code == 200 and slow.headers["x-deployment"] == "lab-slow"


def test_delete_is_refused_with_traffic_then_drains_in_flight_requests(
    control: httpx.Client, data: httpx.Client
) -> None:
    def shift(traffic: dict[str, int], mirror: dict[str, int]) -> None:
        revision = control.get("/v1/endpoints/lab").json()["revision"]
        resp = control.put("/v1/endpoints/lab/traffic", headers={"If-Match": str(revision)},
                           json={"traffic": traffic, "mirror": mirror, "reason": "delete test"})
        assert resp.status_code == 200, resp.text

    shift({"lab-echo": 50, "lab-slow": 50}, {})
    resp = control.delete("/v1/deployments/lab-slow")
    assert resp.status_code == 409 and "50% live" in resp.json()["error"]
    shift({"lab-echo": 100}, {"lab-slow": 10})
    resp = control.delete("/v1/deployments/lab-slow")
    assert resp.status_code == 409 and "10% mirror" in resp.json()["error"]
    shift({"lab-echo": 100}, {})
    (replica,) = status(control, "lab-slow")["replicas"]

    answers: dict[str, httpx.Response] = {}
    slow = threading.Thread(target=lambda: answers.setdefault("slow", pinned(data, "lab-slow")))
    slow.start()
    wait_until(lambda: status(control, "lab-slow")["replicas"][0]["outstanding"] == 1, 30,
               what="the slow request in flight")
    deleting = threading.Thread(
        target=lambda: answers.setdefault("delete", control.delete("/v1/deployments/lab-slow",)))
    deleting.start()
    try:
        wait_until(lambda: status(control, "lab-slow")["state"] == "Deleting", 30, what="lab-slow Deleting")
        # A draining replica takes no new request; the one in flight finishes where it started.
        refused = pinned(data, "lab-slow")
        assert refused.status_code == 503 and refused.json()["deployment"] == "lab-slow"
        assert "slow" not in answers
    finally:
        slow.join(60)
        deleting.join(60)
    assert not slow.is_alive() and not deleting.is_alive()
    assert answers["slow"].status_code == 200 and answers["slow"].json()["slept"] == SLOW_SECONDS
    assert answers["delete"].status_code == 200 and answers["delete"].json() == {"deleted": "lab-slow"}
    assert control.get("/v1/deployments/lab-slow").status_code == 404
    assert "lab-slow" not in [d["name"] for d in control.get("/v1/endpoints/lab").json()["deployments"]]
    wait_until(lambda: not alive(replica["pid"]), 30, what="lab-slow's replica to exit")
    assert pinned(data, "lab-slow").status_code == 404
    event = control.get("/v1/audit").json()[-1]
    assert event["action"] == "deployment.delete" and event["deployment"] == "lab-slow"
    assert event["actor"] == "ops@test" and event["after"] is None and event["before"]["name"] == "lab-slow"
