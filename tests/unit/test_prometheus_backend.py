"""The Prometheus place without a server: PromQL built from the mapping, answers and error
bodies decoded (httpx.MockTransport), inventory and samples mapped, history then increments."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from console.backends.base import Invalid, PlaceKind, Unauthorized, Unreachable
from console.backends.places import PlaceConfig
from console.backends.prometheus import PrometheusBackend
from console.backends.promql import PromMapping, choose_step, selector_problems

URL = "http://prom.test:9090"
Handler = Callable[[httpx.Request], httpx.Response]


def backend(handler: Handler, clock: float = 1000.0, max_bytes: int = 1 << 20, **config: Any) -> PrometheusBackend:
    place = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="prom", url=URL, **config)
    return PrometheusBackend(place, secret={"ref": "s3cret"}.get, transport=httpx.MockTransport(handler),
                             max_bytes=max_bytes, clock=lambda: clock)


def ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


def vector(*series: tuple[dict[str, str], float | str]) -> httpx.Response:
    return ok({"resultType": "vector", "result": [{"metric": m, "value": [1000, str(v)]} for m, v in series]})


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> httpx.Response:
    return ok({"resultType": "matrix",
               "result": [{"metric": m, "values": [[t, v] for t, v in points]} for m, points in series]})


# ---------------------------------------------------------------- the mapping and its PromQL


def test_default_queries_match_the_engine_metrics() -> None:
    queries = PromMapping().telemetry_queries(step=5)
    assert queries["requests"] == "sum by (endpoint, deployment, mirror) (rate(switchboard_requests_total{}[60s]))"
    assert queries["errors_5xx"] == ('sum by (endpoint, deployment, mirror) '
                                     '(rate(switchboard_requests_total{code=~"5.."}[60s]))')
    assert queries["p95"] == ("histogram_quantile(0.95, sum by (le, endpoint, deployment, mirror) "
                              "(rate(switchboard_request_duration_seconds_bucket{}[60s])))")
    assert queries["replicas_ready"] == "max by (endpoint, deployment) (switchboard_replicas_ready{})"
    assert set(queries) == {"requests", "errors_4xx", "errors_5xx", "in_flight", "replicas_ready",
                            "replicas_desired", "p50", "p90", "p95", "p99"}


def test_mapped_labels_selector_and_metric_names_are_used() -> None:
    mapping = PromMapping(endpoint_label="service", deployment_label="app", selector='{namespace="prod", job!~"x|y"}',
                          duration_metric="http_server_duration_seconds", requests_metric="http_requests_total",
                          code_label="status", rate_window_s=30)
    queries = mapping.telemetry_queries(step=120)  # a step longer than the window widens it
    assert queries["errors_4xx"] == ('sum by (service, app, mirror) (rate(http_requests_total'
                                     '{namespace="prod", job!~"x|y", status=~"4.."}[120s]))')
    assert queries["p99"].startswith("histogram_quantile(0.99, sum by (le, service, app, mirror) "
                                     '(rate(http_server_duration_seconds_bucket{namespace="prod", job!~"x|y"}[120s]')
    assert mapping.discovery_query() == (
        'count by (service, app) ({namespace="prod", job!~"x|y", __name__=~"http_server_duration_seconds_bucket|'
        'http_requests_total|switchboard_replicas_desired|switchboard_traffic_weight"})')
    assert PromMapping(selector='job="a"').matchers() == '{job="a"}'  # braces are optional


@pytest.mark.parametrize(("field", "value", "said"), [
    ("endpoint_label", "app.kubernetes.io/name", "is not a label name"),
    ("deployment_label", "__name__", "is not a label name"),
    ("code_label", "9code", "is not a label name"),
    ("duration_metric", "latency-seconds", "is not a metric name"),
    ("selector", '{job="a"', "unbalanced braces"),
    ("selector", "{job=a}", 'expected label="value"'),
    ("selector", '{job="a" env="b"}', "expected a comma"),
])
def test_bad_mapping_is_refused_with_the_reason(field: str, value: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        PromMapping(**{field: value})  # type: ignore[arg-type]


def test_selector_grammar_accepts_what_prometheus_accepts() -> None:
    for good in ("", "{}", '{job="a"}', "job='a'", r'{a=~"x\"y", b!="", c!~"z.*",}'):
        assert selector_problems(good) == [], good


def test_step_keeps_range_reads_bounded() -> None:
    assert choose_step(60, 5) == 5
    assert choose_step(3600, 5) == 6  # 600 points for an hour
    assert 3600 * 24 / choose_step(3600 * 24, 5) <= 900


# ---------------------------------------------------------------- HTTP: answers and errors


def test_error_bodies_become_typed_errors_with_the_servers_words() -> None:
    said = "1:10: parse error: unexpected character inside braces: '}'"
    answers = {
        "bad": httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": said}),
        "exec": httpx.Response(422, json={"status": "error", "errorType": "execution", "error": "too many samples"}),
        "slow": httpx.Response(503, json={"status": "error", "errorType": "timeout", "error": "query timed out"}),
        "proxy": httpx.Response(502, text="<html>Bad Gateway</html>"),
        "login": httpx.Response(401, text="Unauthorized\n"),
        "html": httpx.Response(200, text="<html>Grafana</html>", headers={"content-type": "text/html"}),
    }
    with backend(lambda request: answers[request.url.params["query"]]) as prom:
        with pytest.raises(Invalid) as bad:
            prom.query("bad")
        assert str(bad.value) == f"{URL}/api/v1/query: Prometheus refused the query (bad_data): {said}"
        assert bad.value.detail == "bad"
        with pytest.raises(Invalid, match=r"could not run the query \(execution\): too many samples$"):
            prom.query("exec")
        with pytest.raises(Unreachable) as slow:
            prom.query("slow")
        assert slow.value.kind == "timeout"
        assert str(slow.value).endswith("gave up on the query (timeout): query timed out")
        with pytest.raises(Unreachable, match=r"HTTP 502: <html>Bad Gateway</html>$"):
            prom.query("proxy")
        with pytest.raises(Unauthorized) as refused:
            prom.query("login")
        assert str(refused.value) == f"{URL}/api/v1/query: HTTP 401: Unauthorized (token missing or refused)"
        with pytest.raises(Unreachable, match=r"HTTP 200 but not a Prometheus API answer \(text/html\)$"):
            prom.query("html")


def test_an_oversized_answer_is_refused_while_reading() -> None:
    big = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [], "pad": "x" * 5000}})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([big.encode()[i:i + 1000] for i in range(0, len(big), 1000)]))

    with backend(handler, max_bytes=4096) as prom, pytest.raises(Invalid) as raised:
        prom.query("up")
    assert str(raised.value) == (f"{URL}/api/v1/query: the answer is larger than 0.00390625 MiB: narrow the "
                                 f"selector or the time span")


def test_bearer_token_is_sent_and_read_again_after_a_401() -> None:
    seen: list[str | None] = []
    secrets = {"ref": "old"}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return vector() if request.headers.get("authorization") == "Bearer new" else httpx.Response(401, text="no")

    place = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="p", url=URL, auth="bearer", secret_ref="ref")
    with PrometheusBackend(place, secret=secrets.get, transport=httpx.MockTransport(handler)) as prom:
        with pytest.raises(Unauthorized):
            prom.query("up")
        secrets["ref"] = "new"
        assert prom.query("up") == []
    assert seen == ["Bearer old", "Bearer new"]


# ---------------------------------------------------------------- inventory


def test_inventory_maps_label_values_to_endpoints_and_deployments() -> None:
    v1, v2 = {"endpoint": "fraud", "deployment": "v1"}, {"endpoint": "fraud", "deployment": "v2"}

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        if query.startswith("count by"):
            return vector((v1, 4), (v2, 4),
                          ({"endpoint": "chat", "deployment": "llm"}, 2), ({"deployment": "lonely"}, 1),
                          ({"endpoint": "fraud"}, 1))  # no deployment label: not a deployment
        if "rate(" in query:
            return vector((v1, 12.5))
        if "replicas_ready" in query:
            return vector((v1, 2), (v2, 0))
        if "replicas_desired" in query:
            return vector((v1, 2), (v2, 1))
        if "traffic_weight" in query:
            return vector((v1, 90), (v2, 10),
                          ({"endpoint": "chat", "deployment": "other"}, 100))
        raise AssertionError(query)

    with backend(handler) as prom:
        snapshot = prom.inventory()
    chat, fraud = snapshot.endpoints
    assert (fraud.name, fraud.traffic, [d.name for d in fraud.deployments]) == ("fraud", {"v1": 90, "v2": 10},
                                                                                 ["v1", "v2"])
    first, second = fraud.deployments
    assert (first.state.value, first.replicas_ready, first.replicas_desired) == ("Ready", 2, 2)
    assert first.reason == "seen by Prometheus: 12.5 req/s over 5 m"
    assert second.state.value == "Failed"
    assert second.reason == "seen by Prometheus: no requests in 5 m · no ready replica"
    # chat's one deployment reports no weight: its split is unknown, not invented.
    assert chat.traffic == {} and chat.deployments[0].reason.endswith("readiness not reported to Prometheus")
    assert [o.name for o in snapshot.orphans] == ["lonely"]
    assert snapshot.read_at == 1000.0


# ---------------------------------------------------------------- telemetry


def telemetry_handler(asked: list[dict[str, str]]) -> Handler:
    v1 = {"endpoint": "fraud", "deployment": "v1", "mirror": "false"}
    v3 = {"endpoint": "fraud", "deployment": "v3", "mirror": "true"}

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        assert request.url.path == "/api/v1/query_range"
        query = params["query"]
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        times = [start + i * step for i in range(int((end - start) / step) + 1)]
        if query.startswith("histogram_quantile(0.95"):
            return matrix((v1, [(t, "0.0042") for t in times]), (v3, [(t, "NaN") for t in times]))
        if 'code=~"5.."' in query:
            return matrix((v1, [(t, "0.5") for t in times]))
        if 'code=~"4.."' in query:
            return matrix()
        if query.startswith("sum by") and "requests_total" in query:
            return matrix((v1, [(t, "10") for t in times]), (v3, [(t, "2") for t in times]))
        if "replicas_ready" in query:
            return matrix(({"endpoint": "fraud", "deployment": "v1"}, [(t, "2") for t in times]))
        return matrix()

    return handler


def test_first_read_brings_history_then_only_new_points() -> None:
    asked: list[dict[str, str]] = []
    now = [3600.0 * 500 + 2.5]
    place = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="prom", url=URL)
    with PrometheusBackend(place, transport=httpx.MockTransport(telemetry_handler(asked)),
                           clock=lambda: now[0]) as prom:
        first = prom.telemetry(history_s=3600)
        end = 3600.0 * 500
        assert first.history and {a["step"] for a in asked} == {"6"}  # 600 points for the hour
        assert {(a["start"], a["end"]) for a in asked} == {(f"{end - 3600:.3f}", f"{end:.3f}")}
        v1 = [s for s in first.samples if s.deployment == "v1"]
        assert len(v1) == 601 and v1[-1].time == end and {s.interval_s for s in v1} == {6.0}
        sample = v1[-1]
        assert (sample.requests, sample.errors_4xx, sample.errors_5xx) == (60.0, 0.0, 3.0)  # rates times the step
        assert sample.latency_ms["p95"] == 4.2 and sample.replicas_ready == 2 and not sample.mirror
        shadow = next(s for s in first.samples if s.deployment == "v3")
        assert shadow.mirror and shadow.latency_ms["p95"] is None and shadow.replicas_ready is None

        asked.clear()
        now[0] += 2.0  # the same 5 s period: nothing new yet, and nothing asked
        assert prom.telemetry().samples == () and asked == []
        now[0] += 11.0
        later = prom.telemetry()
        assert not later.history and {a["step"] for a in asked} == {"5"}
        assert sorted({s.time for s in later.samples}) == [end + 5, end + 10, end + 15]
        assert {s.interval_s for s in later.samples} == {5.0}


def test_a_long_absence_is_caught_up_for_an_hour_and_the_rest_named_a_gap() -> None:
    asked: list[dict[str, str]] = []
    now = [10_000.0]
    place = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="prom", url=URL)
    with PrometheusBackend(place, transport=httpx.MockTransport(telemetry_handler(asked)),
                           clock=lambda: now[0]) as prom:
        assert not prom.telemetry().history  # no history asked: the latest point only
        assert {(a["start"], a["end"]) for a in asked} == {("10000.000", "10000.000")}
        now[0] += 3 * 3600  # e.g. a suspended laptop
        batch = prom.telemetry()
        assert (batch.gap_from, batch.gap_to) == (10_000.0, 10_000.0 + 2 * 3600)
        assert min(s.time for s in batch.samples) == 10_000.0 + 2 * 3600


def test_a_failed_read_is_fetched_again_by_the_next() -> None:
    asked: list[dict[str, str]] = []
    healthy = telemetry_handler(asked)
    down = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        if down[0]:
            raise httpx.ConnectError("refused", request=request)
        return healthy(request)

    now = [100.0]
    place = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="prom", url=URL)
    with PrometheusBackend(place, transport=httpx.MockTransport(handler), clock=lambda: now[0]) as prom:
        down[0] = False
        prom.telemetry()
        down[0] = True
        now[0] = 110.0
        with pytest.raises(Unreachable):
            prom.telemetry()
        down[0] = False
        now[0] = 120.0
        assert sorted({s.time for s in prom.telemetry().samples}) == [105.0, 110.0, 115.0, 120.0]
