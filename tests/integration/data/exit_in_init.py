"""Test scoring script: the replica process exits with code 3 while starting, every time."""

from __future__ import annotations

import sys
from typing import Any


def init() -> None:
    print("exit_in_init: giving up during init", file=sys.stderr, flush=True)
    sys.exit(3)


def run(data: Any) -> Any:  # never reached
    return data
