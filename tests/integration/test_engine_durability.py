"""Durability of a real engine: restart after SIGTERM restores everything, SIGKILL during a stream
of traffic changes loses no committed revision, and the audit chain detects tampering."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.harness import RunningEngine, start_engine, wait_until

pytestmark = pytest.mark.integration

ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def get(engine: RunningEngine, path: str) -> Any:
    with engine.client() as client:
        return client.request("GET", path)


def replica_pids(engine: RunningEngine) -> set[int]:
    return {r["pid"] for d in get(engine, "/v1/deployments") for r in d["replicas"] if r["pid"]}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def audit_cli(state_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "console", "audit", "verify", "--state-dir", str(state_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def durable_view(engine: RunningEngine) -> dict[str, Any]:
    """What must survive a restart: endpoints, split, revisions, deployments' specs, keys, audit."""
    endpoints = get(engine, "/v1/endpoints")
    return {
        "endpoints": [
            {k: ep[k] for k in ("name", "description", "production", "traffic", "mirror", "revision", "created")}
            for ep in endpoints
        ],
        "revisions": {ep["name"]: get(engine, f"/v1/endpoints/{ep['name']}/revisions") for ep in endpoints},
        "keys": {ep["name"]: engine.key(ep["name"]) for ep in endpoints},
        "deployments": [
            {k: d[k] for k in ("name", "endpoint", "model", "runtime", "spec", "created")}
            for d in get(engine, "/v1/deployments")
        ],
        "audit": get(engine, "/v1/audit"),
    }


def test_restart_after_sigterm_restores_state_and_replicas(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "state")
    try:
        engine.apply_demo()
        with engine.client("restorer@test") as client:
            ep = client.endpoint("fraud")
            client.set_traffic("fraud", ep["revision"], {"fraud-v1": 60, "fraud-v2": 40}, {"fraud-v3": 20}, "pre")
        before = durable_view(engine)
        token = engine.token
        old_pids = replica_pids(engine)
        assert len(old_pids) == 4
    finally:
        code = engine.stop()
    assert code == 0
    assert not (engine.state_dir / "engine.json").exists(), "a cleanly stopped engine removes engine.json"
    wait_until(lambda: not any(alive(p) for p in old_pids), 30, what="the old replicas to exit")

    again = start_engine(tmp_path / "state")
    try:
        ep = again.wait_ready("fraud")
        assert durable_view(again) == before
        assert again.token == token
        assert ep["traffic"] == {"fraud-v1": 60, "fraud-v2": 40} and ep["mirror"] == {"fraud-v3": 20}
        assert ep["applied_revision"] == ep["revision"] == 2
        assert {d["name"]: (d["replicas_ready"], d["replicas_desired"]) for d in ep["deployments"]} == {
            "fraud-v1": (2, 2), "fraud-v2": (1, 1), "fraud-v3": (1, 1)}
        assert not replica_pids(again) & old_pids
        resp = again.score("fraud")
        assert resp.status_code == 200 and resp.headers["x-deployment"] in ("fraud-v1", "fraud-v2")
        assert get(again, "/v1/audit/verify")["ok"] is True
    finally:
        assert again.stop() == 0


class Shifter(threading.Thread):
    """Changes the split as fast as the engine takes it, until the engine is gone."""

    def __init__(self, engine: RunningEngine) -> None:
        super().__init__(daemon=True)
        self.url = f"{engine.control_url}/v1/endpoints/fraud/traffic"
        self.headers = {"Authorization": f"Bearer {engine.token}", "X-Actor": "shifter@test"}
        self.revision = get(engine, "/v1/endpoints/fraud")["revision"]
        self.committed: dict[int, tuple[dict[str, int], dict[str, int]]] = {}
        self.unexpected: list[str] = []
        self.ended_by: str = ""

    def run(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10) as http:
            for step in range(5000):
                weight = 10 + (step * 7) % 81
                traffic = {"fraud-v1": weight, "fraud-v2": 100 - weight}
                mirror = {"fraud-v3": step % 3 * 5}
                try:
                    resp = http.put(self.url, json={"traffic": traffic, "mirror": mirror, "reason": f"step {step}"},
                                    headers={"If-Match": str(self.revision)})
                except httpx.TransportError as exc:
                    self.ended_by = repr(exc)
                    return
                if resp.status_code != 200:
                    self.unexpected.append(f"{resp.status_code} {resp.text}")
                    return
                body = resp.json()
                if body["applied_revision"] != body["revision"]:
                    self.unexpected.append(f"answered before applied: {body}")
                self.revision = body["revision"]
                self.committed[self.revision] = (traffic, mirror)
        self.ended_by = "ran out of steps"


def test_sigkill_during_traffic_changes_loses_no_committed_revision(tmp_path: Path) -> None:
    engine = start_engine(tmp_path / "state")
    try:
        engine.apply_demo()
        pids = replica_pids(engine)
        assert len(pids) == 4
        shifter = Shifter(engine)
        half_applied: list[dict[str, Any]] = []

        def enough_commits() -> bool:
            ep = get(engine, "/v1/endpoints/fraud")
            if ep["applied_revision"] != ep["revision"]:
                half_applied.append(ep)
            return len(shifter.committed) >= 25

        shifter.start()
        try:
            wait_until(enough_commits, 60, interval=0.01, what="25 committed shifts")
        finally:
            engine.kill()  # SIGKILL, with the shifter still writing
            shifter.join(30)
        assert not shifter.is_alive()
        assert shifter.ended_by and "ran out" not in shifter.ended_by
        assert shifter.unexpected == [] and half_applied == []
    finally:
        engine.kill()
    # Replicas never outlive their engine, even one killed with SIGKILL.
    wait_until(lambda: not any(alive(p) for p in pids), 30, what="the dead engine's replicas to exit")

    again = start_engine(tmp_path / "state")
    try:
        ep = again.wait_ready("fraud")
        history = {r["number"]: r for r in get(again, "/v1/endpoints/fraud/revisions")}
        assert sorted(history) == list(range(1, len(history) + 1)), "revision numbers have no gaps"
        for number, (traffic, mirror) in shifter.committed.items():
            assert history[number]["traffic"] == traffic and history[number]["mirror"] == mirror, number
            assert history[number]["actor"] == "shifter@test"
        assert ep["revision"] == max(history) >= max(shifter.committed)
        assert ep["applied_revision"] == ep["revision"]
        assert ep["traffic"] == history[ep["revision"]]["traffic"]
        verdict = get(again, "/v1/audit/verify")
        assert verdict["ok"] is True and verdict["first_broken"] is None
        shifts = [e for e in get(again, "/v1/audit") if e["action"] == "traffic.shift" and e["outcome"] == "ok"]
        assert {e["after"]["revision"] for e in shifts} == set(history) - {1}, "each revision has its audit event"
        assert not replica_pids(again) & pids
    finally:
        again.stop()


def test_audit_verify_names_the_first_tampered_event(tmp_path: Path) -> None:
    state = tmp_path / "state"
    engine = start_engine(state)
    try:
        with engine.client("auditor@test") as client:
            for description in ("first", "second", "third", "fourth"):
                client.request("POST", "/v1/apply", json={"specs": [
                    {"kind": "Endpoint", "name": "audited", "description": description}]})
            assert client.request("GET", "/v1/audit/verify") == {
                "ok": True, "events": 4, "first_broken": None, "why": None}
    finally:
        engine.stop()

    done = audit_cli(state)
    assert done.returncode == 0 and "4 events" in done.stdout and "verified" in done.stdout

    untouched = tmp_path / "copy"
    shutil.copytree(state, untouched)
    with sqlite3.connect(state / "state.db") as db:
        db.execute("UPDATE audit SET reason = 'nothing to see' WHERE seq = 2")
    db.close()
    done = audit_cli(state)
    assert done.returncode == 1
    assert "BROKEN at event 2" in done.stderr and "edited" in done.stderr

    with sqlite3.connect(untouched / "state.db") as db:
        db.execute("DELETE FROM audit WHERE seq = 3")
    db.close()
    done = audit_cli(untouched)
    assert done.returncode == 1 and "BROKEN at event 4" in done.stderr and "missing" in done.stderr

    # The engine reports the same through its API.
    engine = start_engine(state)
    try:
        verdict = get(engine, "/v1/audit/verify")
        assert verdict["ok"] is False and verdict["first_broken"] == 2 and verdict["events"] == 4
    finally:
        engine.stop()
