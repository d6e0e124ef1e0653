"""The audit log's hash chain: each event carries the hash of the one before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq", "time", "actor", "action", "endpoint", "deployment",
    "before", "after", "reason", "outcome", "prev_hash",
)


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the event's fields (its own hash excluded)."""
    body = {key: event.get(key) for key in HASHED_FIELDS}
    for optional in ("identity", "place", "target"):  # absent fields hash as events written before them did
        if event.get(optional) is not None:
            body[optional] = event[optional]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def first_broken(events: Iterable[Mapping[str, Any]]) -> tuple[int, str] | None:
    """(seq, why) of the first event that breaks the chain, or None if it is whole."""
    previous = GENESIS
    expected_seq: int | None = None
    for event in events:
        seq = int(event["seq"])
        if expected_seq is not None and seq != expected_seq:
            return seq, f"sequence jumps from {expected_seq - 1} to {seq} (events missing)"
        if event["prev_hash"] != previous:
            return seq, "prev_hash does not match the hash of the event before it"
        if event_hash(event) != event["hash"]:
            return seq, "its contents do not match its hash (edited after it was written)"
        previous = str(event["hash"])
        expected_seq = seq + 1
    return None
