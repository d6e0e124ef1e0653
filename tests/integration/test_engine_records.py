"""Release records on a real engine under traffic: every revision, approval and rollback with its
actor and reason, the figures of the window before and after each change (the window shortened
to 2 s with SWITCHBOARD_RECORD_WINDOW_S), kept across a restart; `switchboard record` as
Markdown and JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.backends.base import Invalid
from console.domain.endpoint_policy import EndpointPolicy
from console.domain.records import ReleaseRecord
from tests.harness import RunningEngine, start_engine, wait_until
from tests.integration.release_helpers import add_endpoint, caller, cli

pytestmark = pytest.mark.integration

WINDOW_S = "2"
ROW = [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEngine]:
    monkeypatch.setenv("SWITCHBOARD_RECORD_WINDOW_S", WINDOW_S)
    running = start_engine(tmp_path / "state")
    try:
        add_endpoint(running, "pay")
        yield running
    finally:
        running.stop()


class Traffic:
    """About 40 scoring requests a second to `pay` until stopped; the statuses seen."""

    def __init__(self, engine: RunningEngine) -> None:
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._key, self._url = engine.key("pay"), f"{engine.data_url}/endpoints/pay/score"
        self._thread = threading.Thread(target=self._send, name="record-traffic")
        self._thread.start()

    def _send(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self._key}"}, timeout=10) as http:
            while not self._stop.wait(0.025):
                self.statuses.append(http.post(self._url, json={"inputs": ROW}).status_code)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def traffic(engine: RunningEngine) -> Iterator[Traffic]:
    running = Traffic(engine)
    try:
        wait_until(lambda: len(running.statuses) > 80, 20, what="traffic flowing for two seconds")
        yield running
    finally:
        running.stop()


def record(engine: RunningEngine, **params: str) -> ReleaseRecord:
    with caller(engine, "auditor@host", None) as client:
        return client.record("pay", params.get("since", "1h"), params.get("until"))


def measured(engine: RunningEngine, revision: int) -> ReleaseRecord | None:
    made = record(engine)
    change = next(c for c in made.changes if c.revision == revision)
    return made if change.figures_after is not None else None


def test_the_record_lists_changes_approvals_and_rollbacks_with_figures_before_and_after(
        engine: RunningEngine, traffic: Traffic, tmp_path: Path) -> None:
    with caller(engine, "alice@laptop", "cli-alice") as alice, caller(engine, "bob@desk", "console-bob") as bob:
        shifted = alice.set_traffic("pay", {"pay-a": 50, "pay-b": 50}, {}, if_match=1, reason="canary half")
        wait_until(lambda: measured(engine, shifted.revision), 15, what="the figures after revision 2")
        bob.set_policy("pay", EndpointPolicy(approval_required=True))
        proposal = alice.propose("pay", {"pay-a": 10, "pay-b": 90}, revision=2, reason="nearly all")
        _, approved = bob.approve(proposal.id, "go")
        rolled = bob.rollback("pay", if_match=approved.revision, reason="p95 up on pay-b")
        wait_until(lambda: measured(engine, rolled["revision"]), 15, what="the figures after the rollback")

    made = record(engine)
    assert [(c.revision, c.kind, c.actor) for c in made.changes] == [
        (1, "create", "tester@test"), (2, "shift", "alice@laptop"), (3, "shift", "bob@desk"),
        (4, "rollback", "bob@desk")]
    create, shift, via_approval, rollback = made.changes
    assert shift.reason == "canary half" and shift.identity == "cli-alice"
    assert shift.before is not None and shift.before.traffic == {"pay-a": 100}
    before, after = shift.figures_before, shift.figures_after
    assert before is not None and after is not None
    assert before.deployments["pay-a"].requests > 0  # pay-b had no share before: no requests
    assert "pay-b" not in before.deployments or before.deployments["pay-b"].requests == 0
    assert after.deployments["pay-a"].requests > 0 and after.deployments["pay-b"].requests > 0
    assert after.deployments["pay-b"].latency_ms["p95"] > 0 and after.deployments["pay-b"].errors_5xx == 0
    assert (after.end - after.start).total_seconds() == float(WINDOW_S)
    assert (via_approval.proposal, via_approval.proposer, via_approval.approver) == (
        proposal.id, "alice@laptop", "bob@desk")
    assert via_approval.figures_after is not None and "cut short by revision 4" in via_approval.figures_after.note
    assert rollback.restores == 2 and rollback.reason == "p95 up on pay-b"
    assert rollback.after.traffic == {"pay-a": 50, "pay-b": 50}
    assert [p.id for p in made.proposals] == [proposal.id]
    actions = [e.action for e in made.events]
    assert actions.count("traffic.shift") == 2 and "proposal.approve" in actions and "endpoint.policy" in actions
    assert set(traffic.statuses) == {200}

    # the window: since/until pick the changes inside it
    narrow = record(engine, since=shift.time.isoformat(), until=shift.time.isoformat())
    assert [c.revision for c in narrow.changes] == [2] and narrow.live_at_start == create

    # Markdown and JSON from the CLI, to a file and to stdout
    md = cli(engine, tmp_path, "record", "pay", "--since", "1h", "-o", str(tmp_path / "pay.md"))
    assert md.returncode == 0, md.stderr
    assert "release record of pay: 4 changes" in md.stdout
    text = (tmp_path / "pay.md").read_text()
    assert text.startswith("# Release record: pay\n")
    assert "### Revision 4 · rollback" in text and "- Restores: revision 2" in text
    assert f"- Approval: proposal {proposal.id} by alice@laptop, approved by bob@desk" in text
    assert "| pay-b | after |" in text
    as_json = cli(engine, tmp_path, "record", "pay", "--since", "1h", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert [c["revision"] for c in json.loads(as_json.stdout)["changes"]] == [1, 2, 3, 4]
    bad = cli(engine, tmp_path, "record", "pay", "--since", "last tuesday")
    assert bad.returncode == 1 and "since: 'last tuesday' is neither a duration" in bad.stderr


def test_figures_survive_a_restart_and_a_bad_window_is_refused(engine: RunningEngine, traffic: Traffic) -> None:
    with caller(engine, "alice@laptop", "cli-alice") as alice:
        alice.set_traffic("pay", {"pay-a": 75, "pay-b": 25}, {}, if_match=1, reason="quarter")
        kept = wait_until(lambda: measured(engine, 2), 15, what="the figures after revision 2")
        with pytest.raises(Invalid, match="the window is empty"):
            alice.record("pay", "2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z")
        with pytest.raises(Invalid, match="has no time zone"):
            alice.record("pay", "2025-01-01T00:00:00")
    traffic.stop()
    assert engine.stop() == 0
    again = start_engine(engine.state_dir)
    try:
        with caller(again, "auditor@host", None) as client:
            after = client.record("pay", "1h")
        assert after.changes[1].figures_after == kept.changes[1].figures_after
        assert after.changes[1].figures_before == kept.changes[1].figures_before
    finally:
        again.stop()
