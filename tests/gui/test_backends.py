"""Qt-free backends used by the console: typed errors, place config, kubeconfig contexts."""

from __future__ import annotations

import json
import stat

import httpx
import pytest

from console.backends.base import Conflict, Forbidden, Invalid, PlaceKind, Unauthorized, Unreachable
from console.backends.engine import EngineBackend, EngineClient
from console.backends.places import PlaceConfig, PlacesStore, UrlBackend, kube_contexts
from tests.gui.httpfixtures import silent_server


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
    with silent_server() as url:
        client = EngineClient(url, "t", timeout=httpx.Timeout(0.3, connect=0.3))
        with pytest.raises(Unreachable) as caught:
            client.engine_info()
    assert caught.value.kind == "timeout"


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
