"""What a real engine tells about itself: deployment logs (tail and follow), the telemetry SSE
stream and Prometheus /metrics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import RunningEngine, running_demo, wait_until

pytestmark = pytest.mark.integration

ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (.+)$")
SAMPLE_FIELDS = {
    "time", "endpoint", "deployment", "mirror", "requests", "errors_4xx", "errors_5xx", "latency_ms",
    "in_flight", "replicas_ready", "replicas_desired", "cpu_percent", "rss_bytes", "gpus",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with running_demo(tmp_path_factory.mktemp("observability")) as running:
        yield running


@pytest.fixture(scope="module")
def control(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.token}"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=httpx.Timeout(30, read=10)) as client:
        yield client


@pytest.fixture(scope="module")
def data(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.key('fraud')}"}
    with httpx.Client(base_url=engine.data_url, headers=headers, timeout=30) as client:
        yield client


def score(data: httpx.Client, deployment: str, request_id: str | None = None, rows: Any = None) -> httpx.Response:
    headers = {"x-deployment": deployment}
    if request_id:
        headers["x-request-id"] = request_id
    return data.post("/endpoints/fraud/score", json={"inputs": rows or [ROW]}, headers=headers)


# -- logs ----------------------------------------------------------------------------------------


def test_logs_tail_has_replica_output_and_one_line_per_request(
    engine: RunningEngine, control: httpx.Client, data: httpx.Client
) -> None:
    request_id = f"tail-{uuid.uuid4().hex}"
    assert score(data, "fraud-v1", request_id).status_code == 200

    def request_line() -> str | None:
        text = control.get("/v1/deployments/fraud-v1/logs", params={"tail": 5000}).text
        return next((ln for ln in text.splitlines() if request_id in ln), None)

    line = wait_until(request_line, 30, what="the request's log line")
    match = LINE.match(line)
    assert match is not None and match.group(1) == "router"
    assert re.fullmatch(rf"request {request_id} status 200 \d+\.\dms", match.group(2)), line

    lines = control.get("/v1/deployments/fraud-v1/logs", params={"tail": 5000}).text.splitlines()
    assert all(LINE.match(ln) for ln in lines), [ln for ln in lines if not LINE.match(ln)]
    replicas = [r["id"] for r in control.get("/v1/deployments/fraud-v1").json()["replicas"]]
    for replica in replicas:
        assert any(re.search(rf" {replica} replica started, pid \d+$", ln) for ln in lines)
        assert any(ln.endswith(f" {replica} replica ready") for ln in lines)

    last3 = control.get("/v1/deployments/fraud-v1/logs", params={"tail": 3}).text.splitlines()
    assert len(last3) == 3
    only = control.get("/v1/deployments/fraud-v1/logs", params={"tail": 5000, "replica": replicas[0]}).text
    sources = {LINE.match(ln).group(1) for ln in only.splitlines()}  # type: ignore[union-attr]
    assert sources == {replicas[0]}
    assert control.get("/v1/deployments/fraud-v1/logs", params={"tail": 0}).text == ""
    assert control.get("/v1/deployments/fraud-v9/logs").status_code == 404
    assert control.get("/v1/deployments/fraud-v1/logs", params={"tail": -1}).status_code == 422

    cli = subprocess.run(
        [sys.executable, "-m", "console", "logs", "fraud-v1", "--tail", "4", "--state-dir", str(engine.state_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert cli.returncode == 0 and len(cli.stdout.splitlines()) == 4
    assert all(LINE.match(ln) for ln in cli.stdout.splitlines())


def test_logs_follow_streams_new_request_lines(control: httpx.Client, data: httpx.Client) -> None:
    request_ids = [f"follow-{uuid.uuid4().hex}" for _ in range(3)]
    params = {"tail": 1, "follow": "true"}
    with control.stream("GET", "/v1/deployments/fraud-v1/logs", params=params) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        lines = resp.iter_lines()
        first = next(lines)  # the tail line comes after the stream subscribed: nothing new can be missed
        assert LINE.match(first)
        for request_id in request_ids:
            assert score(data, "fraud-v1", request_id).status_code == 200
        seen: list[str] = []
        for line in lines:
            seen.append(line)
            if request_ids[-1] in line or len(seen) > 500:
                break
    found = [next((ln for ln in seen if rid in ln), None) for rid in request_ids]
    assert all(found), seen
    assert all(" router request " in ln and " status 200 " in ln for ln in found if ln)


# -- telemetry -----------------------------------------------------------------------------------


def read_samples(control: httpx.Client, history: float, enough: Callable[[list[dict[str, Any]], bool], bool],
                 max_lines: int = 5000) -> list[dict[str, Any]]:
    """Samples from the SSE stream (history first, then live) until `enough(samples, live)`."""
    samples: list[dict[str, Any]] = []
    live = False
    with control.stream("GET", "/v1/telemetry/stream", params={"history": history}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        event = ""
        for count, line in enumerate(resp.iter_lines()):
            if line == ": live":
                live = True
                if enough(samples, live):
                    return samples
            elif line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert event == "sample"
                samples.append({**json.loads(line.removeprefix("data: ")), "_live": live})
                if enough(samples, live):
                    return samples
            if count >= max_lines:
                break
    raise AssertionError(f"the stream ended or ran long without what was wanted: {samples[-5:]}")


def test_telemetry_stream_counts_every_request_with_latency_quantiles(
    control: httpx.Client, data: httpx.Client
) -> None:
    for _ in range(20):
        assert score(data, "fraud-v2").status_code == 200
    for _ in range(2):
        assert score(data, "fraud-v2", rows=[[1.0]]).status_code == 400

    def v2(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [s for s in samples if s["deployment"] == "fraud-v2" and not s["mirror"]]

    def all_counted() -> list[dict[str, Any]] | None:
        # Every second since the engine started is in the history; once the last window with
        # these requests has closed, the counts add up exactly.
        samples = read_samples(control, 3600, lambda _, live: live)
        return samples if sum(s["requests"] for s in v2(samples)) == 22 else None

    samples = wait_until(all_counted, 30, interval=0.5, what="22 fraud-v2 requests in the telemetry history")
    assert sum(s["errors_4xx"] for s in v2(samples)) == 2
    assert sum(s["errors_5xx"] for s in v2(samples)) == 0
    busy = [s for s in v2(samples) if s["requests"]]
    for sample in samples:
        assert set(sample) - {"_live"} == SAMPLE_FIELDS
        assert sample["endpoint"] == "fraud"
        assert sample["gpus"] is None or isinstance(sample["gpus"], list)
    for sample in busy:
        latency = sample["latency_ms"]
        assert set(latency) == {"p50", "p90", "p95", "p99"}
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]
        assert sample["replicas_ready"] == sample["replicas_desired"] == 1
        assert sample["rss_bytes"] > 0 and sample["cpu_percent"] >= 0
    idle = [s for s in samples if s["deployment"] == "fraud-v3"]
    assert idle and all(s["requests"] == 0 for s in idle)
    assert all(s["latency_ms"] == {"p50": None, "p90": None, "p95": None, "p99": None} for s in idle)
    times = [s["time"] for s in v2(samples)]
    assert times == sorted(times) and len(set(times)) == len(times), "one sample per second per deployment"


def test_telemetry_stream_delivers_live_samples(control: httpx.Client) -> None:
    samples = read_samples(control, 0, lambda got, live: live and {s["deployment"] for s in got} >= {
        "fraud-v1", "fraud-v2", "fraud-v3"})
    assert all(s["_live"] for s in samples)
    assert {s["deployment"]: s["replicas_desired"] for s in samples} == {"fraud-v1": 2, "fraud-v2": 1, "fraud-v3": 1}


# -- metrics -------------------------------------------------------------------------------------


def families(control: httpx.Client) -> dict[str, Any]:
    resp = control.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def test_metrics_parse_and_hold_a_request_duration_histogram(control: httpx.Client, data: httpx.Client) -> None:
    before = families(control)

    def count(fams: dict[str, Any], deployment: str) -> float:
        family = fams.get("switchboard_request_duration_seconds")
        if family is None:
            return 0.0
        return sum(s.value for s in family.samples if s.name.endswith("_count")
                   and s.labels["deployment"] == deployment and s.labels["mirror"] == "false")

    for _ in range(7):
        assert score(data, "fraud-v3").status_code == 200
    fams = families(control)
    assert count(fams, "fraud-v3") == count(before, "fraud-v3") + 7
    duration = fams["switchboard_request_duration_seconds"]
    assert duration.type == "histogram"
    labelled = [s for s in duration.samples if s.labels.get("deployment") == "fraud-v3"]
    assert labelled and all(s.labels["endpoint"] == "fraud" for s in labelled)
    buckets = [s for s in labelled if s.name.endswith("_bucket") and s.labels["mirror"] == "false"]
    values = [s.value for s in sorted(buckets, key=lambda s: float(s.labels["le"]))]
    assert "+Inf" in {s.labels["le"] for s in buckets}
    assert values == sorted(values), "histogram buckets are cumulative"
    assert values[-1] == count(fams, "fraud-v3")
    codes = {s.labels["code"]: s.value for s in fams["switchboard_requests"].samples
             if s.name == "switchboard_requests_total" and s.labels["deployment"] == "fraud-v3"}
    assert codes["200"] >= 7

    def gauges() -> bool:
        fams = families(control)
        ready = {s.labels["deployment"]: s.value for s in fams["switchboard_replicas_ready"].samples}
        weight = {s.labels["deployment"]: s.value for s in fams["switchboard_traffic_weight"].samples}
        return ready == {"fraud-v1": 2, "fraud-v2": 1, "fraud-v3": 1} and weight == {
            "fraud-v1": 90, "fraud-v2": 10, "fraud-v3": 0}

    wait_until(gauges, 30, what="replica and weight gauges")
