"""ServingBackend over real HTTP on 127.0.0.1, answering with recorded expositions and the
model listings vLLM, TGI and Triton write: inventory, telemetry across two scrapes, and the
exact error for each way a host can fail."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from console.backends.base import Invalid, NotFound, PlaceKind, Unauthorized
from console.backends.places import PlaceConfig
from console.backends.serving import ServingBackend
from console.domain.models import DeploymentState
from tests.recorded_host import Host, recorded_host

pytestmark = pytest.mark.integration
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture
def host() -> Iterator[Host]:
    with recorded_host() as served:
        yield served


def backend_for(host: Host, **fields: object) -> ServingBackend:
    clock = iter(float(t) for t in range(1_700_000_000, 1_700_001_000, 5))
    return ServingBackend(PlaceConfig(kind=PlaceKind.SERVING, name="h", url=host.url, **fields),
                          clock=lambda: next(clock))


def test_a_vllm_host_lists_its_model_and_charts_two_scrapes(host: Host) -> None:
    host.routes[("GET", "/health")] = (200, b"")
    host.routes[("GET", "/v1/models")] = (200, json.dumps(
        {"object": "list", "data": [{"id": LLAMA, "object": "model", "owned_by": "vllm", "max_model_len": 8192}]},
    ).encode())
    host.metrics("vllm-1.prom")
    backend = backend_for(host)
    try:
        probe = backend.probe()
        assert probe.ok and probe.message.startswith(f"{host.url}/health answered HTTP 200; 1 model ({LLAMA})")
        assert probe.detail["servers"] == ["vllm"]
        [endpoint] = backend.inventory().endpoints
        [deployment] = endpoint.deployments
        assert (endpoint.name, deployment.name, deployment.state) == (LLAMA, LLAMA, DeploymentState.READY)
        assert deployment.reason == "listed; GET /health answered 200"
        assert deployment.spec.name == "meta-llama-llama-3-1-8b-instruct"
        assert backend.telemetry().samples == ()
        host.metrics("vllm-2.prom")
        [sample] = backend.telemetry().samples
        assert sample.endpoint == LLAMA and sample.interval_s == 5.0
        assert sample.latency_ms == pytest.approx({"p50": 800.0, "p90": 1000.0, "p95": 1250.0, "p99": 1450.0})
        host.routes[("GET", "/health")] = (503, b"")
        [failed] = backend.inventory().endpoints[0].deployments
        assert (failed.state, failed.reason) == (DeploymentState.FAILED, "the host is not ready: GET /health "
                                                                         "answered 503")
    finally:
        backend.close()


def test_a_triton_host_reads_its_repository_index(host: Host) -> None:
    host.routes[("GET", "/v2/health/ready")] = (200, b"")
    host.routes[("POST", "/v2/repository/index")] = (200, json.dumps([
        {"name": "bert", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
        {"name": "bert", "version": "2", "state": "READY"},
        {"name": "densenet_onnx", "version": "1", "state": "READY"},
        {"name": "broken", "version": "1", "state": "UNAVAILABLE", "reason": "failed to load 'broken': no file"},
    ]).encode())
    host.routes[("GET", "/v2/models/bert/ready")] = (200, b"")
    host.routes[("GET", "/v2/models/densenet_onnx/ready")] = (400, b'{"error": "not ready"}')
    backend = backend_for(host)
    try:
        found = {e.name: e.deployments[0] for e in backend.inventory().endpoints}
        assert (found["bert"].state, found["bert"].model.version) == (DeploymentState.READY, "2")
        assert found["densenet_onnx"].state == DeploymentState.DEGRADED
        assert found["densenet_onnx"].reason == ("GET /v2/models/densenet_onnx/ready answered 400 while "
                                                 "GET /v2/health/ready answered 200")
        assert found["broken"].state == DeploymentState.FAILED
        assert "failed to load 'broken': no file" in found["broken"].reason
    finally:
        backend.close()


def test_metrics_on_another_port_and_an_unknown_server_with_a_chosen_histogram(host: Host) -> None:
    text = ("# TYPE app_seconds histogram\napp_seconds_bucket{le=\"0.1\"} %d\napp_seconds_bucket{le=\"+Inf\"} %d\n"
            "app_seconds_count %d\napp_seconds_sum 0.1\n")
    host.routes[("GET", "/health")] = (200, b"")
    host.routes[("GET", "/stats/prometheus")] = (200, (text % (1, 1, 1)).encode())
    backend = backend_for(host, metrics_url="/stats/prometheus", latency_histogram="app_seconds")
    try:
        assert backend.histograms() == ["app_seconds"]
        backend.telemetry()
        host.routes[("GET", "/stats/prometheus")] = (200, (text % (11, 11, 11)).encode())
        [sample] = backend.telemetry().samples
        assert sample.endpoint == host.url.removeprefix("http://")  # no model listed: named after the host
        assert sample.requests == 10 and sample.latency_ms["p50"] == pytest.approx(50.0)
        assert set(sample.per_host) == {"latency_ms", "requests"}
    finally:
        backend.close()
    backend = backend_for(host, metrics_url="/stats/prometheus", latency_histogram="nope_seconds")
    try:
        with pytest.raises(NotFound, match=r"'nope_seconds' is not in this host's /metrics \(histograms there: "
                                           r"app_seconds\)"):
            backend.telemetry()
    finally:
        backend.close()


def test_each_failure_is_named(host: Host) -> None:
    small = ServingBackend(PlaceConfig(kind=PlaceKind.SERVING, name="h", url=host.url), max_bytes=1000)
    try:
        host.metrics("vllm-1.prom")  # about 9 kB
        with pytest.raises(Invalid, match=r"/metrics: the answer is [\d,]+ bytes, more than the 1,000 bytes"):
            small.telemetry()
        host.routes[("GET", "/metrics")] = (200, b"# TYPE x gauge\nx{a=\"b\" 1\n")
        with pytest.raises(Invalid, match=r"/metrics: malformed exposition at line 2: .*x\{a=\"b\" 1"):
            small.telemetry()
        host.token = "right"
        with pytest.raises(Unauthorized, match="HTTP 401"):
            small.inventory()
        probe = small.probe()
        assert not probe.ok and "HTTP 401" in probe.message
    finally:
        small.close()


def test_a_host_that_lists_no_models_is_listed_under_its_name_with_its_gpu_figures(host: Host) -> None:
    """A DCGM exporter has /metrics only: the inventory lists the host itself, so its GPU
    figures (charted under the host's name) can be selected."""
    host.metrics("dcgm-1.prom")
    backend = backend_for(host)
    name = host.url.split("://", 1)[1]
    try:
        [endpoint] = backend.inventory().endpoints
        [deployment] = endpoint.deployments
        assert (endpoint.name, deployment.name, deployment.state) == (name, name, DeploymentState.READY)
        assert "whole host" in deployment.reason and endpoint.scoring_uri == ""
        assert backend.telemetry().samples == ()
        host.metrics("dcgm-2.prom")
        [sample] = backend.telemetry().samples
        assert (sample.endpoint, sample.deployment) == (name, name)
        assert sample.gpus and all(g.utilization_percent is not None for g in sample.gpus)
        assert "gpus" in sample.per_host
    finally:
        backend.close()
