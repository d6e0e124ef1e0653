"""Qt-free backends used by the console: typed errors, place config, kubeconfig contexts."""

from __future__ import annotations

import json
import socket
import ssl
import stat

import httpx
import pytest

from console.backends.base import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PlaceKind,
    Unauthorized,
    Unreachable,
    error_from_response,
    redact_text,
    redact_url,
    unreachable_from,
    url_secret_problems,
)
from console.backends.engine import EngineBackend, EngineClient
from console.backends.places import PlaceConfig, PlacesStore, UrlBackend, kube_contexts
from tests.gui.httpfixtures import https_server, silent_server


def _client(status: int, body: object) -> EngineClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return EngineClient("http://engine", "tok", transport=transport)


@pytest.mark.parametrize("status,error", [(401, Unauthorized), (403, Forbidden), (409, Conflict), (428, Conflict),
                                          (422, Invalid), (500, Unreachable)])
def test_http_errors_are_typed(status, error):
    client = _client(status, {"error": "nope", "current": {"revision": 4}})
    with pytest.raises(error, match="nope"):
        client.endpoints()
    client.close()


def test_conflict_carries_the_current_endpoint():
    client = _client(409, {"error": "stale revision", "current": {"revision": 7}})
    with pytest.raises(Conflict) as caught:
        client.set_traffic("fraud", {"a": 100}, {}, if_match=6)
    assert caught.value.current == {"revision": 7}


def test_unexpected_shape_is_invalid_not_a_crash():
    client = _client(200, [{"name": "fraud"}])
    with pytest.raises(Invalid, match="expected shape"):
        client.endpoints()


def test_timeout_is_named(tmp_path):
    with silent_server() as server:
        client = EngineClient(server.url, "t", timeout=httpx.Timeout(0.3, connect=0.3))
        with pytest.raises(Unreachable) as caught:
            client.engine_info()
        client.close()
    assert caught.value.kind == "timeout"
    assert str(caught.value) == f"{server.url}/v1/engine: timed out waiting for an answer"


def test_engine_backend_without_engine_json_is_not_running(tmp_path):
    backend = EngineBackend("p", tmp_path)
    with pytest.raises(Unreachable) as caught:
        backend.inventory()
    assert caught.value.kind == "not-running"
    assert not backend.probe().ok


def test_places_store_round_trip_is_0600_and_drops_auto_places(tmp_path):
    store = PlacesStore(tmp_path / "cfg")
    places = [PlaceConfig(id="a", kind=PlaceKind.SERVING, name="vllm", url="http://h:8000", auth="bearer",
                          secret_ref="place-a"),
              PlaceConfig(id="b", kind=PlaceKind.ENGINE, name="auto", state_dir="/x", auto=True)]
    store.save(places)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.id for p in store.load()] == ["a"]
    assert json.loads(store.path.read_text())["places"][0]["secret_ref"] == "place-a"


def test_kube_contexts_are_read_from_every_kubeconfig(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_text("contexts:\n- name: prod\n  context: {cluster: c1}\n- name: staging\n")
    two.write_text("contexts:\n- name: prod\n- name: kind-local\n")
    (tmp_path / "bad").write_text(": not yaml [")
    problems: list[str] = []
    found = kube_contexts([one, two, tmp_path / "bad", tmp_path / "missing"], problems=problems)
    assert found == [("prod", str(one)), ("staging", str(one)), ("kind-local", str(two))]
    assert len(problems) == 1 and problems[0].startswith(f"kubeconfig {tmp_path / 'bad'} skipped")  # missing: normal


def test_an_invalid_place_is_skipped_and_named(tmp_path):
    store = PlacesStore(tmp_path)
    store.path.write_text(json.dumps({"version": 1, "places": [
        {"id": "a", "kind": "serving", "name": "ok", "url": "http://h:1"},
        {"id": "b", "kind": "no-such-kind", "name": "broken"}]}))
    assert [p.id for p in store.load()] == ["a"]
    assert len(store.problems) == 1 and "place 2 (broken) skipped" in store.problems[0]


def test_url_backend_basic_auth_and_health_paths():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization", "")))
        return httpx.Response(200 if request.url.path == "/api/v1/status/buildinfo" else 404)

    config = PlaceConfig(id="p", kind=PlaceKind.PROMETHEUS, name="prom", url="http://prom:9090", auth="basic",
                         username="ana", secret_ref="place-p")
    backend = UrlBackend(config, secret=lambda ref: "pw", transport=httpx.MockTransport(handler))
    result = backend.probe()
    assert result.ok and result.detail["path"] == "/api/v1/status/buildinfo"
    assert [p for p, _ in seen] == ["/-/healthy", "/api/v1/status/buildinfo"]
    assert all(auth.startswith("Basic ") for _, auth in seen)


# ---------------------------------------------------------------- TLS and timeouts, for real


def _url_place(url: str, verify_tls: bool = True) -> PlaceConfig:
    return PlaceConfig(id="s", kind=PlaceKind.SERVING, name="tls host", url=url, verify_tls=verify_tls)


def test_a_self_signed_certificate_is_a_tls_failure_with_verification_on(tmp_path):
    with https_server(tmp_path / "tls", {"/health": 200}) as url:
        result = UrlBackend(_url_place(url)).probe()
        assert not result.ok and result.kind == "tls", result
        assert result.message.startswith(f"{url}/health: TLS failed: the server's certificate was not accepted")
        assert "self-signed certificate" in result.message
        insecure = UrlBackend(_url_place(url, verify_tls=False)).probe()  # the same server, not verified
    assert insecure.ok and insecure.message == f"{url}/health answered HTTP 200"


def test_a_place_that_never_answers_times_out(tmp_path):
    with silent_server() as server:
        backend = UrlBackend(_url_place(server.url), timeout=httpx.Timeout(0.3, connect=0.3))
        result = backend.probe()
    assert not result.ok and result.kind == "timeout"
    assert result.message == f"{server.url}/health: timed out waiting for an answer"


def _raised_from(cause: BaseException, error: httpx.HTTPError) -> httpx.HTTPError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise error from inner
    except httpx.HTTPError as outer:
        return outer


@pytest.mark.parametrize("cause,kind", [
    (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "tls"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls"),
    (socket.gaierror(-2, "Name or service not known"), "dns"),
    (ConnectionRefusedError(111, "Connection refused"), "refused"),
    (OSError(113, "No route to host"), "protocol"),
])
def test_the_failure_kind_comes_from_the_exception_types_not_their_words(cause, kind):
    """The words of the outer error are misleading on purpose: only the chained type decides."""
    misleading = "ssl certificate name or service not known connection refused"
    error = unreachable_from(_raised_from(cause, httpx.ConnectError(misleading)), "https://h:1/x")
    assert error.kind == kind, error


def test_a_tls_failure_is_named_even_through_several_wrappers():
    inner = _raised_from(ssl.SSLCertVerificationError(1, "certificate verify failed"), httpx.ConnectError("x"))
    outer = _raised_from(inner, httpx.ConnectError("connection failed"))
    error = unreachable_from(outer, "https://h:1/")
    assert error.kind == "tls" and "TLS failed" in str(error)


# ---------------------------------------------------------------- no secrets in URLs or messages

SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize("url", [
    f"https://ana:{SECRET}@host:8000/",
    f"https://{SECRET}@host:8000/",
    *(f"https://host:8000/v1?model=a&{name}={SECRET}" for name in
      ("token", "access_token", "api_key", "apikey", "key", "password", "secret", "TOKEN", "Api_Key", "Secret")),
    f"https://host:8000/#access_token={SECRET}",
])
def test_a_url_with_a_secret_is_refused_by_the_place_config(url):
    problems = url_secret_problems(url)
    assert problems and all("Token / password" in p or "User name and password" in p for p in problems)
    assert not any(SECRET in p for p in problems)
    with pytest.raises(ValueError, match="must not") as caught:
        PlaceConfig(id="s", kind=PlaceKind.SERVING, name="x", url=url)
    assert SECRET not in str(caught.value).splitlines()[1:2][0]


def test_urls_without_secrets_are_accepted():
    for url in ("https://host:8000", "http://127.0.0.1:9090/prom?model=a&monkey=b", "https://h/?keys=1"):
        assert url_secret_problems(url) == [], url
        assert PlaceConfig(id="s", kind=PlaceKind.SERVING, name="x", url=url).url == url


def test_a_saved_place_with_a_secret_in_its_url_is_skipped_without_repeating_it(tmp_path):
    store = PlacesStore(tmp_path)
    store.path.write_text(json.dumps({"version": 1, "places": [
        {"id": "a", "kind": "serving", "name": "leaky", "url": f"https://host/?token={SECRET}"},
        {"id": "b", "kind": "serving", "name": "fine", "url": "https://host/"}]}))
    assert [p.id for p in store.load()] == ["b"]
    assert len(store.problems) == 1 and "place 1 (leaky) skipped: url: the URL must not carry" in store.problems[0]
    assert SECRET not in store.problems[0]


def test_redact_url_strips_user_info_and_query_values():
    assert redact_url(f"https://ana:{SECRET}@host:8000/v1/x?token={SECRET}&model=a#frag") == \
        "https://host:8000/v1/x?token=***&model=***"
    assert redact_url("http://127.0.0.1:8000/health") == "http://127.0.0.1:8000/health"
    text = redact_text(f"GET https://ana:{SECRET}@h/x?api_key={SECRET} failed; retry with password={SECRET}")
    assert SECRET not in text and "https://h/x?api_key=***" in text and "password=***" in text


def test_transport_errors_never_repeat_a_secret_of_the_url():
    url = f"https://ana:{SECRET}@host:1/x?token={SECRET}"
    for cause in (ssl.SSLCertVerificationError(1, "certificate verify failed"), socket.gaierror(-2, "x"),
                  ConnectionRefusedError(111, "refused"), OSError(5, f"weird failure at {url}")):
        error = unreachable_from(_raised_from(cause, httpx.ConnectError(f"failed to reach {url}")), url)
        assert SECRET not in str(error) and str(error).startswith("https://host:1/x?token=***: "), error
    timeout = unreachable_from(httpx.ReadTimeout(f"timed out reading {url}"), url)
    assert SECRET not in str(timeout) and timeout.kind == "timeout"
    odd = unreachable_from(httpx.UnsupportedProtocol(f"bad url {url}"), url)
    assert SECRET not in str(odd) and "bad url https://host:1/x?token=***" in str(odd)


@pytest.mark.parametrize("status,error", [(401, Unauthorized), (404, NotFound), (422, Invalid), (500, Unreachable)])
def test_http_error_messages_never_repeat_a_secret_of_the_url(status, error):
    url = f"https://ana:{SECRET}@host:1/x?token={SECRET}"
    made = error_from_response(status, {"error": f"no such path /x?token={SECRET} at {url}"}, url)
    assert isinstance(made, error)
    assert SECRET not in str(made) and str(made).startswith(f"https://host:1/x?token=***: HTTP {status}: ")
    plain = error_from_response(status, f"echo: {url}", url)
    assert SECRET not in str(plain)


def test_the_url_backend_reports_its_url_redacted():
    """Query values of a place's URL (not secrets, but not for messages either) are hidden."""
    backend = UrlBackend(_url_place("http://h:1/?model=m"),
                         transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    result = backend.probe()
    assert result.message == "http://h:1/?model=*** answered HTTP 200" and result.detail["path"] == "/health"
