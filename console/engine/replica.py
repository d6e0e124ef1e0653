"""One replica: an OS process that loads a model and serves it on 127.0.0.1.

Started by the supervisor as `python -m console.engine.replica` with its settings in the
SWITCHBOARD_REPLICA environment variable (JSON). It prints `SWITCHBOARD_LISTENING <port>`
once it listens; a model that cannot be loaded exits with EXIT_LOAD_ERROR and the reason
on stderr, so the supervisor marks the deployment Failed instead of retrying.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

EXIT_LOAD_ERROR = 78  # EX_CONFIG: retrying will not help
LISTENING = "SWITCHBOARD_LISTENING"
MAX_BODY = 10 * 1024 * 1024


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def build_app(scorer: Any, readiness_path: str) -> web.Application:
    from console.engine.runtimes.base import BadInput

    async def score(request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _json_error(400, f"request body is not JSON: {exc}")
        try:
            # Scoring is CPU work; run it off the loop so probes stay answered.
            result = await asyncio.to_thread(scorer.score, payload)
        except BadInput as exc:
            return _json_error(400, str(exc))
        except Exception as exc:
            print(f"scoring failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            return _json_error(500, f"scoring failed: {type(exc).__name__}: {exc}")
        return web.json_response(result)

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/score", score)
    app.router.add_get(readiness_path, ready)
    if readiness_path != "/health":
        app.router.add_get("/health", ready)
    return app


async def serve(settings: dict[str, Any]) -> None:
    from console.engine.runtimes.base import LoadError, load_scorer

    path = Path(settings["model_path"]) if settings.get("model_path") else None
    try:
        scorer = load_scorer(settings["runtime"], path, dict(os.environ))
    except LoadError as exc:
        print(f"cannot load model: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_LOAD_ERROR) from None
    runner = web.AppRunner(build_app(scorer, settings.get("readiness_path", "/ready")), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    print(f"{LISTENING} {port}", flush=True)
    print(
        f"replica {settings.get('replica_id')} of {settings.get('deployment')} serving "
        f"{settings['runtime']} model on 127.0.0.1:{port}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_exit_with_parent(int(settings.get("parent_pid", 0)), stop))
    await stop.wait()
    watcher.cancel()
    await runner.cleanup()


async def _exit_with_parent(parent: int, stop: asyncio.Event) -> None:
    """A replica never outlives its engine, even one killed with SIGKILL."""
    while parent and os.getppid() == parent:
        await asyncio.sleep(0.5)
    if parent:
        stop.set()  # first: the engine held our stdout/stderr pipes, so writing may raise BrokenPipeError
        try:
            print("engine went away; replica stopping", file=sys.stderr, flush=True)
        except OSError:
            pass


def main() -> None:
    raw = os.environ.get("SWITCHBOARD_REPLICA")
    if not raw:
        print("SWITCHBOARD_REPLICA is not set: replicas are started by the engine", file=sys.stderr)
        raise SystemExit(2)
    asyncio.run(serve(json.loads(raw)))


if __name__ == "__main__":
    main()
