"""Find or start the local engine, apply the demo, run demo traffic.

The engine is started detached (its own session, not our child: it keeps serving when
the console quits). Demo traffic is our child and stops when the console quits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import platformdirs

import console
from console.backends.base import BackendError, Unreachable
from console.backends.engine import EngineClient, EngineFile, read_engine_file

APP_NAME = "switchboard"
START_TIMEOUT_S = 30.0
_DETACH = (
    "import subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)\n"
    "print(p.pid)\n"
)


def default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "engine"


def default_config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def demo_spec_path() -> Path:
    return Path(console.__file__).resolve().parent.parent / "resources" / "demo" / "demo.yaml"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(console.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def find_engine(state_dir: Path, timeout: float = 3.0) -> EngineFile | None:
    """The engine running on `state_dir`, if it answers its control API."""
    try:
        found = read_engine_file(state_dir)
    except Unreachable:
        return None
    if not found.alive():
        return None
    client = EngineClient(found.control_url, found.token, timeout=timeout)
    try:
        client.engine_info()
    except BackendError:
        return None
    finally:
        client.close()
    return found


def start_engine(state_dir: Path, timeout_s: float = START_TIMEOUT_S) -> EngineFile:
    """Start `python -m console engine` detached and wait (bounded) until it answers."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "engine.log"
    cmd = [sys.executable, "-m", "console", "engine", "--state-dir", str(state_dir), "--port", "0", "--data-port", "0"]
    helper = subprocess.run(
        [sys.executable, "-c", _DETACH, str(log), *cmd], env=_child_env(), capture_output=True,
        text=True, timeout=15, check=False,
    )
    if helper.returncode != 0:
        raise Unreachable(f"could not start the engine: {helper.stderr.strip()[-500:]}", kind="not-running")
    pid = int(helper.stdout.strip() or 0)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = find_engine(state_dir, timeout=1.0)
        if found is not None:
            return found
        if pid and not _running(pid):
            found = find_engine(state_dir, timeout=1.0)  # another console may have won the race
            if found is not None:
                return found
            raise Unreachable(f"the engine exited during start: {_tail(log)}", kind="not-running")
        time.sleep(0.1)
    raise Unreachable(f"the engine did not answer within {timeout_s:.0f} s: {_tail(log)}", kind="timeout")


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(no output)"
    except OSError:
        return "(no log)"


def ensure_engine(state_dir: Path) -> tuple[EngineFile, bool]:
    """(engine, started): the running engine, started first if none answers."""
    found = find_engine(state_dir)
    if found is not None:
        return found, False
    return start_engine(state_dir), True


def ensure_demo(engine: EngineFile, spec: Path | None = None, timeout: float = 30.0) -> bool:
    """Apply the demo specs if the engine has no endpoints. True if they were applied."""
    spec = spec or demo_spec_path()
    client = EngineClient(engine.control_url, engine.token, timeout=timeout)
    try:
        if client.endpoints():
            return False
        client.apply_yaml(spec.read_text(), str(spec.parent))
        return True
    finally:
        client.close()


class DemoTraffic:
    """`python -m console demo traffic` as our child, stopped when the console quits."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running():
            return
        log = open(self.state_dir / "demo-traffic.log", "ab")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "console", "demo", "traffic", "--state-dir", str(self.state_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=_child_env(),
            )
        finally:
            log.close()

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 1.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        else:
            proc.wait()
