"""Endpoint SLOs on a real engine: from YAML, PUT /v1/endpoints/{name}/slo, the audit of every
change and refusal, a restart, an older state dir, and the `switchboard slo` commands."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.backends.base import Invalid, NotFound
from console.backends.engine import EngineClient
from console.domain.models import Slo
from tests.harness import RunningEngine, start_engine

pytestmark = pytest.mark.integration

ENDPOINT = "kind: Endpoint\nname: {name}\ndescription: slo test\n{slo}"
SLO_YAML = "slo: {percentile: p99, latency_ms: 300, error_rate_percent: 2, window_s: 30}\n"
P99 = {"percentile": "p99", "latency_ms": 300.0, "error_rate_percent": 2.0, "window_s": 30}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("slo") / "state")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.token}", "X-Actor": "carol@console"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=30) as client:
        yield client


def apply(http: httpx.Client, text: str) -> dict[str, Any]:
    resp = http.post("/v1/apply", json={"yaml": text})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def put(http: httpx.Client, name: str, body: bytes) -> httpx.Response:
    return http.put(f"/v1/endpoints/{name}/slo", content=body, headers={"Content-Type": "application/json"})


def last_event(http: httpx.Client) -> dict[str, Any]:
    return dict(http.get("/v1/audit").json()[-1])


def test_an_endpoint_document_sets_its_slo_and_keeps_it_when_slo_is_left_out(http: httpx.Client) -> None:
    assert apply(http, ENDPOINT.format(name="yaml-slo", slo=SLO_YAML))["created"] == ["endpoint/yaml-slo"]
    assert http.get("/v1/endpoints/yaml-slo").json()["slo"] == P99
    created = last_event(http)
    assert (created["action"], created["after"]["slo"]) == ("endpoint.create", P99)

    # the same document again without `slo:` changes the description only; the SLO stays
    changed = apply(http, ENDPOINT.format(name="yaml-slo", slo="").replace("slo test", "renamed"))
    assert changed["updated"] == ["endpoint/yaml-slo"]
    assert http.get("/v1/endpoints/yaml-slo").json()["slo"] == P99

    # `slo: null` removes it, recorded with the SLO before and after
    apply(http, ENDPOINT.format(name="yaml-slo", slo="slo: null\n").replace("slo test", "renamed"))
    assert http.get("/v1/endpoints/yaml-slo").json()["slo"] is None
    removed = last_event(http)
    assert (removed["action"], removed["before"]["slo"], removed["after"]["slo"]) == ("endpoint.update", P99, None)


def test_an_invalid_slo_in_yaml_names_the_field_and_line(http: httpx.Client) -> None:
    text = ENDPOINT.format(name="bad-yaml", slo="slo:\n  latency_ms: -5\n  window_s: 5\n")
    resp = http.post("/v1/apply", json={"yaml": text})
    assert resp.status_code == 422
    problems = resp.json()["problems"]
    assert any("slo.latency_ms' (line 5)" in p and "greater than 0" in p for p in problems), problems
    assert any("slo.window_s' (line 6)" in p and "greater than or equal to 10" in p for p in problems), problems


def test_put_sets_and_clears_the_slo_and_audits_before_and_after(engine: RunningEngine,
                                                                 http: httpx.Client) -> None:
    apply(http, ENDPOINT.format(name="put-slo", slo=""))
    resp = put(http, "put-slo", json.dumps(P99).encode())
    assert resp.status_code == 200, resp.text
    assert resp.json()["slo"] == P99
    event = last_event(http)
    assert (event["action"], event["actor"], event["outcome"]) == ("endpoint.slo", "carol@console", "ok")
    assert (event["endpoint"], event["before"], event["after"]) == ("put-slo", None, P99)

    seq = event["seq"]
    assert put(http, "put-slo", json.dumps(P99).encode()).status_code == 200  # no change: no event
    assert last_event(http)["seq"] == seq

    with EngineClient(engine.control_url, engine.token, actor_name="dave@cli") as client:
        status = client.set_slo("put-slo", Slo(latency_ms=120))
        assert status.slo == Slo(latency_ms=120)
        assert client.set_slo("put-slo", None).slo is None
    cleared = last_event(http)
    assert (cleared["actor"], cleared["before"]["latency_ms"], cleared["after"]) == ("dave@cli", 120.0, None)
    assert http.get("/v1/audit/verify").json()["ok"]


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"latency_ms": -1}', "latency_ms: Input should be greater than 0"),
    (b'{"error_rate_percent": 101}', "error_rate_percent: Input should be less than or equal to 100"),
    (b'{"window_s": 5}', "window_s: Input should be greater than or equal to 10"),
    (b'{"percentile": "p50"}', "percentile: Input should be 'p95' or 'p99'"),
    (b'{"latency_ms": 100, "burn_rate": 2}', "burn_rate: Extra inputs are not permitted"),
    (b'"fast please"', "expected an object or null, got str"),
    (b"{latency: 5", "body: not JSON"),
    (b"", "body: empty"),
])
def test_an_invalid_slo_is_refused_with_its_problem_and_the_refusal_audited(
        http: httpx.Client, body: bytes, expected: str) -> None:
    apply(http, ENDPOINT.format(name="refused", slo=SLO_YAML))
    resp = put(http, "refused", body)
    assert resp.status_code == 422, resp.text
    assert any(expected in p for p in resp.json()["problems"]), resp.json()
    assert http.get("/v1/endpoints/refused").json()["slo"] == P99  # unchanged
    event = last_event(http)
    assert (event["action"], event["endpoint"]) == ("endpoint.slo", "refused")
    assert event["outcome"].startswith("rejected (422): ")


def test_an_unknown_endpoint_is_404_naming_the_known_ones(engine: RunningEngine, http: httpx.Client) -> None:
    apply(http, ENDPOINT.format(name="known", slo=""))
    seq = last_event(http)["seq"]
    resp = put(http, "nope", b'{"latency_ms": 100}')
    assert resp.status_code == 404
    assert "no endpoint named 'nope'" in resp.json()["error"] and "known" in resp.json()["error"]
    assert last_event(http)["seq"] == seq  # nothing of that name to record it against
    with EngineClient(engine.control_url, engine.token) as client, pytest.raises(NotFound):
        client.set_slo("nope", Slo(latency_ms=100))
    with EngineClient(engine.control_url, engine.token) as client, pytest.raises(Invalid):
        client.request("PUT", "/v1/endpoints/known/slo", content=b"[]")


def test_the_slo_needs_the_token(engine: RunningEngine) -> None:
    resp = httpx.put(f"{engine.control_url}/v1/endpoints/known/slo", content=b"null", timeout=10)
    assert resp.status_code == 401


def test_the_slo_survives_a_restart_and_an_older_state_dir_loads(tmp_path: Path) -> None:
    state = tmp_path / "state"
    running = start_engine(state)
    try:
        with running.client() as client:
            client.apply_yaml(ENDPOINT.format(name="kept", slo=SLO_YAML), tmp_path)
            client.apply_yaml(ENDPOINT.format(name="older", slo=""), tmp_path)
    finally:
        assert running.stop() == 0
    # an endpoint stored before SLOs existed has no `slo` key in its stored spec
    db = sqlite3.connect(state / "state.db")
    spec = json.loads(db.execute("SELECT spec FROM endpoints WHERE name = 'older'").fetchone()[0])
    del spec["slo"]
    db.execute("UPDATE endpoints SET spec = ? WHERE name = 'older'", (json.dumps(spec),))
    db.commit()
    db.close()
    running = start_engine(state)
    try:
        with running.client() as client:
            assert client.endpoint("kept")["slo"] == P99
            assert client.endpoint("older")["slo"] is None
            client.request("PUT", "/v1/endpoints/older/slo", json={"error_rate_percent": 0.5})
            assert client.endpoint("older")["slo"]["error_rate_percent"] == 0.5
    finally:
        running.stop()


# ---------------------------------------------------------------- the CLI

def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "console", "slo", *args[:1], "--state-dir", str(state_dir), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_cli_shows_sets_and_clears_an_slo(engine: RunningEngine, http: httpx.Client) -> None:
    apply(http, ENDPOINT.format(name="cli-slo", slo=""))
    shown = cli(engine.state_dir, "show", "cli-slo")
    assert shown.returncode == 0, shown.stderr
    assert "cli-slo: no SLO (set one: switchboard slo set cli-slo" in shown.stdout

    done = cli(engine.state_dir, "set", "cli-slo", "--percentile", "p95", "--latency-ms", "250", "--error-rate", "1",
               "--window", "60")
    assert done.returncode == 0, done.stderr
    assert "before: no SLO" in done.stdout and "after:  p95 ≤ 250 ms, 5xx errors ≤ 1% over 60 s" in done.stdout
    assert cli(engine.state_dir, "show", "cli-slo").stdout == "cli-slo: p95 ≤ 250 ms, 5xx errors ≤ 1% over 60 s\n"
    event = last_event(http)
    assert (event["action"], event["after"]["latency_ms"]) == ("endpoint.slo", 250.0)

    cleared = cli(engine.state_dir, "set", "cli-slo", "--clear")
    assert cleared.returncode == 0, cleared.stderr
    assert "SLO cleared" in cleared.stdout and "after:  no SLO" in cleared.stdout
    assert http.get("/v1/endpoints/cli-slo").json()["slo"] is None


def test_cli_refuses_a_bad_slo_before_sending_it(engine: RunningEngine, http: httpx.Client) -> None:
    apply(http, ENDPOINT.format(name="cli-bad", slo=""))
    seq = last_event(http)["seq"]
    nothing = cli(engine.state_dir, "set", "cli-bad")
    assert nothing.returncode == 2
    assert "give --latency-ms, --error-rate or both (or --clear" in nothing.stderr
    bad = cli(engine.state_dir, "set", "cli-bad", "--latency-ms", "0", "--window", "5")
    assert bad.returncode == 2
    assert "--latency-ms: Input should be greater than 0" in bad.stderr
    assert "--window: Input should be greater than or equal to 10" in bad.stderr
    assert last_event(http)["seq"] == seq
    unknown = cli(engine.state_dir, "show", "missing")
    assert unknown.returncode == 1 and "no endpoint named 'missing'" in unknown.stderr
