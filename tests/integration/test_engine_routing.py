"""The data plane of a real engine: scoring through the router, pinning, the weighted split,
mirroring (also a failing mirror), 503, 413 and unknown names."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import DEMO, RunningEngine, running_demo, wait_until

pytestmark = pytest.mark.integration

ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
MAX_BODY = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with running_demo(tmp_path_factory.mktemp("routing")) as running:
        yield running


@pytest.fixture(scope="module")
def data(engine: RunningEngine) -> Iterator[httpx.Client]:
    """A data-plane client holding the demo endpoint's key."""
    headers = {"Authorization": f"Bearer {engine.key('fraud')}"}
    with httpx.Client(base_url=engine.data_url, headers=headers, timeout=30) as client:
        yield client


def score(data: httpx.Client, rows: list[list[float]] | None = None, **headers: str) -> httpx.Response:
    return data.post("/endpoints/fraud/score", json={"inputs": rows or [ROW]}, headers=headers)


def set_split(engine: RunningEngine, traffic: dict[str, int], mirror: dict[str, int] | None = None) -> dict[str, Any]:
    with engine.client() as client:
        current = client.endpoint("fraud")
        result = client.set_traffic("fraud", current["revision"], traffic, mirror or {}, "routing test")
    assert result["applied_revision"] == result["revision"]
    return result


def metric_value(engine: RunningEngine, sample_name: str, **labels: str) -> float:
    with engine.client() as client:
        text = client.http.get("/metrics").text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def log_lines(engine: RunningEngine, deployment: str) -> list[str]:
    with engine.client() as client:
        resp = client.http.get(f"/v1/deployments/{deployment}/logs", params={"tail": 5000})
    resp.raise_for_status()
    return resp.text.splitlines()


def telemetry_history(engine: RunningEngine) -> list[dict[str, Any]]:
    """Every telemetry sample the engine still holds (the SSE stream's history, up to its live mark)."""
    samples = []
    headers = {"Authorization": f"Bearer {engine.token}"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=httpx.Timeout(30, read=10)) as http, \
            http.stream("GET", "/v1/telemetry/stream", params={"history": 3600}) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line == ": live":
                return samples
            if line.startswith("data: "):
                samples.append(json.loads(line.removeprefix("data: ")))
    raise AssertionError("the telemetry stream ended before its live mark")


def test_score_answers_with_deployment_version_and_request_id(engine: RunningEngine, data: httpx.Client) -> None:
    set_split(engine, {"fraud-v1": 90, "fraud-v2": 10})
    versions = {"fraud-v1": "1", "fraud-v2": "2"}
    ids = set()
    for _ in range(10):
        resp = score(data, [ROW, [0.0] * 8, [2.5, 0.2, 0.97, 0.75, 3.8, 0.0, 4.0, -3.5]])
        assert resp.status_code == 200, resp.text
        outputs = resp.json()["outputs"]
        assert len(outputs) == 3 and all(0.0 < p < 1.0 for p in outputs)
        assert outputs[2] > outputs[0], "the suspicious row scores higher"
        deployment = resp.headers["x-deployment"]
        assert resp.headers["x-model-version"] == versions[deployment]
        ids.add(resp.headers["x-request-id"])
    assert len(ids) == 10 and all(len(i) >= 16 for i in ids)
    mine = f"client-{uuid.uuid4().hex}"
    resp = score(data, **{"x-request-id": mine})
    assert resp.headers["x-request-id"] == mine


def test_pinning_reaches_that_deployment_even_at_zero_percent(engine: RunningEngine, data: httpx.Client) -> None:
    set_split(engine, {"fraud-v1": 100, "fraud-v2": 0})
    for name, version in (("fraud-v1", "1"), ("fraud-v2", "2"), ("fraud-v3", "3")):
        for _ in range(5):
            resp = score(data, **{"x-deployment": name})
            assert resp.status_code == 200, resp.text
            assert resp.headers["x-deployment"] == name
            assert resp.headers["x-model-version"] == version
    # The same row scores differently by version, so the pin really reached another model.
    answers = {n: score(data, **{"x-deployment": n}).json()["outputs"][0] for n in ("fraud-v1", "fraud-v2", "fraud-v3")}
    assert len(set(answers.values())) == 3


def test_pinning_an_unknown_deployment_is_404(engine: RunningEngine, data: httpx.Client) -> None:
    resp = score(data, **{"x-deployment": "fraud-v9"})
    assert resp.status_code == 404
    assert resp.json()["deployment"] == "fraud-v9" and "fraud-v9" in resp.json()["error"]
    resp = data.post("/endpoints/nowhere/score", json={"inputs": [ROW]})
    assert resp.status_code == 404 and "nowhere" in resp.json()["error"]


def test_a_zero_weight_deployment_gets_no_unpinned_traffic(engine: RunningEngine, data: httpx.Client) -> None:
    set_split(engine, {"fraud-v1": 100, "fraud-v2": 0})
    seen = Counter(score(data).headers["x-deployment"] for _ in range(50))
    assert seen == Counter({"fraud-v1": 50})


def test_weighted_split_is_respected(engine: RunningEngine, data: httpx.Client) -> None:
    set_split(engine, {"fraud-v1": 70, "fraud-v2": 30})
    n, p = 400, 0.30
    seen = Counter(score(data).headers["x-deployment"] for _ in range(n))
    assert set(seen) <= {"fraud-v1", "fraud-v2"}
    assert seen["fraud-v1"] + seen["fraud-v2"] == n
    # Binomial: 5 standard deviations either side (a false failure about once in 1.7 million runs).
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(seen["fraud-v2"] - n * p) < 5 * sigma, seen


def test_mirror_copies_its_share_and_never_answers(engine: RunningEngine, data: httpx.Client) -> None:
    set_split(engine, {"fraud-v1": 100}, {"fraud-v3": 50})
    live_before = metric_value(engine, "switchboard_requests_total", deployment="fraud-v3", mirror="false")
    sent = set()
    for _ in range(100):
        request_id = f"shadowed-{uuid.uuid4().hex}"
        resp = score(data, **{"x-request-id": request_id})
        assert resp.status_code == 200 and resp.headers["x-deployment"] == "fraud-v1"
        sent.add(request_id)

    def mirrored() -> set[str]:
        lines = [ln for ln in log_lines(engine, "fraud-v3") if " router mirror request shadowed-" in ln]
        ids = {ln.split("mirror request ")[1].split()[0] for ln in lines}
        return ids & sent if len(ids & sent) >= 25 else set()

    # 50% of 100: fewer than 25 copies is a 5-sigma event.
    copies = wait_until(mirrored, 30, what="mirror copies in fraud-v3's logs")
    assert len(copies) < 75
    wait_until(
        lambda: metric_value(engine, "switchboard_requests_total", deployment="fraud-v3", mirror="true", code="200")
        >= len(copies), 30, what="mirror figures in /metrics",
    )
    assert metric_value(engine, "switchboard_requests_total", deployment="fraud-v3", mirror="false") == live_before
    v1_logs = [ln for ln in log_lines(engine, "fraud-v1") if any(i in ln for i in copies)]
    assert len(v1_logs) == len(copies) and not any("mirror request" in ln for ln in v1_logs)

    def mirror_samples() -> list[dict[str, Any]]:
        found = [s for s in telemetry_history(engine) if s["deployment"] == "fraud-v3" and s["mirror"]]
        return found if sum(s["requests"] for s in found) >= len(copies) else []

    # Mirror figures are their own telemetry samples, apart from fraud-v3's live ones.
    samples = wait_until(mirror_samples, 30, interval=0.5, what="fraud-v3's mirror samples in the telemetry")
    assert all(s["endpoint"] == "fraud" and s["errors_5xx"] == 0 for s in samples)
    assert all(s["latency_ms"]["p50"] is not None for s in samples if s["requests"])


def _apply_v3_env(engine: RunningEngine, env: dict[str, str]) -> None:
    docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d]
    (v3,) = [d for d in docs if d["name"] == "fraud-v3"]
    v3["env"] = {**v3["env"], **env}
    with engine.client() as client:
        client.apply_yaml(yaml.safe_dump_all(docs), DEMO.parent)

    def settled() -> bool:
        with engine.client() as client:
            dep = client.request("GET", "/v1/deployments/fraud-v3")
        return dep["spec"]["env"] == v3["env"] and dep["state"] == "Ready" and len(dep["replicas"]) == 1

    wait_until(settled, 60, what="fraud-v3 restarted with its new env")


def test_a_failing_mirror_never_reaches_the_client(engine: RunningEngine, data: httpx.Client) -> None:
    _apply_v3_env(engine, {"DEMO_ERROR_RATE": "1"})
    try:
        pinned = score(data, **{"x-deployment": "fraud-v3"})
        assert pinned.status_code == 500 and "injected failure" in pinned.text
        set_split(engine, {"fraud-v1": 90, "fraud-v2": 10}, {"fraud-v3": 50})
        before = metric_value(engine, "switchboard_requests_total", deployment="fraud-v3", mirror="true", code="500")
        answers = [score(data) for _ in range(60)]
        assert [r.status_code for r in answers] == [200] * 60
        assert {r.headers["x-deployment"] for r in answers} <= {"fraud-v1", "fraud-v2"}
        assert all("outputs" in r.json() for r in answers)
        wait_until(
            lambda: metric_value(engine, "switchboard_requests_total", deployment="fraud-v3", mirror="true",
                                 code="500") >= before + 10,
            30, what="the mirror's failures recorded apart",
        )
        for dep in ("fraud-v1", "fraud-v2"):
            assert metric_value(engine, "switchboard_requests_total", deployment=dep, code="500") == 0
    finally:
        set_split(engine, {"fraud-v1": 90, "fraud-v2": 10})
        _apply_v3_env(engine, {"DEMO_ERROR_RATE": "0"})


def test_no_ready_replica_is_a_503_naming_the_deployment(engine: RunningEngine, data: httpx.Client) -> None:
    docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d and d["name"] == "fraud-v3"]
    docs[0].update(name="fraud-idle", replicas=0)
    with engine.client() as client:
        client.apply_yaml(yaml.safe_dump_all(docs), DEMO.parent)
        assert client.request("GET", "/v1/deployments/fraud-idle")["replicas_ready"] == 0
    resp = score(data, **{"x-deployment": "fraud-idle"})
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["deployment"] == "fraud-idle" and "fraud-idle" in resp.json()["error"]
    assert resp.headers["x-deployment"] == "fraud-idle"


def test_a_body_over_10_mib_is_413(engine: RunningEngine, data: httpx.Client) -> None:
    body = b'{"inputs": "' + b"x" * MAX_BODY + b'"}'
    resp = data.post("/endpoints/fraud/score", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert str(MAX_BODY) in resp.json()["error"]
    # A body just under the limit reaches the model, which explains what is wrong with it.
    under = b'{"inputs": "' + b"x" * (MAX_BODY - 100) + b'"}'
    resp = data.post("/endpoints/fraud/score", content=under, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "inputs" in resp.json()["error"]
    assert score(data).status_code == 200


def test_bad_input_is_the_models_400_not_a_router_error(engine: RunningEngine, data: httpx.Client) -> None:
    resp = score(data, [[1.0, 2.0]], **{"x-deployment": "fraud-v1"})
    assert resp.status_code == 400 and resp.headers["x-deployment"] == "fraud-v1"
    resp = data.post("/endpoints/fraud/score", content=b"not json", headers={"x-deployment": "fraud-v2"})
    assert resp.status_code == 400 and "not JSON" in resp.json()["error"]


def test_demo_traffic_command_scores_through_the_router(engine: RunningEngine) -> None:
    set_split(engine, {"fraud-v1": 90, "fraud-v2": 10})
    done = subprocess.run(
        [sys.executable, "-m", "console", "demo", "traffic", "--rps", "40", "--duration", "1",
         "--state-dir", str(engine.state_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    first, _, rest = done.stdout.partition("\n")
    assert "sending 40 requests/s to fraud" in first
    counts = json.loads(rest)
    assert counts["sent"] >= 20
    assert counts.get("status:200", 0) == counts["sent"] - counts.get("cancelled", 0)
    assert {k for k in counts if k.startswith("deployment:")} <= {"deployment:fraud-v1", "deployment:fraud-v2"}
