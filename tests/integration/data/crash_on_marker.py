"""Test scoring script: crashes the whole replica process on a request while a marker file exists.

$CRASH_MARKER names the file. The script removes it before exiting with code 17, so exactly one
request crashes the replica and the restarted replica serves normally.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

CRASH_EXIT_CODE = 17


def init() -> None:
    pass


def run(data: Any) -> dict[str, Any]:
    marker = Path(os.environ["CRASH_MARKER"])
    if marker.exists():
        marker.unlink()
        print(f"crash marker {marker} found: exiting with {CRASH_EXIT_CODE}", file=sys.stderr, flush=True)
        os._exit(CRASH_EXIT_CODE)
    return {"outputs": [0.5 for _ in data["inputs"]]}
