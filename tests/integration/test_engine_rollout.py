"""Progressive rollouts run by a real engine under real demo traffic: the drill (latency injected
into fraud-v3 at 10% rolls back to the baseline on its own), the success path, gates, pause and
resume, abort, promote, invalid plans, one rollout per endpoint, hand-made changes refused
while one runs, a restart that resumes it, and the `switchboard rollout` commands."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness import DEMO, RunningEngine, running_demo, start_engine, stop_process, wait_until

pytestmark = pytest.mark.integration

V1, V2, V3 = "fraud-v1", "fraud-v2", "fraud-v3"
DEMO_SPLIT = {V1: 90, V2: 10}
FAST = """\
endpoint: fraud
candidate: fraud-v3
steps: {steps}
bake_s: {bake}
analysis: {{latency_ms: 2000, error_rate_percent: 5, window_s: 10, interval_s: 0.5, min_requests: 3}}
"""


def traffic_process(engine: RunningEngine, rps: int = 40) -> subprocess.Popen[bytes]:
    """The real `switchboard demo traffic`, as an operator runs it."""
    command = [sys.executable, "-m", "console", "demo", "traffic", "--state-dir", str(engine.state_dir),
               "--rps", str(rps)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with running_demo(tmp_path_factory.mktemp("rollout")) as running:
        traffic = traffic_process(running)
        try:
            yield running
        finally:
            stop_process(traffic)


@pytest.fixture
def http(engine: RunningEngine) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {engine.token}", "X-Actor": "erin@console"}
    with httpx.Client(base_url=engine.control_url, headers=headers, timeout=30) as client:
        yield client
        # every test leaves the endpoint with no rollout running and the demo's split
        found = client.get("/v1/endpoints/fraud/rollout")
        if found.status_code == 200 and found.json()["active"]:
            client.post("/v1/endpoints/fraud/rollout/abort", json={"reason": "test cleanup"})
        current = client.get("/v1/endpoints/fraud").json()
        if current["traffic"] != DEMO_SPLIT:
            client.put("/v1/endpoints/fraud/traffic", json={"traffic": DEMO_SPLIT, "reason": "test cleanup"},
                       headers={"If-Match": str(current["revision"])}).raise_for_status()


def start(http: httpx.Client, plan: str, reason: str = "") -> httpx.Response:
    return http.post("/v1/endpoints/fraud/rollout", json={"yaml": plan, "reason": reason})


def started(http: httpx.Client, plan: str, reason: str = "") -> dict[str, Any]:
    resp = start(http, plan, reason)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def status(http: httpx.Client) -> dict[str, Any]:
    resp = http.get("/v1/endpoints/fraud/rollout")
    resp.raise_for_status()
    return dict(resp.json())


def act(http: httpx.Client, action: str, reason: str = "") -> httpx.Response:
    return http.post(f"/v1/endpoints/fraud/rollout/{action}", json={"reason": reason})


def wait_for(http: httpx.Client, what: str, test: Any, timeout: float = 60) -> dict[str, Any]:
    return dict(wait_until(lambda: (s := status(http)) and test(s) and s, timeout, 0.1, what))


def events(http: httpx.Client, since: int = 0) -> list[dict[str, Any]]:
    return list(http.get("/v1/audit", params={"since": since}).json())


def last_seq(http: httpx.Client) -> int:
    return int(events(http)[-1]["seq"])


def split(http: httpx.Client) -> dict[str, int]:
    return dict(http.get("/v1/endpoints/fraud").json()["traffic"])


# ---------------------------------------------------------------- the paths

def test_a_healthy_candidate_goes_through_every_step_and_succeeds(http: httpx.Client) -> None:
    since = last_seq(http)
    body = started(http, FAST.format(steps="[10, 50, 100]", bake=1), reason="release v3")
    assert (body["phase"], body["step"], body["weight"], body["baseline"]) == ("progressing", 0, 10, V1)
    assert body["traffic"] == {V3: 10, V1: 90} == split(http)  # fraud-v2's share goes to the baseline
    assert [s["weight"] for s in body["steps"]] == [10, 50, 100] and body["traffic_before"] == DEMO_SPLIT
    done = wait_for(http, "the rollout to succeed", lambda s: s["phase"] == "succeeded")
    assert done["weight"] == 100 and split(http) == {V3: 100}
    assert [e["action"] for e in done["events"]] == ["start", "step", "step", "step", "succeeded"]
    assert done["last_analysis"]["verdict"] == "pass" and done["finished"] >= done["created"]
    ours = [r for r in http.get("/v1/endpoints/fraud/revisions").json() if r["actor"] == f"rollout:{done['id']}"]
    assert [r["traffic"] for r in ours] == [{V3: 10, V1: 90}, {V3: 50, V1: 50}, {V3: 100}]
    actions = [e["action"] for e in events(http, since)]
    assert actions[:3] == ["traffic.shift", "rollout.start", "rollout.step"]
    assert "rollout.analysis" in actions and actions[-1] == "rollout.succeeded"
    start_event = next(e for e in events(http, since) if e["action"] == "rollout.start")
    assert start_event["actor"] == "erin@console" and start_event["reason"] == "release v3"
    assert start_event["after"]["plan"]["analysis"]["latency_ms"] == 2000
    analysis = next(e for e in events(http, since) if e["action"] == "rollout.analysis" and e["outcome"] == "ok")
    assert analysis["after"]["analysis"]["candidate"]["requests"] >= 3
    assert "p95: " in analysis["reason"] and " ≤ 2000 ms" in analysis["reason"]


def test_a_gate_waits_for_approval(http: httpx.Client) -> None:
    started(http, FAST.format(steps="[{weight: 10, gate: true}, 100]", bake=0))
    gate = wait_for(http, "the gate", lambda s: s["phase"] == "paused")
    assert gate["pause"]["kind"] == "gate" and gate["weight"] == 10
    assert gate["description"].startswith("waiting for approval at step 1 of 2")
    refused = act(http, "resume")
    assert refused.status_code == 409 and "approve the gate" in refused.json()["error"]
    analysed = len(gate["analyses"])
    wait_for(http, "analyses while waiting", lambda s: len(s["analyses"]) >= analysed + 2)
    assert status(http)["phase"] == "paused" and split(http) == {V3: 10, V1: 90}  # waits: no approval yet
    approved = act(http, "approve", "looks good")
    assert approved.status_code == 200, approved.text
    assert approved.json()["weight"] == 100 and split(http) == {V3: 100}
    done = wait_for(http, "success after the gate", lambda s: s["phase"] == "succeeded")
    approve = next(e for e in done["events"] if e["action"] == "approve")
    assert (approve["actor"], approve["reason"]) == ("erin@console", "looks good")
    assert act(http, "approve").status_code == 409


def test_pause_holds_the_step_and_resume_goes_on(http: httpx.Client) -> None:
    started(http, FAST.format(steps="[10, 100]", bake=1))
    paused = act(http, "pause", "checking dashboards")
    assert paused.status_code == 200 and paused.json()["pause"]["kind"] == "manual"
    assert act(http, "pause").status_code == 409
    analysed = len(paused.json()["analyses"])
    later = wait_for(http, "analyses while paused", lambda s: len(s["analyses"]) >= analysed + 3)
    assert later["phase"] == "paused" and later["weight"] == 10 and split(http) == {V3: 10, V1: 90}
    resumed = act(http, "resume")
    assert resumed.status_code == 200 and resumed.json()["phase"] == "progressing"
    done = wait_for(http, "success after resuming", lambda s: s["phase"] == "succeeded")
    assert [e["action"] for e in done["events"]] == ["start", "step", "pause", "resume", "step", "succeeded"]


def test_abort_puts_everything_back_on_the_baseline(http: httpx.Client) -> None:
    since = last_seq(http)
    started(http, FAST.format(steps="[10, 50, 100]", bake=600))
    aborted = act(http, "abort", "wrong build")
    assert aborted.status_code == 200, aborted.text
    body = aborted.json()
    assert (body["phase"], body["active"], body["weight"]) == ("aborted", False, 0)
    assert split(http) == {V1: 100} == body["traffic"]
    assert http.get(f"/v1/deployments/{V3}").json()["state"] == "Ready"  # the candidate keeps running
    event = next(e for e in events(http, since) if e["action"] == "rollout.abort")
    assert (event["actor"], event["reason"], event["after"]["traffic"]) == ("erin@console", "wrong build", {V1: 100})
    again = act(http, "abort")
    assert again.status_code == 409 and f"(the last one, {body['id']}, aborted)" in again.json()["error"]


def test_promote_puts_everything_on_the_candidate(http: httpx.Client) -> None:
    started(http, FAST.format(steps="[10, 50, 100]", bake=600))
    promoted = act(http, "promote", "urgent fix")
    assert promoted.status_code == 200 and promoted.json()["phase"] == "succeeded"
    assert split(http) == {V3: 100}
    assert "promoted by erin@console: urgent fix" in status(http)["outcome"]


def test_one_rollout_per_endpoint_and_no_change_by_hand_while_it_runs(http: httpx.Client) -> None:
    first = started(http, FAST.format(steps="[10, 100]", bake=600))
    second = start(http, FAST.format(steps="[20, 100]", bake=1))
    assert second.status_code == 409
    assert f"already has rollout {first['id']}" in second.json()["error"]
    assert second.json()["rollout"]["id"] == first["id"]
    revision = http.get("/v1/endpoints/fraud").json()["revision"]
    by_hand = http.put("/v1/endpoints/fraud/traffic", json={"traffic": {V1: 50, V3: 50}},
                       headers={"If-Match": str(revision)})
    assert by_hand.status_code == 409
    error = by_hand.json()["error"]
    assert f"is under rollout {first['id']}" in error and "switchboard rollout abort|promote fraud" in error
    rollback = http.post("/v1/endpoints/fraud/rollback", json={}, headers={"If-Match": str(revision)})
    assert rollback.status_code == 409 and "under rollout" in rollback.json()["error"]
    assert split(http) == {V3: 10, V1: 90} and http.get("/v1/endpoints/fraud").json()["revision"] == revision
    refused = [e for e in events(http)[-3:] if e["outcome"].startswith("rejected (409)")]
    assert [e["action"] for e in refused] == ["rollout.start", "traffic.shift", "traffic.rollback"]


INVALID = [
    pytest.param("endpoint: fraud\ncandidate: fraud-v3\nsteps: [10, 5, 100]\n", "steps must rise strictly",
                 id="steps-fall"),
    pytest.param("endpoint: fraud\ncandidate: fraud-v3\nsteps: [10, 50]\n", "the last step must be 100",
                 id="last-not-100"),
    pytest.param("endpoint: fraud\ncandidate: fraud-v9\nsteps: [100]\n",
                 "candidate: 'fraud-v9' is not a deployment of endpoint 'fraud'", id="unknown-candidate"),
    pytest.param("endpoint: fraud\ncandidate: fraud-v3\nbaseline: fraud-v3\nsteps: [100]\n",
                 "the baseline and the candidate are both 'fraud-v3'", id="baseline-is-candidate"),
    pytest.param("endpoint: fraud\ncandidate: fraud-v3\nsteps: [10, 100]\ngates: [50]\n",
                 "gates [50] are not weights of any step", id="gate-off-the-steps"),
    pytest.param("endpoint: fraud\ncandidate: fraud-v3\nsteps: [100]\nanalysis:\n  window_s: 5\n",
                 "field 'analysis.window_s' (line 5): Input should be greater than or equal to 10", id="window"),
    pytest.param("endpoint: fraud\ncandidate: fraud-v3\nsteps: [100]\nbake: 5\n",
                 "field 'bake' (line 4): Extra inputs are not permitted", id="unknown-field"),
    pytest.param("endpoint: other\ncandidate: fraud-v3\nsteps: [100]\n", "the plan is for endpoint 'other'",
                 id="other-endpoint"),
    pytest.param("endpoint: fraud\ncandidate: [fraud-v3\n", "line 3: malformed YAML", id="malformed"),
]


@pytest.mark.parametrize(("plan", "expected"), INVALID)
def test_an_invalid_plan_is_refused_with_its_problem(http: httpx.Client, plan: str, expected: str) -> None:
    before = http.get("/v1/endpoints/fraud").json()
    resp = start(http, plan)
    assert resp.status_code == 422, resp.text
    assert expected in resp.json()["error"], resp.json()
    after = http.get("/v1/endpoints/fraud").json()
    assert (after["revision"], after["traffic"]) == (before["revision"], before["traffic"])
    event = events(http)[-1]
    assert event["action"] == "rollout.start" and event["outcome"].startswith("rejected (422): ")


def test_the_cli_starts_shows_and_steers_a_rollout(engine: RunningEngine, http: httpx.Client,
                                                   tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("kind: Rollout\n" + FAST.format(steps="[10, 25, 100]", bake=600))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "console", "rollout", args[0], "--state-dir", str(engine.state_dir),
                   *args[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    done = cli("start", "-f", str(plan), "--reason", "from the cli")
    assert done.returncode == 0, done.stderr
    assert "fraud: rollout fraud-" in done.stdout and "progressing at step 1 of 3 (10% to fraud-v3)" in done.stdout
    assert "steps: [10%] -> 25% -> 100%" in done.stdout and "live split: fraud-v1=90, fraud-v3=10" in done.stdout
    assert cli("pause", "fraud").returncode == 0
    shown = cli("status", "fraud")
    assert "paused by hand at step 1 of 3" in shown.stdout
    assert cli("resume", "fraud").returncode == 0
    aborted = cli("abort", "fraud", "--reason", "enough")
    assert aborted.returncode == 0 and "aborted by " in aborted.stdout and "live split: fraud-v1=100" in aborted.stdout
    refused = cli("abort", "fraud")
    assert refused.returncode == 1 and "no rollout is in progress on endpoint 'fraud'" in refused.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("endpoint: fraud\ncandidate: fraud-v3\nsteps: [10, 50]\n")
    invalid = cli("start", "-f", str(bad))
    assert invalid.returncode == 1 and "the last step must be 100" in invalid.stderr


# ---------------------------------------------------------------- a restart

def test_an_engine_restart_resumes_the_rollout(tmp_path: Path) -> None:
    running = start_engine(tmp_path / "state")
    try:
        running.apply_demo()
        with running.client() as client:
            body = client.start_rollout("fraud", FAST.format(steps="[10, 100]", bake=600), "before restart")
            client.rollout_action("fraud", "pause", "hold over the restart")
    finally:
        assert running.stop() == 0
    running = start_engine(tmp_path / "state")
    try:
        running.wait_ready("fraud")
        with running.client() as client:
            after = client.rollout("fraud")
            assert (after["id"], after["phase"], after["pause"]["kind"], after["weight"]) == (
                body["id"], "paused", "manual", 10)
            assert after["events"][-1]["action"] == "restore" and after["events"][-1]["actor"] == "engine"
            assert client.endpoint("fraud")["traffic"] == {V3: 10, V1: 90}
            assert client.rollout_action("fraud", "resume")["phase"] == "progressing"
            assert client.rollout_action("fraud", "abort")["traffic"] == {V1: 100}
            assert client.request("GET", "/v1/audit/verify")["ok"]
    finally:
        running.stop()


# ---------------------------------------------------------------- the drill

DRILL = (DEMO.parent / "drill.yaml").read_text()


def _time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_drill_latency_injected_into_the_canary_rolls_back_on_its_own(tmp_path: Path) -> None:
    with running_demo(tmp_path) as engine:
        traffic = traffic_process(engine, rps=50)
        try:
            with engine.client("drill@test") as client:
                body = client.start_rollout("fraud", DRILL, "drill")
                assert body["traffic"] == {V3: 10, V1: 90}
                assert body["plan"]["analysis"]["latency_ms"] == 100  # from the SLO
                rid = body["id"]

                def healthy() -> bool:
                    last = client.rollout("fraud")["last_analysis"]
                    return bool(last and last["verdict"] == "pass")

                wait_until(healthy, 60, 0.2, "a passing analysis of the healthy canary")
                docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d]
                (v3,) = [d for d in docs if d.get("name") == V3]
                v3["env"]["DEMO_LATENCY_MS"] = "300"
                client.apply_yaml(yaml.safe_dump(v3), DEMO.parent)  # a rolling replace of fraud-v3

                def rolled_back() -> dict[str, Any] | None:
                    found = client.rollout("fraud")
                    return found if found["phase"] == "rolled-back" else None

                done = wait_until(rolled_back, 90, 0.2, "the automatic rollback")
                audit = client.request("GET", "/v1/audit")
                revisions = client.request("GET", "/v1/endpoints/fraud/revisions")
                verdict = client.request("GET", "/v1/audit/verify")
                current = client.endpoint("fraud")
                v3_status = client.request("GET", f"/v1/deployments/{V3}")
        finally:
            stop_process(traffic)
    ours = [e for e in audit if e["after"] and isinstance(e["after"], dict) and e["after"].get("rollout") == rid]
    first_fail = next(e for e in ours if e["action"] == "rollout.analysis" and e["outcome"] == "fail")
    rollback = next(e for e in ours if e["action"] == "rollout.rollback")
    (revision,) = [r for r in revisions if r["actor"] == f"rollout:{rid}" and r["traffic"] == {V1: 100}]
    seconds = _time(revision["time"]) - _time(first_fail["time"])
    print(f"\ndrill: first failed analysis -> rollback revision {revision['number']}: {seconds:.2f} s "
          f"({first_fail['reason']})")
    assert 0 <= seconds < 10
    assert "p95: " in first_fail["reason"] and "> 100 ms" in first_fail["reason"]
    assert rollback["actor"] == f"rollout:{rid}" and rollback["after"]["traffic"] == {V1: 100}
    assert "2 consecutive failed analyses" in rollback["reason"] and "100% back to fraud-v1" in rollback["reason"]
    assert done["outcome"].startswith("rolled back: 2 consecutive failed analyses")
    assert verdict["ok"] is True
    assert current["traffic"] == {V1: 100} and current["applied_revision"] == current["revision"]
    assert v3_status["state"] == "Ready" and v3_status["spec"]["env"]["DEMO_LATENCY_MS"] == "300"  # kept running
