"""Tiny real servers on 127.0.0.1 for connection tests (test-only threads, all joined on exit)."""

from __future__ import annotations

import datetime
import ipaddress
import selectors
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _handler(status_for_path: dict[str, int], token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b"unauthorized")
                return
            self.send_response(status_for_path.get(self.path.split("?")[0], 404))
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def _serving(server: ThreadingHTTPServer, scheme: str) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"{scheme}-test-server")
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def http_server(status_for_path: dict[str, int], token: str | None = None) -> Iterator[str]:
    """Answers each path with its status (404 otherwise); 401 unless `Bearer token` when a token is set."""
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _handler(status_for_path, token)), "http") as url:
        yield url


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for 127.0.0.1 and its key, as PEM files in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def https_server(directory: Path, status_for_path: dict[str, int], token: str | None = None) -> Iterator[str]:
    """http_server over TLS with a self-signed certificate (made in `directory`): a client
    that verifies certificates refuses it; one that does not gets the answers."""
    cert_path, key_path = self_signed_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(status_for_path, token))
    # The handshake runs in accept(); a client that refuses the certificate makes it raise an
    # SSLError (an OSError), which the server drops.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with _serving(server, "https") as url:
        yield url


class SilentServer:
    """Accepts connections and never answers (a hanging place) until `release()`, which
    closes every connection it holds: a client blocked on it then fails at once."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.accepted = threading.Event()  # set once a client has connected
        self._wake_r, self._wake_w = socket.socketpair()
        self._released = False
        self._thread = threading.Thread(target=self._serve, daemon=True, name="silent-test-server")
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _events in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    conn, _addr = self._listener.accept()
                    self.held.append(conn)
                    self.accepted.set()

    def release(self) -> None:
        """Close every held connection and stop listening (idempotent)."""
        if self._released:
            return
        self._released = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        for conn in self.held:
            conn.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    """A SilentServer, released on exit."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.release()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
