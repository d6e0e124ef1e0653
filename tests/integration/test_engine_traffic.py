"""Traffic shifts on a real engine: If-Match (428, 409 with the current state), every invalid
split (422), two concurrent writers, rollback (default and to_revision), revisions and audit."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import DEMO, RunningEngine, start_engine

pytestmark = pytest.mark.integration

V1, V2, V3 = "fraud-v1", "fraud-v2", "fraud-v3"
IDLE = "fraud-idle"  # a deployment with 0 replicas: never Ready


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("traffic") / "state")
    try:
        running.apply_demo()
        idle = (
            f"kind: Deployment\nendpoint: fraud\nname: {IDLE}\nruntime: python\nreplicas: 0\n"
            "model: {name: fraud, version: '3', path: scoring/fraud_v3.py}\n"
        )
        with running.client() as client:
            client.apply_yaml(idle, DEMO.parent)
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(engine: RunningEngine) -> Iterator[httpx.Client]:
    """A control-API client acting as alice."""
    headers = {"Authorization": f"Bearer {engine.token}", "X-Actor": "alice@console"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=30) as client:
        yield client


def current(http: httpx.Client) -> dict[str, Any]:
    resp = http.get("/v1/endpoints/fraud")
    resp.raise_for_status()
    return resp.json()


def put(http: httpx.Client, traffic: Any, mirror: Any = None, if_match: Any = "current",
        reason: str = "test", **extra: Any) -> httpx.Response:
    headers = {}
    if if_match == "current":
        if_match = current(http)["revision"]
    if if_match is not None:
        headers["If-Match"] = str(if_match)
    body = {"traffic": traffic, "mirror": mirror or {}, "reason": reason, **extra}
    return http.put("/v1/endpoints/fraud/traffic", json=body, headers=headers)


def shift(http: httpx.Client, traffic: dict[str, int], mirror: dict[str, int] | None = None,
          reason: str = "test") -> dict[str, Any]:
    resp = put(http, traffic, mirror, reason=reason)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["applied_revision"] == body["revision"]
    return body


def revisions(http: httpx.Client) -> list[dict[str, Any]]:
    return http.get("/v1/endpoints/fraud/revisions").json()


def audit(http: httpx.Client, since: int = 0) -> list[dict[str, Any]]:
    return http.get("/v1/audit", params={"since": since}).json()


def test_a_shift_is_a_new_applied_revision(http: httpx.Client) -> None:
    before = current(http)
    after = shift(http, {V1: 80, V2: 20}, reason="canary step")
    assert after["revision"] == before["revision"] + 1
    assert after["traffic"] == {V1: 80, V2: 20} and after["mirror"] == {}
    assert current(http) == after
    rev = revisions(http)[-1]
    assert rev["number"] == after["revision"] and rev["kind"] == "shift"
    assert rev["actor"] == "alice@console" and rev["reason"] == "canary step"
    assert rev["traffic"] == {V1: 80, V2: 20} and rev["restores"] is None


def test_missing_if_match_is_428(http: httpx.Client) -> None:
    before = current(http)
    resp = put(http, {V1: 50, V2: 50}, if_match=None)
    assert resp.status_code == 428 and "If-Match" in resp.json()["error"]
    resp = http.post("/v1/endpoints/fraud/rollback", json={})
    assert resp.status_code == 428
    assert current(http) == before


def test_stale_if_match_is_409_with_the_current_endpoint(http: httpx.Client) -> None:
    stale = current(http)["revision"]
    now = shift(http, {V1: 60, V2: 40})
    resp = put(http, {V1: 10, V2: 90}, if_match=stale)
    assert resp.status_code == 409
    body = resp.json()
    assert body["current"]["revision"] == now["revision"] == stale + 1
    assert body["current"]["traffic"] == {V1: 60, V2: 40}
    assert body["current"]["name"] == "fraud" and body["current"]["deployments"]
    assert f"revision {now['revision']}" in body["error"]
    resp = http.post("/v1/endpoints/fraud/rollback", json={}, headers={"If-Match": str(stale)})
    assert resp.status_code == 409 and resp.json()["current"]["revision"] == now["revision"]
    assert put(http, {V1: 10, V2: 90}, if_match="latest").status_code == 400
    assert current(http)["revision"] == now["revision"]


INVALID = [
    pytest.param({V1: 60, V2: 30}, {}, "must sum to 100, they sum to 90", id="sum-under-100"),
    pytest.param({V1: 60, V2: 50, V3: -10}, {}, "weight of 'fraud-v3' must be 0..100, got -10", id="negative"),
    pytest.param({V1: 110, V2: 0}, {}, "weight of 'fraud-v1' must be 0..100, got 110", id="over-100"),
    pytest.param({V1: 50.5, V2: 49.5}, {}, "traffic.fraud-v1", id="non-integer"),
    pytest.param({V1: "50", V2: 50}, {}, "traffic.fraud-v1", id="string-weight"),
    pytest.param({V1: True, V2: 99}, {}, "traffic.fraud-v1", id="boolean-weight"),
    pytest.param({V1: 90, "fraud-v9": 10}, {}, "unknown deployment 'fraud-v9'", id="unknown-deployment"),
    pytest.param({V1: 90, IDLE: 10}, {}, f"must be Ready: ['{IDLE}'] are not", id="not-ready"),
    pytest.param({V1: 100}, {V3: 51}, "mirror shares may total at most 50, they total 51", id="mirror-over-50"),
    pytest.param({V1: 100}, {V3: 30, V2: 30}, "they total 60", id="mirrors-together-over-50"),
    pytest.param({V1: 100}, {V3: -5}, "mirror: weight of 'fraud-v3' must be 0..100", id="negative-mirror"),
    pytest.param({V1: 100}, {"fraud-v9": 5}, "mirror: unknown deployment 'fraud-v9'", id="unknown-mirror"),
    pytest.param({V1: 90, V2: 10}, {V2: 10}, "both a live and a mirror target: ['fraud-v2']", id="live-and-mirror"),
    pytest.param({}, {}, "sum to 100, they sum to 0", id="empty"),
]


@pytest.mark.parametrize(("traffic", "mirror", "expected"), INVALID)
def test_invalid_split_is_422_naming_the_problem(
    http: httpx.Client, traffic: dict[str, Any], mirror: dict[str, Any], expected: str
) -> None:
    before = current(http)
    history = revisions(http)
    resp = put(http, traffic, mirror)
    assert resp.status_code == 422, resp.text
    assert expected in resp.json()["error"], resp.json()
    assert current(http) == before
    assert revisions(http) == history


def test_malformed_bodies_are_422(http: httpx.Client) -> None:
    before = current(http)
    assert put(http, {V1: 100}, surprise=1).status_code == 422
    resp = http.put("/v1/endpoints/fraud/traffic", json={"mirror": {}}, headers={"If-Match": str(before["revision"])})
    assert resp.status_code == 422 and "traffic" in resp.json()["error"]
    resp = http.put("/v1/endpoints/fraud/traffic", content=b"{", headers={"If-Match": str(before["revision"]),
                                                                         "Content-Type": "application/json"})
    assert resp.status_code == 422
    resp = http.put("/v1/endpoints/nowhere/traffic", json={"traffic": {V1: 100}}, headers={"If-Match": "1"})
    assert resp.status_code == 404
    assert current(http) == before


def test_a_rejected_shift_is_audited_as_rejected(http: httpx.Client) -> None:
    last = audit(http)[-1]["seq"]
    assert put(http, {V1: 70, V2: 20}, reason="fat finger").status_code == 422
    (event,) = audit(http, since=last)
    assert event["action"] == "traffic.shift" and event["outcome"].startswith("rejected (422): ")
    assert "sum to 100" in event["outcome"]
    assert event["actor"] == "alice@console" and event["reason"] == "fat finger"
    assert event["after"]["traffic"] == {V1: 70, V2: 20} and event["after"]["mirror"] == {}


def test_two_writers_with_the_same_if_match_exactly_one_wins(engine: RunningEngine) -> None:
    proposals = [{V1: 30, V2: 70}, {V1: 70, V2: 30}]
    headers = {"Authorization": f"Bearer {engine.token}"}
    for round_ in range(5):
        with httpx.Client(base_url=engine.control_url, headers=headers, timeout=30) as reader:
            revision = current(reader)["revision"]
        barrier = threading.Barrier(2, timeout=30)
        results: list[httpx.Response | None] = [None, None]

        def write(i: int, results: list[httpx.Response | None] = results, barrier: threading.Barrier = barrier,
                  revision: int = revision, round_: int = round_) -> None:
            with httpx.Client(base_url=engine.control_url, timeout=30,
                              headers={**headers, "X-Actor": f"writer-{i}"}) as client:
                body = {"traffic": proposals[i], "mirror": {}, "reason": f"round {round_}"}
                barrier.wait()
                results[i] = client.put("/v1/endpoints/fraud/traffic", json=body,
                                        headers={"If-Match": str(revision)})

        threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert all(r is not None for r in results)
        codes = sorted(r.status_code for r in results if r is not None)
        assert codes == [200, 409], [r.text for r in results if r is not None]
        winner = next(i for i, r in enumerate(results) if r is not None and r.status_code == 200)
        loser = results[1 - winner]
        assert loser is not None
        state = loser.json()["current"]
        assert state["revision"] == revision + 1
        assert state["traffic"] == proposals[winner]
        with httpx.Client(base_url=engine.control_url, headers=headers, timeout=30) as reader:
            assert revisions(reader)[-1]["actor"] == f"writer-{winner}"
            assert current(reader)["revision"] == revision + 1


def test_rollback_restores_the_split_before_the_latest_change(http: httpx.Client) -> None:
    good = shift(http, {V1: 90, V2: 10}, reason="known good")
    bad = shift(http, {V1: 20, V2: 80}, {V3: 10}, reason="too far")
    history = revisions(http)
    resp = http.post("/v1/endpoints/fraud/rollback", json={"reason": "errors up"},
                     headers={"If-Match": str(bad["revision"])})
    assert resp.status_code == 200, resp.text
    rolled = resp.json()
    assert rolled["revision"] == bad["revision"] + 1 == rolled["applied_revision"]
    assert rolled["traffic"] == {V1: 90, V2: 10} and rolled["mirror"] == {}
    after = revisions(http)
    assert after[: len(history)] == history, "a rollback never rewrites history"
    rev = after[-1]
    assert rev["kind"] == "rollback" and rev["restores"] == good["revision"]
    assert rev["reason"] == "errors up" and rev["actor"] == "alice@console"
    event = audit(http)[-1]
    assert event["action"] == "traffic.rollback" and event["outcome"] == "ok"
    assert event["before"]["traffic"] == {V1: 20, V2: 80} and event["after"]["traffic"] == {V1: 90, V2: 10}


def test_rollback_to_a_revision(http: httpx.Client) -> None:
    first = revisions(http)[0]
    assert first["number"] == 1 and first["kind"] == "create"
    shift(http, {V1: 50, V2: 50})
    history = revisions(http)
    latest = history[-1]["number"]
    resp = http.post("/v1/endpoints/fraud/rollback", json={"to_revision": 1},
                     headers={"If-Match": str(latest)})
    assert resp.status_code == 200
    assert resp.json()["traffic"] == first["traffic"] == {V1: 90, V2: 10}
    after = revisions(http)
    assert after[:-1] == history and after[-1]["restores"] == 1
    assert after[-1]["reason"] == "rollback to revision 1"  # the default reason names the target
    for bad in (latest + 5, 0, -1, "two"):
        resp = http.post("/v1/endpoints/fraud/rollback", json={"to_revision": bad},
                         headers={"If-Match": str(latest + 1)})
        assert resp.status_code == 422, (bad, resp.text)
    assert revisions(http) == after


def test_audit_events_carry_before_after_and_chain(http: httpx.Client) -> None:
    last = audit(http)[-1]
    before = current(http)
    after = shift(http, {V1: 85, V2: 15}, {V3: 5}, reason="shadow v3")
    (event,) = audit(http, since=last["seq"])
    assert event["seq"] == last["seq"] + 1 and event["prev_hash"] == last["hash"]
    assert event["actor"] == "alice@console" and event["reason"] == "shadow v3"
    assert event["action"] == "traffic.shift" and event["outcome"] == "ok" and event["endpoint"] == "fraud"
    assert event["before"] == {"revision": before["revision"], "traffic": before["traffic"], "mirror": before["mirror"]}
    assert event["after"] == {"revision": after["revision"], "traffic": {V1: 85, V2: 15}, "mirror": {V3: 5}}
    verdict = http.get("/v1/audit/verify").json()
    assert verdict == {"ok": True, "events": event["seq"], "first_broken": None, "why": None}


def test_cli_traffic_rollback_and_revisions(engine: RunningEngine, http: httpx.Client) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "console", args[0], "--state-dir", str(engine.state_dir), *args[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    done = cli("traffic", "set", "fraud", "fraud-v1=75", "fraud-v2=25", "--reason", "from the cli")
    assert done.returncode == 0, done.stderr
    assert current(http)["traffic"] == {V1: 75, V2: 25}
    rev = revisions(http)[-1]
    assert rev["reason"] == "from the cli" and "@" in rev["actor"]
    refused = cli("traffic", "set", "fraud", "fraud-v1=75", "fraud-v2=30")
    assert refused.returncode == 1 and "sum to 100" in refused.stderr
    done = cli("rollback", "fraud", "--reason", "undo")
    assert done.returncode == 0, done.stderr
    assert current(http)["traffic"] != {V1: 75, V2: 25}
    listing = cli("revisions", "fraud")
    assert listing.returncode == 0
    assert len(listing.stdout.splitlines()) == len(revisions(http))
    assert "from the cli" in listing.stdout and "undo" in listing.stdout


def test_delete_is_refused_while_a_deployment_has_live_or_mirror_traffic(http: httpx.Client) -> None:
    shift(http, {V1: 90, V2: 10}, {V3: 10})
    for name, share in ((V2, "10% live"), (V3, "10% mirror")):
        resp = http.delete(f"/v1/deployments/{name}")
        assert resp.status_code == 409
        assert share in resp.json()["error"] and resp.json()["current"]["name"] == "fraud"
        assert http.get(f"/v1/deployments/{name}").json()["state"] == "Ready"
    assert http.delete("/v1/deployments/fraud-v9").status_code == 404


def test_refusals_of_every_kind_are_audited(http: httpx.Client) -> None:
    since = http.get("/v1/audit").json()[-1]["seq"]
    stale = http.put("/v1/endpoints/fraud/traffic", json={"traffic": {V1: 100}}, headers={"If-Match": "999"})
    missing = http.put("/v1/endpoints/fraud/traffic", json={"traffic": {V1: 100}})
    rev = current(http)["revision"]
    nowhere = http.post("/v1/endpoints/fraud/rollback", json={"to_revision": 999}, headers={"If-Match": str(rev)})
    assert (stale.status_code, missing.status_code, nowhere.status_code) == (409, 428, 422)
    events = http.get("/v1/audit", params={"since": since}).json()
    outcomes = [(e["action"], e["outcome"].split(":")[0]) for e in events]
    assert outcomes == [
        ("traffic.shift", "rejected (409)"),
        ("traffic.shift", "rejected (428)"),
        ("traffic.rollback", "rejected (422)"),
    ]
    assert events[0]["after"]["if_match"] == "999"
