"""A serving host on 127.0.0.1 that answers with recorded expositions and listings
(tests/data/expositions), for the ServingBackend and place dialog tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "expositions"


class Host:
    """Answers `routes[(method, path)]` = (status, body bytes); 404 otherwise."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.token: str | None = None
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                if method == "POST":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if host.token and self.headers.get("Authorization") != f"Bearer {host.token}":
                    status, body = 401, b'{"error": "invalid token"}'
                else:
                    status, body = host.routes.get((method, self.path), (404, b'{"detail": "Not Found"}'))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def metrics(self, name: str) -> None:
        self.routes[("GET", "/metrics")] = (200, (DATA / name).read_bytes())


@contextmanager
def recorded_host() -> Iterator[Host]:
    served = Host()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True, name="recorded-host")
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join(5)


