"""Endpoint policy on a real engine: from YAML, GET/PUT /v1/endpoints/{name}/policy audited with
before and after (and the caller's identity), a restart, an older state dir, and `switchboard policy`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.domain.endpoint_policy import EndpointPolicy
from tests.harness import RunningEngine, start_engine
from tests.integration.release_helpers import audit, cli

pytestmark = pytest.mark.integration

DOC = "kind: Endpoint\nname: {name}\ndescription: {description}\n{policy}"
STRICT = "policy: {approval_required: true, approvers: [bob], max_step: 10, steps: [10, 50, 100]}\n"
DEFAULTS = EndpointPolicy().model_dump(mode="json")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("policy") / "state")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.token}", "X-Actor": "carol@console",
               "X-Switchboard-Identity": "console-carol1"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=30) as client:
        yield client


def apply(http: httpx.Client, name: str, policy: str = "", description: str = "policy test") -> None:
    resp = http.post("/v1/apply", json={"yaml": DOC.format(name=name, policy=policy, description=description)})
    assert resp.status_code == 200, resp.text


def test_yaml_sets_the_policy_and_leaving_it_out_keeps_it(engine: RunningEngine, http: httpx.Client) -> None:
    apply(http, "yaml-pol", STRICT)
    status = http.get("/v1/endpoints/yaml-pol").json()
    assert status["policy"]["approval_required"] is True and status["policy"]["approvers"] == ["bob"]
    answer = http.get("/v1/endpoints/yaml-pol/policy").json()
    assert answer["policy"] == answer["effective"] == status["policy"]
    assert answer["policy"]["steps"] == [10, 50, 100] and answer["policy"]["bake_s"] == 300

    apply(http, "yaml-pol", "", description="renamed")  # no `policy:`: kept
    assert http.get("/v1/endpoints/yaml-pol").json()["policy"] == status["policy"]
    apply(http, "yaml-pol", "policy: null\n", description="renamed")  # cleared: the defaults apply
    assert http.get("/v1/endpoints/yaml-pol/policy").json() == {
        "endpoint": "yaml-pol", "policy": None, "effective": DEFAULTS}
    event = audit(engine, "yaml-pol")[-1]
    assert (event["action"], event["before"]["policy"]["max_step"], event["after"]["policy"]) == (
        "endpoint.update", 10, None)


def test_a_bad_policy_in_yaml_names_the_field_and_line(http: httpx.Client) -> None:
    text = DOC.format(name="bad-pol", description="x", policy="policy:\n  max_step: 0\n  steps: [50, 25]\n")
    resp = http.post("/v1/apply", json={"yaml": text})
    assert resp.status_code == 422
    problems = resp.json()["problems"]
    assert any("policy.max_step' (line 5)" in p and "greater than or equal to 1" in p for p in problems), problems
    assert any("policy.steps' (line 6)" in p and "steps must rise strictly, got [50, 25]" in p for p in problems)


def test_put_replaces_and_clears_the_policy_audited_with_both_identities(engine: RunningEngine,
                                                                          http: httpx.Client) -> None:
    apply(http, "put-pol")
    body = {"approval_required": True, "production": True, "bake_s": 60}
    resp = http.put("/v1/endpoints/put-pol/policy", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["policy"] == {**DEFAULTS, **body}
    event = audit(engine, "put-pol")[-1]
    assert (event["action"], event["outcome"], event["before"]) == ("endpoint.policy", "ok", None)
    assert (event["actor"], event["identity"], event["after"]["bake_s"]) == ("carol@console", "console-carol1", 60.0)

    seq = event["seq"]
    assert http.put("/v1/endpoints/put-pol/policy", json=body).status_code == 200  # unchanged: no event
    assert audit(engine, "put-pol")[-1]["seq"] == seq
    resp = http.put("/v1/endpoints/put-pol/policy", content=b"null", headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.json()["policy"] is None
    cleared = audit(engine, "put-pol")[-1]
    assert (cleared["before"]["production"], cleared["after"]) == (True, None)
    assert http.get("/v1/audit/verify").json()["ok"]


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"max_step": 0}', "max_step: Input should be greater than or equal to 1"),
    (b'{"steps": [5, 5]}', "steps: steps must rise strictly, got [5, 5]"),
    (b'{"approvers": ["bob", "bob"]}', "approvers: approvers are listed twice: ['bob']"),
    (b'{"approval": true}', "approval: Extra inputs are not permitted"),
    (b"[1]", "body: expected an object or null, got list"),
    (b"{nope", "body: not JSON"),
    (b"", "body: empty"),
])
def test_a_bad_policy_is_refused_with_its_problem_and_audited(engine: RunningEngine, http: httpx.Client,
                                                              body: bytes, expected: str) -> None:
    apply(http, "refused-pol", "policy: {max_step: 40}\n")
    resp = http.put("/v1/endpoints/refused-pol/policy", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert any(expected in p for p in resp.json()["problems"]), resp.json()
    assert http.get("/v1/endpoints/refused-pol").json()["policy"]["max_step"] == 40
    event = audit(engine, "refused-pol")[-1]
    assert event["action"] == "endpoint.policy" and event["outcome"].startswith("rejected (422): ")


def test_unknown_endpoint_and_bad_identity_are_refused(http: httpx.Client) -> None:
    resp = http.get("/v1/endpoints/nope/policy")
    assert resp.status_code == 404 and "no endpoint named 'nope'" in resp.json()["error"]
    resp = http.put("/v1/endpoints/nope/policy", json={"max_step": 5},
                    headers={"X-Switchboard-Identity": "bad identity!"})
    assert resp.status_code == 422 and "x-switchboard-identity" in resp.json()["error"]


def test_the_policy_survives_a_restart_and_an_older_state_dir_loads(tmp_path: Path) -> None:
    state = tmp_path / "state"
    running = start_engine(state)
    try:
        with running.client() as client:
            client.apply_yaml(DOC.format(name="kept", description="x", policy=STRICT), tmp_path)
            client.apply_yaml(DOC.format(name="older", description="x", policy=""), tmp_path)
    finally:
        assert running.stop() == 0
    # a state dir from before policies and identities: no `policy` in the spec, no `identity` column
    db = sqlite3.connect(state / "state.db")
    spec = json.loads(db.execute("SELECT spec FROM endpoints WHERE name = 'older'").fetchone()[0])
    del spec["policy"]
    db.execute("UPDATE endpoints SET spec = ? WHERE name = 'older'", (json.dumps(spec),))
    db.execute("ALTER TABLE audit DROP COLUMN identity")
    db.commit()
    db.close()
    running = start_engine(state)
    try:
        with running.client() as client:
            assert client.endpoint("kept")["policy"]["approvers"] == ["bob"]
            assert client.request("GET", "/v1/endpoints/older/policy")["policy"] is None
            client.request("PUT", "/v1/endpoints/older/policy", json={"max_step": 5})
            assert client.endpoint("older")["policy"]["max_step"] == 5
            assert client.request("GET", "/v1/audit/verify")["ok"] is True
    finally:
        running.stop()


def test_cli_shows_and_sets_the_policy_keeping_what_is_not_given(engine: RunningEngine, http: httpx.Client,
                                                                 tmp_path: Path) -> None:
    apply(http, "cli-pol")
    shown = cli(engine, tmp_path, "policy", "show", "cli-pol")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == ("cli-pol: defaults (steps 5, 25, 50, 100; max step 25 points; bake 300 s; "
                            "no approval needed)\n")
    done = cli(engine, tmp_path, "policy", "set", "cli-pol", "--approval-required", "--approvers", "bob,alice",
               "--max-step", "10")
    assert done.returncode == 0, done.stderr
    assert "after:  steps 5, 25, 50, 100; max step 10 points; bake 300 s; approval required (approvers: bob, alice)" \
        in done.stdout
    again = cli(engine, tmp_path, "policy", "set", "cli-pol", "--bake", "60")
    assert again.returncode == 0, again.stderr
    policy = http.get("/v1/endpoints/cli-pol/policy").json()["policy"]
    assert (policy["bake_s"], policy["max_step"], policy["approvers"]) == (60.0, 10, ["bob", "alice"])
    event = audit(engine, "cli-pol")[-1]
    identity = (tmp_path / "cli-identity").read_text().strip()
    assert event["identity"] == identity and identity.startswith("cli-")
    bad = cli(engine, tmp_path, "policy", "set", "cli-pol", "--steps", "50,5")
    assert bad.returncode == 2 and "--steps: steps must rise strictly, got [50, 5]" in bad.stderr
    cleared = cli(engine, tmp_path, "policy", "set", "cli-pol", "--clear")
    assert cleared.returncode == 0 and "policy cleared" in cleared.stdout
    assert http.get("/v1/endpoints/cli-pol").json()["policy"] is None
