"""The audit hash chain (console/domain/audit.py): any edit, removal or reordering is found."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from console.domain.audit import GENESIS, HASHED_FIELDS, event_hash, first_broken


def chain(count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    previous = GENESIS
    for seq in range(1, count + 1):
        event: dict[str, Any] = {
            "seq": seq, "time": f"2026-01-01T00:00:{seq:02d}+00:00", "actor": "alice@host",
            "action": "traffic.shift", "endpoint": "fraud", "deployment": None,
            "before": {"revision": seq, "traffic": {"a": 90, "b": 10}},
            "after": {"revision": seq + 1, "traffic": {"a": 80, "b": 20}},
            "reason": f"step {seq}", "outcome": "ok", "prev_hash": previous,
        }
        event["hash"] = event_hash(event)
        previous = event["hash"]
        events.append(event)
    return events


def test_an_intact_chain_verifies() -> None:
    assert first_broken(chain(5)) is None
    assert first_broken([]) is None


def test_the_hash_is_deterministic_and_independent_of_key_order() -> None:
    event = chain(1)[0]
    shuffled = dict(reversed(list(event.items())))
    assert event_hash(shuffled) == event_hash(event)
    assert len(event_hash(event)) == 64
    # The stored hash itself is not part of what is hashed.
    assert event_hash({**event, "hash": "x"}) == event_hash(event)


@pytest.mark.parametrize("field", [f for f in HASHED_FIELDS if f not in ("seq", "prev_hash")])
def test_editing_any_hashed_field_breaks_that_event(field: str) -> None:
    events = chain(4)
    events[2][field] = {"edited": True} if field in ("before", "after") else "edited"
    broken = first_broken(events)
    assert broken is not None
    assert broken[0] == 3
    assert "do not match its hash" in broken[1]


def test_a_nested_edit_is_found() -> None:
    events = chain(3)
    events[1]["after"]["traffic"]["a"] = 100
    assert first_broken(events) == (2, "its contents do not match its hash (edited after it was written)")


def test_rehashing_an_edited_event_breaks_the_next_one() -> None:
    events = chain(4)
    events[1]["reason"] = "covered up"
    events[1]["hash"] = event_hash(events[1])
    broken = first_broken(events)
    assert broken is not None and broken[0] == 3
    assert "prev_hash" in broken[1]


def test_a_removed_event_is_found() -> None:
    events = chain(5)
    del events[2]
    broken = first_broken(events)
    assert broken is not None and broken[0] == 4
    assert "events missing" in broken[1]


def test_a_removed_first_event_is_found() -> None:
    events = chain(3)[1:]
    broken = first_broken(events)
    assert broken is not None and broken[0] == 2


def test_reordered_events_are_found() -> None:
    events = chain(4)
    events[1], events[2] = events[2], events[1]
    broken = first_broken(events)
    assert broken is not None and broken[0] == 3


def test_first_broken_does_not_modify_its_input() -> None:
    events = chain(3)
    before = copy.deepcopy(events)
    first_broken(events)
    assert events == before
