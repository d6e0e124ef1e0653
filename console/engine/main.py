"""`switchboard engine`: the engine process in the foreground.

Owns the state dir (one engine per dir, by an exclusive lock), writes `token` (0600) and
`engine.json`, serves the control API and the data plane on loopback, and ticks telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import Coroutine, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import uvicorn

from console import __version__
from console.engine.core import Engine
from console.engine.dataplane import DataPlane
from console.engine.server import build_app

ENGINE_FILE = "engine.json"
TOKEN_FILE = "token"  # noqa: S105 - a file name, not a secret
LOCK_FILE = "engine.lock"


class EngineStartError(RuntimeError):
    pass


def check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise EngineStartError(f"--host {host!r} is not an IP address; the engine binds loopback only") from None
    if not address.is_loopback:
        raise EngineStartError(
            f"refusing to bind {host}: the engine listens on loopback only (127.0.0.1 or ::1)"
        )
    return host


def lock_state_dir(state_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the state dir for the process's life."""
    import fcntl

    handle = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        other = read_engine_file(state_dir)
        pid = f" (pid {other.get('pid')}, {other.get('control_url')})" if other else ""
        raise EngineStartError(f"another engine is already running on state dir {state_dir}{pid}") from None
    return handle


def read_engine_file(state_dir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((state_dir / ENGINE_FILE).read_text())
        return data
    except (OSError, ValueError):
        return {}


def ensure_token(state_dir: Path) -> str:
    path = state_dir / TOKEN_FILE
    if path.exists():
        os.chmod(path, 0o600)
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # socket says it is TCP; without it each response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EngineStartError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the engine handles its own signals


async def run_engine(state_dir: Path, host: str, port: int, data_port: int) -> None:
    host = check_loopback(host)
    os.umask(0o077)  # state.db holds endpoint keys; logs may hold request ids: owner only
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    lock = lock_state_dir(state_dir)
    token = ensure_token(state_dir)
    control_sock, data_sock = bind(host, port), bind(host, data_port)
    engine = Engine(state_dir)
    engine.data_url = url_of(host, data_sock)
    info = {
        "pid": os.getpid(), "control_url": url_of(host, control_sock), "data_url": engine.data_url,
        "version": __version__, "started": datetime.now(UTC).isoformat(), "state_dir": str(state_dir),
    }
    await engine.start()
    data_plane = DataPlane(engine.router)
    await data_plane.start(data_sock)
    # The control API's HTTP is httptools too (uvicorn's "auto" picks it when installed; said outright here).
    config = uvicorn.Config(build_app(engine, token, info), log_level="warning", lifespan="off", access_log=False,
                            timeout_graceful_shutdown=2, http="httptools")
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[control_sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    # What start-up made lives as long as the engine: keep it out of the garbage collector's
    # full passes, which otherwise walk it all and stall the data plane for tens of ms.
    gc.collect()
    gc.freeze()
    write_atomic(state_dir / ENGINE_FILE, json.dumps(info, indent=2) + "\n")
    print(f"switchboard engine {__version__}: control {info['control_url']}, data {info['data_url']}", flush=True)
    print(f"state dir {state_dir}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def ticking() -> None:
        while True:
            await asyncio.sleep(1.0 - (loop.time() % 1.0))
            engine.tick()

    ticker = asyncio.create_task(ticking())
    await asyncio.wait([asyncio.create_task(stop.wait()), serving], return_when=asyncio.FIRST_COMPLETED)
    print("engine stopping: draining replicas", flush=True)
    ticker.cancel()
    server.should_exit = True
    await serving
    await data_plane.close()
    await engine.stop()
    with contextlib.suppress(OSError):
        (state_dir / ENGINE_FILE).unlink()
    lock.close()


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run the engine's event loop: uvloop where it is installed (Linux, macOS), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(state_dir: Path, host: str, port: int, data_port: int) -> int:
    try:
        run(run_engine(state_dir, host, port, data_port))
    except EngineStartError as exc:
        print(f"switchboard engine: {exc}", file=sys.stderr)
        return 2
    return 0
