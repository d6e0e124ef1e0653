"""Test scoring script: answers one 0.5 per row and the value of $FLAVOUR in the replica.

Used to see which environment a replica really runs with (an env change must restart it).
"""

from __future__ import annotations

import os
from typing import Any


def init() -> None:
    pass


def run(data: Any) -> dict[str, Any]:
    rows = data["inputs"]
    return {"outputs": [0.5 for _ in rows], "flavour": os.environ.get("FLAVOUR", ""), "pid": os.getpid()}
