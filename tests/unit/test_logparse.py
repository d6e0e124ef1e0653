"""Times, levels and request ids read from the log lines people actually have."""

from __future__ import annotations

import pytest

from console.domain.logparse import (
    CRITICAL,
    DEBUG,
    ERROR,
    INFO,
    UNKNOWN,
    WARNING,
    entry_of,
    format_time,
    level_code,
    parse_line,
    split_engine_line,
)

T = 1795307452.123  # 2026-11-22T00:30:52.123Z


@pytest.mark.parametrize(("line", "time", "level", "rid"), [
    ('{"ts": "2026-11-22T00:30:52.123Z", "level": "warn", "msg": "slow", "request_id": "abc-123"}', T, WARNING,
     "abc-123"),
    ('{"time": 1795307452123, "severity": "ERROR", "traceId": "t-77"}', T, ERROR, "t-77"),
    ('{"@timestamp": 1795307452.123, "levelname": "CRITICAL"}', T, CRITICAL, ""),
    ('{"timestamp": "2026-11-22 00:30:52,123", "level": 20}', T, INFO, ""),
    ("2026-11-22 00:30:52,123 - app - ERROR - boom", T, ERROR, ""),
    ("2026-11-22T00:30:52.123Z DEBUG request_id=req-9 starting", T, DEBUG, "req-9"),
    ("[2026-11-22 00:30:52.123] [warn] x-request-id: deadbeef1 slow", T, WARNING, "deadbeef1"),
    ("2026-11-22T01:30:52.123+01:00 level=info msg=hi", T, INFO, ""),
    ("E1122 00:30:52.123456 1 main.go] failed", None, ERROR, ""),
    ("request 3fa9c2d1e0 status 200 1.2ms", None, UNKNOWN, "3fa9c2d1e0"),
    ("plain words with no level and more info here", None, UNKNOWN, ""),
])
def test_understood_forms(line, time, level, rid):
    parsed = parse_line(line)
    assert parsed.time == pytest.approx(time) if time is not None else parsed.time is None
    assert (parsed.level, parsed.request_id) == (level, rid)


def test_a_json_line_cut_short_is_read_as_text():
    parsed = parse_line('{"level": "error", "msg": "cut')
    assert parsed.level == ERROR  # found by the text reading of level: error
    assert parsed.time is None


def test_engine_stream_lines_split_into_time_source_text():
    moment, source, text = split_engine_line("2026-11-22T00:30:52.123Z r-fraud-v1-1 replica ready")
    assert (moment, source, text) == (pytest.approx(T), "r-fraud-v1-1", "replica ready")
    assert split_engine_line("no time here") == (None, "", "no time here")


def test_levels_from_numbers_and_words():
    assert [level_code(x) for x in (10, 20, 30, 40, 50, 3, "4", "Warning", "fatal", True, None)] == [
        DEBUG, INFO, WARNING, ERROR, CRITICAL, ERROR, WARNING, WARNING, CRITICAL, UNKNOWN, UNKNOWN]


def test_entry_takes_the_lines_own_time_before_the_given_one():
    assert entry_of("2026-11-22T00:30:52.123Z ERROR x", "src", 5.0).time == pytest.approx(T)
    entry = entry_of("no time", "src", 5.0)
    assert (entry.time, entry.source) == (5.0, "src")
    assert format_time(T) == "2026-11-22 00:30:52.123" and format_time(None) == ""
