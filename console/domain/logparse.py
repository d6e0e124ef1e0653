"""What a log line says about itself: time, level and request id. Pure: no I/O, no clock.

Understood forms:

- JSON lines (one object a line): time from `time`, `timestamp`, `ts`, `@timestamp`, ...
  (ISO 8601 text, or epoch seconds / milliseconds / nanoseconds as a number), level from
  `level`, `severity`, `levelname`, ..., request id from `request_id`, `requestId`,
  `x-request-id`, `trace_id`, ...
- text lines that begin with an ISO 8601 time (`2026-11-22T00:30:52.123Z`, or
  `2026-11-22 00:30:52,123` as Python's logging writes it; optionally in [brackets]),
  with a level word (`ERROR`, `[warn]`, `level=info`, `I1122 ...` as klog writes it),
  and a request id (`request_id=...`, `x-request-id: ...`, the engine's `request <id> status`).
- the engine's log stream: `<ISO time> <source> <text>` (`split_engine_line`).

A time without a zone is read as UTC. Anything not understood is left unset, never guessed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

LEVELS = ("", "trace", "debug", "info", "warning", "error", "critical")  # index = level code; 0 = unknown
UNKNOWN, TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL = range(7)
_LEVEL_WORDS = {
    "trace": TRACE, "debug": DEBUG, "dbg": DEBUG, "info": INFO, "information": INFO, "notice": INFO,
    "warn": WARNING, "warning": WARNING, "error": ERROR, "err": ERROR, "fail": ERROR, "failed": ERROR,
    "critical": CRITICAL, "crit": CRITICAL, "fatal": CRITICAL, "panic": CRITICAL, "alert": CRITICAL,
    "emerg": CRITICAL, "emergency": CRITICAL,
}
_SYSLOG_SEVERITY = (CRITICAL, CRITICAL, CRITICAL, ERROR, WARNING, INFO, INFO, DEBUG)
_TIME_KEYS = ("time", "timestamp", "ts", "@timestamp", "t", "asctime", "date", "datetime", "time_iso")
_LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "log.level", "loglevel", "log_level", "severity_text")
_RID_KEYS = ("request_id", "requestId", "request-id", "req_id", "reqId", "rid", "x-request-id", "X-Request-Id",
             "x_request_id", "trace_id", "traceId", "correlation_id", "correlationId")

_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
_LEADING_TIME = re.compile(rf"\s*\[?({_ISO})\]?")
_ENGINE_LINE = re.compile(rf"({_ISO}) (\S+) ?(.*)\Z", re.DOTALL)
_LEVEL_KV = re.compile(r"(?:level|lvl|severity)\"?\s*[=:]\s*\"?([A-Za-z]+)", re.IGNORECASE)
_UPPER_WORDS = {w.upper(): c for w, c in _LEVEL_WORDS.items() if w not in ("fail", "failed", "information", "alert")}
_KLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d")
_KLOG_LEVELS = {"I": INFO, "W": WARNING, "E": ERROR, "F": CRITICAL}
_RID = re.compile(r"\b(?:x[-_])?(?:request|req|correlation|trace)[-_]?id\"?\s*[=:]\s*\"?([\w.:-]{4,128})",
                  re.IGNORECASE)
_ENGINE_REQUEST = re.compile(r"request ([\w.:-]{4,128}) status \d")
_LEVEL_SCAN = 160  # a level word is looked for this far into a text line


class LogEntry(NamedTuple):
    """One line as the viewer shows it: from a live source (text without its time and source)
    or from a file (the whole line)."""

    time: float | None  # seconds since the epoch
    source: str  # "fraud-v1/router", "fraud-v1/r1", a file's name
    level: int  # index into LEVELS
    request_id: str
    text: str


class Parsed(NamedTuple):
    time: float | None  # seconds since the epoch
    level: int  # index into LEVELS
    request_id: str


def level_code(word: object) -> int:
    """The level code of a word or number ("WARN", "Warning", "E", 40, "3" syslog); UNKNOWN if none."""
    if isinstance(word, bool):
        return UNKNOWN
    if isinstance(word, int | float):
        number = int(word)
        if 0 <= number <= 7:  # syslog severities
            return _SYSLOG_SEVERITY[number]
        if number >= 10:  # Python logging's numbers: 10 debug, 20 info, 30 warning, 40 error, 50 critical
            return min(CRITICAL, number // 10 + 1)
        return UNKNOWN
    text = str(word).strip().lower()
    if text.isdigit():
        return level_code(int(text))
    return _LEVEL_WORDS.get(text, _KLOG_LEVELS.get(text.upper(), UNKNOWN) if len(text) == 1 else UNKNOWN)


def parse_time(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 time (zone-less means UTC); None if it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(",", ".", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def epoch_of(value: object) -> float | None:
    """Epoch seconds from a JSON time value: ISO text, or seconds, milliseconds, micro- or nanoseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        for scale in (1.0, 1e3, 1e6, 1e9):
            if number / scale < 1e11:
                return number / scale
        return None
    if isinstance(value, str):
        if value.replace(".", "", 1).isdigit():
            return epoch_of(float(value))
        return parse_time(value)
    return None


def parse_json(obj: dict[str, Any]) -> Parsed:
    moment = next((t for t in (epoch_of(obj[k]) for k in _TIME_KEYS if k in obj) if t is not None), None)
    level = next((c for c in (level_code(obj[k]) for k in _LEVEL_KEYS if k in obj) if c), UNKNOWN)
    rid = next((str(obj[k]) for k in _RID_KEYS if obj.get(k) not in (None, "")), "")
    return Parsed(moment, level, rid)


def parse_text(text: str) -> Parsed:
    head = _LEADING_TIME.match(text)
    moment = parse_time(head.group(1)) if head else None
    return Parsed(moment, text_level(text), request_id_of(text))


def text_level(text: str) -> int:
    """A level word near the start: `level=warn`, klog's `E1122 ...`, `ERROR`, `[warn]`, `warning:`."""
    start = text[:_LEVEL_SCAN]
    low = start.lower()
    for key in ("level", "lvl", "severity"):
        at = low.find(key)
        if at >= 0:
            found = _LEVEL_KV.match(start, at)
            if found and level_code(found.group(1)):
                return level_code(found.group(1))
    klog = _KLOG.match(start)
    if klog:
        return _KLOG_LEVELS[klog.group(1)]
    for token in start.split():
        word = token.strip("[]():|,<>")
        code = _UPPER_WORDS.get(word)
        if code:
            return code
        if word != token and (token[0] == "[" or token[-1] == ":"):  # [warn], warning:
            code = _LEVEL_WORDS.get(word.lower(), UNKNOWN)
            if code:
                return code
    return UNKNOWN


def request_id_of(text: str) -> str:
    """`request_id=...`, `x-request-id: ...`, `"traceId": "..."`, or the engine's `request <id> status`."""
    found = _ENGINE_REQUEST.search(text)
    if found is None:
        low = text.lower()
        if "id" not in low:
            return ""
        found = _RID.search(text)
    return found.group(1).rstrip(".,:;") if found else ""


def parse_line(text: str) -> Parsed:
    """Time, level and request id of one line (JSON object or text)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None  # a JSON line cut short, or text in braces: read it as text
        if isinstance(obj, dict):
            return parse_json(obj)
    return parse_text(text)


def entry_of(text: str, source: str, time: float | None = None) -> LogEntry:
    """A LogEntry of `text`: its own time (or `time`), level and request id."""
    parsed = parse_line(text)
    return LogEntry(parsed.time if parsed.time is not None else time, source, parsed.level, parsed.request_id, text)


def split_engine_line(line: str) -> tuple[float | None, str, str]:
    """(time, source, text) of an engine log stream line `<ISO time> <source> <text>`."""
    found = _ENGINE_LINE.match(line)
    if not found:
        return None, "", line
    return parse_time(found.group(1)), found.group(2), found.group(3)


def format_time(epoch: float | None) -> str:
    """`2026-11-22 00:30:52.123` in UTC, or '' for None."""
    if epoch is None:
        return ""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
