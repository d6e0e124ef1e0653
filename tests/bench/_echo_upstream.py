"""A trivial upstream for the benchmarks: `python _echo_upstream.py PORT` serves 127.0.0.1:PORT.

POST /score reads the body and answers a fixed JSON result; GET /ready answers 200. It exits
on SIGTERM/SIGINT, or when its parent goes away.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from aiohttp import web

RESULT = b'{"outputs": [0.5]}'


async def score(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=RESULT, content_type="application/json")


async def ready(_: web.Request) -> web.Response:
    return web.Response(body=b'{"ready": true}', content_type="application/json")


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/score", score)
    app.router.add_get("/ready", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
