"""The data port's HTTP server of a real engine, on raw sockets: what reaches the replica (path,
query, method, headers), over plain HTTP and through the TLS fallback, keep-alive and
pipelining, HTTP/1.0, Connection: close, Expect: 100-continue, body limits (Content-Length and
chunked), unknown paths, malformed requests, a client that goes away mid-request, and a
replica killed mid-request."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.harness import RunningEngine, start_engine, wait_until

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent / "data"
MAX_BODY = 10 * 1024 * 1024
SCORE = b'{"inputs": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]}'


class Response:
    def __init__(self, version: str, status: int, headers: dict[str, str], body: bytes) -> None:
        self.version, self.status, self.headers, self.body = version, status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class Raw:
    """One client connection to the data port, written and read byte by byte."""

    def __init__(self, engine: RunningEngine) -> None:
        url = urlsplit(engine.data_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=20)
        self.buffer = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a whole response head; got {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status = status_line.split(" ")[:2]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self._fill():
                raise ConnectionError("closed in the middle of a response body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(version, int(status), headers, body)

    def closed_by_server(self) -> bool:
        """True when the server closes the connection (EOF, or a reset after it closed) with nothing more sent."""
        try:
            return not self._fill()
        except ConnectionResetError:
            return True


def request(
    method: str, path: str, key: str | None, body: bytes = b"", version: str = "1.1", **headers: str
) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: switchboard.test"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    for name, value in headers.items():
        lines.append(f"{name.replace('_', '-')}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 that it signed: (CA file, certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@contextlib.contextmanager
def echo_server(*tls: Path) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen([sys.executable, str(DATA / "echo_http.py"), str(port), *map(str, tls)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"listening"
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    ca, cert, key = certificates(tmp_path_factory.mktemp("tls"))
    with echo_server() as plain, echo_server(cert, key) as tls, pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", str(ca))  # the engine trusts the test CA (and only it)
        running = start_engine(tmp_path_factory.mktemp("dataplane") / "state")
        env.undo()
        try:
            yield from applied(running, plain, tls)
        finally:
            running.stop()


def applied(running: RunningEngine, plain: int, tls: int) -> Iterator[RunningEngine]:
    readiness = {"path": "/ready", "period": 0.5, "failure_threshold": 3}
    specs = [
        {"kind": "Endpoint", "name": "edge", "traffic": {"edge-echo": 100}},
        {"kind": "Deployment", "endpoint": "edge", "name": "edge-echo", "runtime": "upstream",
         "upstream": f"http://127.0.0.1:{plain}", "model": {"name": "echo", "version": "7"}, "readiness": readiness},
        {"kind": "Deployment", "endpoint": "edge", "name": "edge-tls", "runtime": "upstream",
         "upstream": f"https://127.0.0.1:{tls}/base", "model": {"name": "echo", "version": "8"},
         "readiness": readiness},
        {"kind": "Deployment", "endpoint": "edge", "name": "edge-sleepy", "runtime": "python", "replicas": 1,
         "model": {"name": "sleepy", "version": "1", "path": "sleep_per_request.py"}, "readiness": readiness},
    ]
    with running.client() as client:
        client.request("POST", "/v1/apply", json={"specs": specs, "base_dir": str(DATA)})
    running.wait_ready("edge")
    yield running


@pytest.fixture(scope="module")
def key(engine: RunningEngine) -> str:
    return engine.key("edge")


@pytest.fixture(scope="module")
def control(engine: RunningEngine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=engine.control_url, headers={"Authorization": f"Bearer {engine.token}"},
                      timeout=30) as client:
        yield client


def replicas(control: httpx.Client, name: str) -> list[dict[str, Any]]:
    resp = control.get(f"/v1/deployments/{name}")
    resp.raise_for_status()
    return list(resp.json()["replicas"])


def outstanding(control: httpx.Client, name: str) -> int:
    return sum(r["outstanding"] for r in replicas(control, name))


def router_lines(control: httpx.Client, name: str) -> list[str]:
    text = control.get(f"/v1/deployments/{name}/logs", params={"tail": 5000}).text
    return [line for line in text.splitlines() if " router request " in line]


def test_path_query_method_and_headers_reach_the_replica(engine: RunningEngine, key: str) -> None:
    body = b"plain text, not JSON"
    request_id = f"edge-{uuid.uuid4().hex}"
    with Raw(engine) as conn:
        conn.send(request("PUT", "/endpoints/edge/v2/models/m%20x/infer?q=1&r=a%2Fb", key, body,
                          Content_Type="text/plain", Accept="text/csv", x_request_id=request_id))
        resp = conn.response()
    assert resp.status == 200 and resp.version == "HTTP/1.1"
    assert resp.headers["content-type"] == "application/vnd.echo+json"
    assert resp.headers["x-deployment"] == "edge-echo" and resp.headers["x-model-version"] == "7"
    assert resp.headers["x-request-id"] == request_id
    seen = resp.json()
    assert seen["method"] == "PUT"
    assert seen["path"] == "/v2/models/m%20x/infer" and seen["query"] == "q=1&r=a%2Fb"
    assert (seen["content_type"], seen["accept"], seen["request_id"]) == ("text/plain", "text/csv", request_id)
    assert seen["authorization"] is None, "the endpoint key is not passed on to the replica"
    assert seen["length"] == len(body) and seen["sha256"] == hashlib.sha256(body).hexdigest()


def test_an_https_upstream_is_reached_through_the_verifying_fallback(engine: RunningEngine, key: str) -> None:
    with Raw(engine) as conn:
        for i in range(3):  # its connections are kept and reused too
            conn.send(request("POST", f"/endpoints/edge/predict?n={i}", key, SCORE, x_deployment="edge-tls",
                              Content_Type="application/json", x_request_id=f"tls-{i}"))
            resp = conn.response()
            assert resp.status == 200, resp.body
            assert resp.headers["content-type"] == "application/vnd.echo+json"
            assert (resp.headers["x-deployment"], resp.headers["x-model-version"]) == ("edge-tls", "8")
            seen = resp.json()
            assert (seen["path"], seen["query"], seen["request_id"]) == ("/base/predict", f"n={i}", f"tls-{i}")
            assert seen["length"] == len(SCORE) and seen["content_type"] == "application/json"


def test_keep_alive_serves_several_requests_on_one_connection_and_pipelining_keeps_order(
    engine: RunningEngine, key: str
) -> None:
    with Raw(engine) as conn:
        for i in range(5):
            conn.send(request("POST", f"/endpoints/edge/score?n={i}", key, SCORE, x_request_id=f"one-{i}"))
            resp = conn.response()
            assert resp.status == 200 and "connection" not in resp.headers
            assert resp.headers["x-request-id"] == f"one-{i}" and resp.json()["query"] == f"n={i}"
        # Three requests in one write: three answers, in order, on the same connection.
        conn.send(b"".join(request("POST", f"/endpoints/edge/score?n={i}", key, SCORE, x_request_id=f"pipe-{i}")
                           for i in range(3)))
        answers = [conn.response() for _ in range(3)]
        assert [a.headers["x-request-id"] for a in answers] == ["pipe-0", "pipe-1", "pipe-2"]
        assert [a.json()["query"] for a in answers] == ["n=0", "n=1", "n=2"]
        # A refused request in the middle of a pipeline is answered in its turn; the connection goes on.
        conn.send(request("POST", "/endpoints/edge/score?n=a", key, SCORE)
                  + request("POST", "/endpoints/edge/score?n=b", "wrong-key", SCORE)
                  + request("POST", "/endpoints/edge/score?n=c", key, SCORE))
        first, refused, last = (conn.response() for _ in range(3))
        assert (first.status, refused.status, last.status) == (200, 401, 200)
        assert first.json()["query"] == "n=a" and last.json()["query"] == "n=c"


def test_http_1_0_is_answered_in_kind_and_closed_unless_kept_alive(engine: RunningEngine, key: str) -> None:
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key, SCORE, version="1.0"))
        resp = conn.response()
        assert resp.status == 200 and resp.version == "HTTP/1.0"
        assert resp.headers["connection"] == "close" and resp.headers["x-deployment"] == "edge-echo"
        assert conn.closed_by_server()
    with Raw(engine) as conn:
        for _ in range(2):
            conn.send(request("POST", "/endpoints/edge/score", key, SCORE, version="1.0", Connection="keep-alive"))
            resp = conn.response()
            assert resp.status == 200 and resp.version == "HTTP/1.0"
            assert resp.headers["connection"] == "keep-alive"


def test_connection_close_is_honoured(engine: RunningEngine, key: str) -> None:
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key, SCORE, Connection="close"))
        resp = conn.response()
        assert resp.status == 200 and resp.headers["connection"] == "close"
        assert conn.closed_by_server()


def test_expect_100_continue_is_answered_before_the_body(engine: RunningEngine, key: str) -> None:
    with Raw(engine) as conn:
        head = request("POST", "/endpoints/edge/score", key, b"", Expect="100-continue")
        conn.send(head.replace(b"Content-Length: 0", f"Content-Length: {len(SCORE)}".encode()))
        interim = conn.response()
        assert interim.status == 100
        conn.send(SCORE)
        resp = conn.response()
        assert resp.status == 200 and resp.json()["length"] == len(SCORE)


def chunked(key: str, pieces: Iterator[bytes] | list[bytes]) -> Iterator[bytes]:
    yield (f"POST /endpoints/edge/score HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
           "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_chunked_body_is_counted_and_over_the_limit_is_413(engine: RunningEngine, key: str) -> None:
    pieces = [os.urandom(1000), os.urandom(70_000), b"x"]
    with Raw(engine) as conn:
        for part in chunked(key, pieces):
            conn.send(part)
        resp = conn.response()
        assert resp.status == 200
        assert resp.json()["length"] == 71_001
        assert resp.json()["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()
    mib = b"z" * (1024 * 1024)
    with Raw(engine) as conn:
        for part in chunked(key, [mib] * 10 + [b"one byte too many"]):
            conn.send(part)
        resp = conn.response()
        assert resp.status == 413 and str(MAX_BODY) in resp.json()["error"]
        assert resp.headers["connection"] == "close"
        assert conn.closed_by_server()


def test_a_content_length_over_the_limit_is_413_before_the_body_is_sent(engine: RunningEngine, key: str) -> None:
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key).replace(
            b"Content-Length: 0", f"Content-Length: {MAX_BODY + 1}".encode()))
        resp = conn.response()  # answered at once: no byte of the body was sent
        assert resp.status == 413 and str(MAX_BODY) in resp.json()["error"]
        assert resp.headers["connection"] == "close"


@pytest.mark.parametrize("path", ["/", "/metrics", "/endpoints", "/endpoints/edge", "/v1/endpoints", "/score"])
def test_unknown_paths_are_404_json(engine: RunningEngine, key: str, path: str) -> None:
    with Raw(engine) as conn:
        conn.send(request("GET", path, key))
        resp = conn.response()
        assert resp.status == 404 and resp.headers["content-type"] == "application/json"
        assert "no route" in resp.json()["error"]
        # A 404 keeps the connection.
        conn.send(request("POST", "/endpoints/edge/score", key, SCORE))
        assert conn.response().status == 200


def test_dot_segments_are_refused(engine: RunningEngine, key: str) -> None:
    with Raw(engine) as conn:
        for path in ("/endpoints/edge/../../admin", "/endpoints/edge/a/%2e%2e/b", "/endpoints/edge/./score"):
            conn.send(request("POST", path, key, SCORE))
            resp = conn.response()
            assert resp.status == 400 and "segments" in resp.json()["error"]


@pytest.mark.parametrize("garbage", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"POST /endpoints/edge/score HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
    b"POST /endpoints/edge/score HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345",
    b"POST /endpoints/edge/score HTTP/1.1\r\nAuthorization: Bearer KEY\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
], ids=["not-http", "bad-header-name", "two-content-lengths", "bad-chunk-size"])
def test_malformed_http_is_400_and_closed(engine: RunningEngine, key: str, garbage: bytes) -> None:
    with Raw(engine) as conn:
        conn.send(garbage.replace(b"KEY", key.encode()))
        resp = conn.response()
        assert resp.status == 400 and "malformed" in resp.json()["error"]
        assert resp.headers["connection"] == "close"
        assert conn.closed_by_server()


@pytest.mark.parametrize("padding", [{"x_padding": "p" * 100_000}, {f"x_pad_{i}": "p" * 1000 for i in range(100)}],
                         ids=["one-long-header", "many-headers"])
def test_a_request_head_over_the_limit_is_431_and_closed(
    engine: RunningEngine, key: str, padding: dict[str, str]
) -> None:
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key, SCORE, **padding))
        resp = conn.response()
        assert resp.status == 431 and "headers exceed" in resp.json()["error"]
        assert conn.closed_by_server()
    with Raw(engine) as conn:  # sent in small pieces, the head is refused as soon as it is too long
        conn.send(b"POST /endpoints/edge/score HTTP/1.1\r\n")
        for _ in range(70):
            conn.send(b"x-more: " + b"m" * 1000 + b"\r\n")
        resp = conn.response()
        assert resp.status == 431 and conn.closed_by_server()


def test_a_client_that_goes_away_mid_request_leaves_nothing_outstanding(
    engine: RunningEngine, key: str, control: httpx.Client
) -> None:
    request_id = f"gone-{uuid.uuid4().hex}"
    body = json.dumps({"inputs": [[0.0] * 8], "sleep": 1.5}).encode()
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key, body, x_deployment="edge-sleepy",
                          x_request_id=request_id))
        wait_until(lambda: outstanding(control, "edge-sleepy") == 1, 30, what="the request at the replica")
    # The client is gone; the request runs to its end, is recorded, and is no longer counted.
    wait_until(lambda: outstanding(control, "edge-sleepy") == 0, 30, what="outstanding back to 0")
    wait_until(lambda: any(f"request {request_id} status 200" in ln for ln in router_lines(control, "edge-sleepy")),
               30, what="the request's log line")
    # One that goes away before its body is complete never reaches a replica.
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key, body, x_deployment="edge-sleepy")[:-10])
    with Raw(engine) as conn:  # the engine is fine, and nothing was counted
        conn.send(request("POST", "/endpoints/edge/score", key, b'{"inputs": []}', x_deployment="edge-sleepy"))
        assert conn.response().status == 200
    assert outstanding(control, "edge-sleepy") == 0


def test_a_replica_killed_mid_request_is_502_and_its_count_returns_to_0(
    engine: RunningEngine, key: str, control: httpx.Client
) -> None:
    (victim,) = replicas(control, "edge-sleepy")
    assert victim["state"] == "ready" and victim["pid"]
    body = json.dumps({"inputs": [[0.0] * 8], "sleep": 30}).encode()
    with Raw(engine) as conn:
        conn.send(request("POST", "/endpoints/edge/score", key, body, x_deployment="edge-sleepy"))
        wait_until(lambda: outstanding(control, "edge-sleepy") == 1, 30, what="the request at the replica")
        os.kill(victim["pid"], signal.SIGKILL)
        resp = conn.response()
        assert resp.status == 502 and resp.headers["x-deployment"] == "edge-sleepy"
        error = resp.json()
        assert error["deployment"] == "edge-sleepy" and victim["id"] in error["error"]
        # The connection is still good for the next request.
        conn.send(request("POST", "/endpoints/edge/score", key, SCORE))
        assert conn.response().status == 200
    assert outstanding(control, "edge-sleepy") == 0
    assert any(" status 502 " in ln for ln in router_lines(control, "edge-sleepy"))
    engine.wait_ready("edge")
