"""The engine's pure parts: route tables, If-Match parsing, loopback checks, telemetry windows."""

from __future__ import annotations

import pytest

from console.engine.core import EngineError, parse_if_match
from console.engine.main import EngineStartError, check_loopback
from console.engine.router import RouteTable
from console.engine.telemetry import Telemetry


def table(traffic: dict[str, int], mirror: dict[str, int] | None = None) -> RouteTable:
    return RouteTable.build("fraud", 3, "key", traffic, mirror or {}, set(traffic))


def test_route_table_splits_the_roll_range_by_weight() -> None:
    t = table({"a": 90, "b": 10, "c": 0})
    assert t.names == ("a", "b")
    assert [t.choose(r) for r in (0.0, 89.99, 90.0, 99.999)] == ["a", "a", "b", "b"]


def test_route_table_with_no_live_weight_chooses_nothing() -> None:
    assert table({"a": 0}).choose(50.0) is None


def test_route_table_drops_zero_mirrors() -> None:
    assert table({"a": 100}, {"b": 0, "c": 20}).mirror == (("c", 20),)


@pytest.mark.parametrize("value, expected", [("7", 7), ('"7"', 7), ('W/"12"', 12)])
def test_if_match_accepts_plain_and_quoted_revisions(value: str, expected: int) -> None:
    assert parse_if_match(value) == expected


@pytest.mark.parametrize("value, status", [(None, 428), ("", 428), ("abc", 400), ("-1", 400)])
def test_if_match_refuses_missing_and_malformed(value: str | None, status: int) -> None:
    with pytest.raises(EngineError) as info:
        parse_if_match(value)
    assert info.value.status == status


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.1", "::", "example.com"])
def test_only_loopback_may_be_bound(host: str) -> None:
    with pytest.raises(EngineStartError, match="loopback"):
        check_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_addresses_are_accepted(host: str) -> None:
    assert check_loopback(host)


def test_telemetry_window_reports_counts_and_percentiles_then_resets() -> None:
    telemetry = Telemetry()
    for ms in range(1, 101):
        telemetry.started("fraud", "a", False)
        telemetry.finished("fraud", "a", False, 200 if ms <= 95 else 503, ms / 1000)
    telemetry.started("fraud", "b", True)
    telemetry.finished("fraud", "b", True, 404, 0.002)
    samples = telemetry.tick([("fraud", "a"), ("fraud", "b")], now=1000.0)
    by_key = {(s["deployment"], s["mirror"]): s for s in samples}
    live = by_key[("a", False)]
    assert (live["requests"], live["errors_5xx"], live["errors_4xx"]) == (100, 5, 0)
    assert 49 <= live["latency_ms"]["p50"] <= 51
    assert 97 <= live["latency_ms"]["p99"] <= 101
    assert by_key[("b", True)]["errors_4xx"] == 1
    assert by_key[("b", False)]["requests"] == 0 and by_key[("b", False)]["latency_ms"]["p50"] is None
    again = telemetry.tick([("fraud", "a")], now=1001.0)
    assert [s["requests"] for s in again] == [0]
    assert len(telemetry.recent(1.5, now=1001.0)) == len(samples) + 1
