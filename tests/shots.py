"""Screenshots under Xvfb, shared by the screenshot tests: each test file renders its PNGs in a subprocess
(`python TEST_FILE --shots DIR`, on the xcb platform, so fonts and window decorations are real), and the test
checks they were written, keeps them in tests/artifacts/, and with SWITCHBOARD_UPDATE_SCREENSHOTS=1 replaces
the README's copies in resources/screenshots/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPDATE = "SWITCHBOARD_UPDATE_SCREENSHOTS"


def display_command() -> list[str]:
    """What runs the renderer on a display: nothing when one is set, else xvfb-run (skip without either)."""
    if os.environ.get("DISPLAY"):
        return []
    if shutil.which("xvfb-run"):
        return ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    pytest.skip("no X display and no xvfb-run")


def render_in_subprocess(test_file: str, out: Path, *names: str, timeout_s: float = 110, min_bytes: int = 10_000,
                         env: dict[str, str] | None = None) -> None:
    """Run `test_file --shots out` (with `env` added to the environment); every PNG named must be written and
    look like a picture (more than `min_bytes`)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [*display_command(), sys.executable, str(Path(test_file).resolve()), "--shots", str(out)]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in names:
        shot = out / name
        assert shot.stat().st_size > min_bytes, f"{name} is too small to be a screenshot"
        artifact = ROOT / "tests" / "artifacts" / name
        artifact.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, artifact)
        if os.environ.get(UPDATE) == "1":
            shutil.copyfile(shot, ROOT / "resources" / "screenshots" / name)


def pump(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """In a renderer (no pytest-qt there): process Qt events until `condition()` holds; TimeoutError after
    `timeout` seconds."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {condition}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
