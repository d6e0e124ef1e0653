"""Test upstream: `python echo_http.py PORT [CERT KEY]` answers every request on 127.0.0.1:PORT
(over TLS with that certificate and key, if given) with what it received (method, path, query
string, a few headers, the body's length and sha256) as JSON of its own content type. It
prints `listening` once it listens, and exits on SIGTERM or when its parent goes away."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import ssl
import sys

from aiohttp import web

CONTENT_TYPE = "application/vnd.echo+json"


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen = {
        "method": request.method, "path": request.raw_path.partition("?")[0],
        "query": request.raw_path.partition("?")[2],
        "content_type": request.headers.get("Content-Type"), "accept": request.headers.get("Accept"),
        "request_id": request.headers.get("x-request-id"), "authorization": request.headers.get("Authorization"),
        "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
    }
    return web.Response(body=json.dumps(seen).encode(), headers={"Content-Type": CONTENT_TYPE})


async def main(port: int, tls: list[str]) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls[0], tls[1])
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    print("listening", flush=True)
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
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:4]))
