"""Test scoring script: each request sleeps `sleep` seconds from its body (default 0), so a
request can be held in flight while a test disconnects its client or kills the replica."""

from __future__ import annotations

import time
from typing import Any


def init() -> None:
    pass


def run(data: Any) -> dict[str, Any]:
    seconds = float(data.get("sleep", 0))
    time.sleep(seconds)
    return {"outputs": [0.5 for _ in data.get("inputs", [])], "slept": seconds}
