"""The console's own audit log (cluster actions): hash-chained, appended in turn, never rewritten."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from console.backends.audit_log import AuditLogError, ConsoleAuditLog


def _add(log: ConsoleAuditLog, n: int, place: str = "kind-prod") -> None:
    log.append(actor="alice", action="kubernetes.traffic-shift", place=place, target="HTTPRoute ml/iris",
               before={"v1": 100, "v2": 0}, after={"v1": 75, "v2": 25}, outcome="accepted", reason=f"step {n}",
               endpoint="ml/iris")


def test_events_keep_place_object_before_and_after(tmp_path: Path) -> None:
    log = ConsoleAuditLog(tmp_path / "audit.jsonl")
    _add(log, 1)
    _add(log, 2, place="other")
    events = log.events(place="kind-prod")
    assert [(e.seq, e.place, e.target, e.before, e.after, e.reason) for e in events] == [
        (1, "kind-prod", "HTTPRoute ml/iris", {"v1": 100, "v2": 0}, {"v1": 75, "v2": 25}, "step 1")]
    assert [e.seq for e in log.events(since=1)] == [2]
    assert log.verify() is None


def test_an_edited_event_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = ConsoleAuditLog(path)
    for n in range(3):
        _add(log, n)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["after"] = {"v1": 0, "v2": 100}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    broken = log.verify()
    assert broken is not None and broken[0] == 2 and "edited" in broken[1]


def test_a_cut_line_stops_appending_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = ConsoleAuditLog(path)
    _add(log, 1)
    path.write_text(path.read_text() + '{"seq": 2, "ti')
    before = path.read_text()
    with pytest.raises(AuditLogError, match="line 2 is not JSON"):
        _add(log, 2)
    assert path.read_text() == before


def test_two_consoles_append_in_turn(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first, second = ConsoleAuditLog(path), ConsoleAuditLog(path)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: _add(first if n % 2 else second, n), range(40)))
    assert [e.seq for e in first.events()] == list(range(1, 41))
    assert first.verify() is None
