"""Test scoring script: each request takes $SLOW_SECONDS (default 2) so drains can be observed."""

from __future__ import annotations

import os
import time
from typing import Any

_seconds = 2.0


def init() -> None:
    global _seconds
    _seconds = float(os.environ.get("SLOW_SECONDS", "2"))


def run(data: Any) -> dict[str, Any]:
    time.sleep(_seconds)
    return {"outputs": [0.5 for _ in data["inputs"]], "slept": _seconds}
