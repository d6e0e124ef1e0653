"""The pending-approvals dock against a real engine: a proposal made by another identity shows
up with its details and a notification, and the console's approval applies it; the console's
own proposal cannot be approved by the console (the engine's reason is shown); a proposal made
stale by a later change is refused as stale; a rejection needs a reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.exceptions import TimeoutError as WaitTimeout

from console.domain.guards import Guard, Level, Verdict
from console.ui.release.approvals import PendingApprovalsDock
from tests.gui.release_window import messages, release_window
from tests.harness import RunningEngine, start_engine
from tests.integration.release_helpers import add_endpoint, audit, caller

pytestmark = [pytest.mark.gui, pytest.mark.integration]
GATED = "policy: {approval_required: true}\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("ui-approvals") / "state")
    try:
        for name in ("pay", "card", "loan", "bank"):
            add_endpoint(running, name, GATED)
        yield running
    finally:
        running.stop()


@pytest.fixture
def window(engine, tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    with release_window(engine.state_dir, tmp_path, qtbot) as made:
        made.approvals.stop()  # the test polls when it wants a fresh list
        yield made


def poll(window, qtbot, until=lambda items: True) -> list:
    """Read the pending proposals now and wait for the answer (and `until` to hold)."""

    def answered() -> bool:
        return window.approvals.polls > before and until(window.approvals.items())

    for _attempt in range(20):
        before = window.approvals.polls
        window.approvals.poll()
        try:
            qtbot.waitUntil(answered, timeout=3000)
            return window.approvals.items()
        except WaitTimeout:
            continue
    raise AssertionError(f"the pending proposals never matched: {window.approvals.items()}")


def decide(dock: PendingApprovalsDock, qtbot, verb: str):
    with qtbot.waitSignal(dock.sig_decision_finished, timeout=15_000) as blocker:
        (dock.approve_selected if verb == "approve" else dock.reject_selected)()
    return blocker.args[1]


def test_a_second_identity_proposes_and_the_console_approves(engine, window, qtbot):
    dock = window.approvals_dock
    verdict = Verdict(guard=Guard.STEP_SIZE, level=Level.PASS, reason="pay-b rises 10 points")
    with caller(engine, "bob@desk", "cli-bob") as bob:
        revision = bob.endpoint("pay").revision
        made = bob.propose("pay", {"pay-a": 90, "pay-b": 10}, revision=revision, reason="canary 10%",
                           verdicts=[verdict])
        poll(window, qtbot, lambda items: any(p.proposal.id == made.id for p in items))
        # a notification, and the dock shows itself
        assert any(f"Approval wanted: proposal {made.id} of pay" in m and "bob@desk" in m for m in messages(window))
        assert dock.isVisible()
        assert dock.select(window.place_id, made.id)
        details = dock.details.toPlainText()
        for expected in ("bob@desk (identity cli-bob)", f"revision {revision}", "pay-a 100%", "pay-a 90%, pay-b 10%",
                         "canary 10%", "Expires", "pay-b rises 10 points"):
            assert expected in details, details
        dock.reason.setText("numbers look fine")
        done, endpoint = decide(dock, qtbot, "approve")
        assert done.decided_identity == window.console.identity
        assert endpoint.traffic == {"pay-a": 90, "pay-b": 10} == bob.endpoint("pay").traffic
        assert f"Approved proposal {made.id} of pay: revision {revision + 1} is live" in dock.outcome.text()
    poll(window, qtbot, lambda items: all(p.proposal.id != made.id for p in items))
    approve = [e for e in audit(engine, "pay") if e["action"] == "proposal.approve"][-1]
    assert approve["outcome"] == "ok" and approve["identity"] == window.console.identity
    assert approve["reason"] == "numbers look fine"


def test_the_console_cannot_approve_its_own_proposal(engine, window, qtbot):
    dock = window.approvals_dock
    backend = window.console.backend(window.place_id)
    with caller(engine, "x@y", None) as anyone:
        revision = anyone.endpoint("card").revision
    made = backend.propose("card", {"card-a": 75, "card-b": 25}, revision=revision, reason="mine")
    assert made.proposer_identity == window.console.identity
    poll(window, qtbot, lambda items: any(p.proposal.id == made.id for p in items))
    assert not any(f"proposal {made.id} of card" in m for m in messages(window))  # no notice of one's own
    assert dock.select(window.place_id, made.id)
    error = decide(dock, qtbot, "approve")
    text = dock.outcome.text()
    assert f"you proposed it: proposal {made.id} was made by" in str(error)
    assert f"Could not approve proposal {made.id} of card" in text and "another identity must approve it" in text
    with caller(engine, "x@y", None) as anyone:
        assert anyone.endpoint("card").traffic == {"card-a": 100}  # nothing applied
    assert dock.select(window.place_id, made.id)  # still pending for someone else


def test_a_stale_proposal_is_refused_as_stale(engine, window, qtbot):
    dock = window.approvals_dock
    with caller(engine, "bob@desk", "cli-bob") as bob, caller(engine, "ops@host", "cli-ops") as ops:
        revision = bob.endpoint("loan").revision
        first = bob.propose("loan", {"loan-a": 90, "loan-b": 10}, revision=revision, reason="first")
        second = bob.propose("loan", {"loan-a": 80, "loan-b": 20}, revision=revision, reason="second")
        poll(window, qtbot, lambda items: {first.id, second.id} <= {p.proposal.id for p in items})
        ops.approve(first.id, "go")  # the endpoint moves on under the console's list
    assert dock.select(window.place_id, second.id)
    error = decide(dock, qtbot, "approve")
    assert f"proposal {second.id} is stale" in str(error)
    assert f"changed since revision {revision}" in dock.outcome.text()
    with caller(engine, "x@y", None) as anyone:
        assert anyone.endpoint("loan").traffic == {"loan-a": 90, "loan-b": 10}
    poll(window, qtbot, lambda items: all(p.proposal.id != second.id for p in items))


def test_a_rejection_needs_a_reason_and_reaches_the_proposer(engine, window, qtbot):
    dock = window.approvals_dock
    with caller(engine, "bob@desk", "cli-bob") as bob:
        made = bob.propose("bank", {"bank-a": 50, "bank-b": 50}, revision=bob.endpoint("bank").revision)
        poll(window, qtbot, lambda items: any(p.proposal.id == made.id for p in items))
        assert dock.select(window.place_id, made.id)
        dock.reason.clear()
        dock.reject_selected()  # no reason: nothing is sent
        assert "A rejection needs a reason" in dock.outcome.text()
        assert bob.proposal(made.id).state.value == "pending"
        dock.reason.setText("not during the sale")
        done = decide(dock, qtbot, "reject")
        assert done.state.value == "rejected" and bob.proposal(made.id).decision_reason == "not during the sale"
        assert "Rejected proposal" in dock.outcome.text()
