"""The data plane's pure parts: request targets, answer heads, status lines, origins, the route
table's key check, the request metrics collector, the buffered request log and the sweep's
deadlines."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from console.engine.dataplane import parse_target, status_line
from console.engine.logs import LogHub, timestamp
from console.engine.router import Refusal, RouteTable
from console.engine.telemetry import Telemetry
from console.engine.upstream import CONTENT_LENGTH, CONTENT_TYPE, Call, Origin, UpstreamPool, header_in


@pytest.mark.parametrize(("url", "endpoint", "target"), [
    (b"/endpoints/fraud/score", "fraud", b"/score"),
    (b"/endpoints/fraud/score?debug=1&x=%2F", "fraud", b"/score?debug=1&x=%2F"),
    (b"/endpoints/fraud/", "fraud", b"/"),
    (b"/endpoints/fraud/v2/models/m%20x/infer", "fraud", b"/v2/models/m%20x/infer"),
    (b"/endpoints/%66raud/score", "fraud", b"/score"),
    (b"http://127.0.0.1:8080/endpoints/fraud/score?q=1", "fraud", b"/score?q=1"),
])
def test_request_targets_name_the_endpoint_and_keep_tail_and_query(url: bytes, endpoint: str, target: bytes) -> None:
    assert parse_target(url) == (endpoint, target)


@pytest.mark.parametrize(("url", "status"), [
    (b"/", 404), (b"/endpoints", 404), (b"/endpoints/", 404), (b"/endpoints/fraud", 404), (b"/endpoints//score", 404),
    (b"/metrics", 404), (b"/endpoints/fraud/../admin", 400), (b"/endpoints/fraud/a/%2E%2e/b", 400),
    (b"/endpoints/fraud/./score", 400),
])
def test_other_targets_are_refused(url: bytes, status: int) -> None:
    refused = parse_target(url)
    assert isinstance(refused, Refusal) and refused.status == status


def test_dots_inside_names_are_fine() -> None:
    assert parse_target(b"/endpoints/fraud/v1.2/score.json") == ("fraud", b"/v1.2/score.json")


def test_status_lines_answer_in_the_clients_version() -> None:
    assert status_line(200, False) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(413, True) == b"HTTP/1.0 413 Request Entity Too Large\r\n"
    assert status_line(599, False) == b"HTTP/1.1 599 \r\n"


def test_answer_heads_give_their_first_header_value() -> None:
    head = (b"HTTP/1.1 200 OK\r\nServer: x\r\nCONTENT-type:  text/Plain; a=b \r\nContent-Type: no\r\n"
            b"Content-Length: 2\r\n\r\nhi")
    assert header_in(head, CONTENT_TYPE) == b"text/Plain; a=b"
    assert header_in(head, CONTENT_LENGTH) == b"2"
    assert header_in(b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", CONTENT_TYPE) is None
    assert header_in(b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n", CONTENT_TYPE) == b"a/b"
    body_lookalike = b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nx\r\nContent-Type: not/a-header"
    assert header_in(body_lookalike, CONTENT_TYPE) is None


def test_interim_answers_are_skipped() -> None:
    head = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n")
    assert header_in(head, CONTENT_TYPE, skip=2) == b"a/b"


@pytest.mark.parametrize(("url", "fast", "key"), [
    ("http://127.0.0.1:8000", True, ("127.0.0.1", 8000)),
    ("http://localhost", True, ("localhost", 80)),
    ("http://[::1]:9000/base", True, ("::1", 9000)),
    ("https://models.example:8443", False, ("models.example", 8443)),
    ("http://user:secret@127.0.0.1:8000", False, ("127.0.0.1", 8000)),
])
def test_origins_say_which_path_serves_them(url: str, fast: bool, key: tuple[str, int]) -> None:
    origin = Origin(url)
    assert (origin.fast, origin.key) == (fast, key)


def test_an_origin_keeps_its_base_path_and_host_header() -> None:
    origin = Origin("http://[::1]:9000/base")
    assert origin.base_path == b"/base"
    assert origin.host_line == b" HTTP/1.1\r\nHost: [::1]:9000\r\n"


def test_the_route_table_key_check_is_the_whole_authorization_value() -> None:
    table = RouteTable.build("fraud", 1, "s3cret", {"a": 100}, {}, {"a"})
    assert table.bearer == b"Bearer s3cret"


def test_request_metrics_read_the_running_counts() -> None:
    telemetry = Telemetry()
    for seconds, status in ((0.002, 200), (0.002, 200), (0.3, 503)):
        telemetry.started("fraud", "a", False)
        telemetry.finished("fraud", "a", False, status, seconds)
    telemetry.started("fraud", "a", False)  # still in flight
    series = telemetry.series("fraud", "b", True)
    series.in_flight += 1
    telemetry.record(series, 200, 0.001)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(telemetry.metrics.registry).decode())}
    duration = families["switchboard_request_duration_seconds"]
    live = {s.labels.get("le"): s.value for s in duration.samples
            if s.labels["deployment"] == "a" and s.name.endswith("_bucket")}
    assert (live["0.001"], live["0.0025"], live["0.25"], live["0.5"], live["+Inf"]) == (0, 2, 2, 3, 3)
    counts = {(s.labels["deployment"], s.labels["mirror"], s.labels["code"]): s.value
              for s in families["switchboard_requests"].samples if s.name == "switchboard_requests_total"}
    assert counts == {("a", "false", "200"): 2, ("a", "false", "503"): 1, ("b", "true", "200"): 1}
    in_flight = {(s.labels["deployment"], s.labels["mirror"]): s.value
                 for s in families["switchboard_in_flight_requests"].samples}
    assert in_flight == {("a", "false"): 1, ("b", "true"): 0}


def test_log_lines_reach_tail_at_once_and_their_file_on_flush(tmp_path: Path) -> None:
    logs = LogHub(tmp_path)
    logs.write("a", "router", "request 1 status 200 1.0ms")
    logs.write("a", "a-1", "replica ready\n")
    assert [line.text for line in logs.tail("a", 10)] == ["request 1 status 200 1.0ms", "replica ready"]
    assert not (tmp_path / "a.log").exists() or (tmp_path / "a.log").read_text() == ""
    logs.flush()
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert [ln.split(" ", 1)[1] for ln in lines] == ["router request 1 status 200 1.0ms", "a-1 replica ready"]
    logs.write("a", "router", "request 2 status 503 0.5ms")
    logs.close()  # flushes what is left
    assert (tmp_path / "a.log").read_text().splitlines()[-1].endswith("router request 2 status 503 0.5ms")


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert timestamp(1763700000.1234) == "2025-11-21T04:40:00.123Z"
    assert timestamp(1763700001.0) == "2025-11-21T04:40:01.000Z"


def test_the_sweep_times_out_calls_past_their_deadlines() -> None:
    pool = UpstreamPool()
    answers: dict[str, tuple[int, str | None]] = {}

    def call(name: str, started: float, connecting: float = 0.0) -> Call:
        def done(status: int, content_type: bytes | None, body: bytes, error: str | None) -> None:
            answers[name] = (status, error)

        one = Call(Origin("http://127.0.0.1:9"), b"POST", b"/score", b"", b"{}", done, started)
        one.connecting = connecting
        pool._inflight.add(one)
        return one

    call("slow", started=100.0)
    call("connecting", started=155.0, connecting=155.0)
    call("fresh", started=159.0)
    pool.sweep(now=161.0)
    assert answers == {"slow": (504, "TimeoutError"), "connecting": (504, "TimeoutError")}
    assert pool.in_flight == 1
