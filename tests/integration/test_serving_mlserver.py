"""A real MLServer (PyPI `mlserver` + `mlserver-sklearn`, in its own venv, .venv-mlserver,
made by ./run-tests.sh) serving a small scikit-learn model on 127.0.0.1, as a serving host:
its model listed, its health shown, its latency percentiles computed from real requests.

SWITCHBOARD_MLSERVER names the `mlserver` binary; without it the test skips, unless
SWITCHBOARD_REQUIRE_MLSERVER=1 (./run-tests.sh sets both), when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from console.backends.base import PlaceKind
from console.backends.places import PlaceConfig
from console.backends.serving import ServingBackend
from console.domain.models import DeploymentState
from tests.harness import wait_until

pytestmark = pytest.mark.integration

TRAIN = """
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=300).fit(X, y), sys.argv[1])
"""
ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}
BAD_ROW = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [5.1, 3.5, 1.4]}]}


def mlserver_binary() -> Path:
    named = os.environ.get("SWITCHBOARD_MLSERVER", "")
    if named and Path(named).is_file() and os.access(named, os.X_OK):
        return Path(named)
    why = (f"SWITCHBOARD_MLSERVER={named!r} is not an executable file" if named else
           "SWITCHBOARD_MLSERVER is not set (./run-tests.sh makes .venv-mlserver and sets it)")
    if os.environ.get("SWITCHBOARD_REQUIRE_MLSERVER") == "1":
        pytest.fail(f"MLServer is required (SWITCHBOARD_REQUIRE_MLSERVER=1) but {why}")
    pytest.skip(f"no MLServer to test against: {why}")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class RunningMLServer:
    proc: subprocess.Popen[bytes]
    url: str
    metrics_url: str
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"


@pytest.fixture
def mlserver(tmp_path: Path) -> Iterator[RunningMLServer]:
    binary = mlserver_binary()
    folder = tmp_path / "models"
    (folder / "iris").mkdir(parents=True)
    subprocess.run([str(binary.parent / "python"), "-c", TRAIN, str(folder / "iris" / "model.joblib")],
                   check=True, timeout=120)
    http_port, grpc_port, metrics_port = free_ports(3)
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port, "metrics_port": metrics_port,
        "metrics_dir": str(tmp_path / "metrics"), "parallel_workers": 1, "debug": False}))
    (folder / "iris" / "model-settings.json").write_text(json.dumps({
        "name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"}}))
    log = tmp_path / "mlserver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(binary), "start", str(folder)], cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    running = RunningMLServer(proc, f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{metrics_port}/metrics",
                              log)
    try:
        def model_ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"mlserver exited with {proc.returncode}:\n{running.log_tail()}")
            return httpx.get(f"{running.url}/v2/models/iris/ready", timeout=2).status_code == 200

        try:
            wait_until(model_ready, timeout=120, interval=0.25, what="MLServer to load the iris model")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{running.log_tail()}") from exc
        yield running
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its worker
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_mlserver_models_health_and_latency_percentiles_from_real_requests(mlserver: RunningMLServer) -> None:
    backend = ServingBackend(PlaceConfig(kind=PlaceKind.SERVING, name="mlserver", url=mlserver.url,
                                         metrics_url=mlserver.metrics_url))
    try:
        probe = backend.probe()
        assert probe.ok, probe.message
        assert probe.detail["models"] == ["iris"] and probe.detail["servers"] == ["mlserver"]
        assert probe.detail["health"] == "GET /v2/health/ready answered 200"
        assert "rest_server_request_duration_seconds" in probe.detail["histograms"]
        assert "MLServer" in probe.message

        inventory = backend.inventory()
        assert [e.name for e in inventory.endpoints] == ["iris"]
        iris = inventory.endpoints[0].deployments[0]
        assert (iris.state, iris.reason) == (DeploymentState.READY, "GET /v2/models/iris/ready answered 200")
        assert (iris.model.name, iris.model.version, iris.replicas_ready) == ("iris", "v1", 1)
        assert inventory.endpoints[0].scoring_uri == f"{mlserver.url}/v2/models/iris/infer"

        assert backend.telemetry().samples == ()  # the first scrape is the baseline
        with httpx.Client(base_url=mlserver.url, timeout=30) as http:
            for _ in range(30):
                assert http.post("/v2/models/iris/infer", json=ROW).status_code == 200
            assert http.post("/v2/models/iris/infer", json=BAD_ROW).status_code == 500  # 3 features, not 4

        def counted() -> bool:
            series = backend.scrape().series("model_infer_request_success")
            return any(labels.get("model") == "iris" and value >= 30 for labels, value in series)

        wait_until(counted, timeout=20, what="MLServer's metrics to count the requests")
        batch = backend.telemetry()
        [sample] = batch.samples
        assert (sample.endpoint, sample.deployment) == ("iris", "iris")
        assert (sample.requests, sample.errors_5xx) == (31.0, 1.0)
        # Percentiles of the inference route's histogram over the interval (buckets start at 5 ms).
        p = sample.latency_ms
        assert set(p) == {"p50", "p90", "p95", "p99"}
        assert all(v is not None for v in p.values())
        assert 0 < p["p50"] <= p["p90"] <= p["p95"] <= p["p99"] <= 10_000  # type: ignore[operator]
        assert sample.latency_mean_ms is not None and sample.latency_mean_ms > 0
        # The route histogram knows no model: its figures are marked as the host's.
        assert "latency_ms" in sample.per_host and "errors_5xx" not in sample.per_host
        assert sample.errors_4xx == 0.0 and "errors_4xx" in sample.per_host

        # /v2/health/ready stays 200 with no model loaded: readiness comes from the model's route.
        httpx.post(f"{mlserver.url}/v2/repository/models/iris/unload", timeout=30).raise_for_status()
        wait_until(lambda: httpx.get(f"{mlserver.url}/v2/models/iris/ready", timeout=2).status_code != 200,
                   timeout=20, what="the model to unload")
        assert httpx.get(f"{mlserver.url}/v2/health/ready", timeout=2).status_code == 200
        unloaded = backend.inventory().endpoints[0].deployments[0]
        assert unloaded.state == DeploymentState.FAILED and unloaded.replicas_ready == 0
        assert "UNAVAILABLE" in unloaded.reason
    finally:
        backend.close()
