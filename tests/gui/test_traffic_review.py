"""The review, rollback and conflict dialogs on built snapshots (no engine): verdicts, what
can and cannot be sent, production confirmation, approval, the command and the load."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtGui import QGuiApplication

from console.domain.endpoint_policy import EndpointPolicy
from console.domain.models import Revision
from console.domain.telemetry import Sample
from console.ui.traffic.calls import EndpointRead
from console.ui.traffic.conflict import ConflictDialog
from console.ui.traffic.review import ReviewDialog
from console.ui.traffic.rollback import RollbackDialog
from console.ui.traffic.send import ConflictInfo
from tests.gui.factories import endpoint

pytestmark = pytest.mark.gui
NOW = 1_750_000_000.0


def _revs(now: float, shares: list[dict[str, int]], age_s: float = 3600) -> tuple[Revision, ...]:
    start = datetime.fromtimestamp(now - age_s, tz=UTC)
    return tuple(Revision(endpoint="fraud", number=i, traffic=s, mirror={}, time=start + timedelta(seconds=60 * i),
                          actor="alice@host", reason=f"step {i}", kind="create" if i == 1 else "shift")
                 for i, s in enumerate(shares, start=1))


def _samples(now: float, rps: dict[str, float], seconds: int = 30) -> list[Sample]:
    return [Sample(time=now - i, endpoint="fraud", deployment=d, requests=r, errors_5xx=0,
                   latency_ms={"p95": 5.0}) for i in range(seconds) for d, r in rps.items()]


def _review(qtbot, traffic, status=None, samples=None, clock=None, in_flight=None, **kw):
    status = status or endpoint(traffic={"fraud-v1": 90, "fraud-v2": 10}, revision=2, **kw)
    read = EndpointRead(status, _revs(NOW, [{"fraud-v1": 100}, dict(status.traffic)], age_s=180), NOW)
    dialog = ReviewDialog("local", read, traffic, {}, "bob@host", lambda: list(samples or []),
                          lambda: in_flight, clock=clock or (lambda: NOW + 1))
    qtbot.addWidget(dialog)
    return dialog


def _verdicts(dialog) -> dict[str, str]:
    return {dialog.guards.item(r, 0).text(): dialog.guards.item(r, 1).text() for r in range(dialog.guards.rowCount())}


def test_a_blocked_change_cannot_be_sent_and_says_why(qtbot):
    dialog = _review(qtbot, {"fraud-v1": 40, "fraud-v2": 10, "fraud-v3": 50})
    assert _verdicts(dialog)["step size"] == "block"
    assert not dialog.send_button.isEnabled()
    assert "Cannot be sent: step size: fraud-v3 would rise 50 points" in dialog.why_not.text()
    assert "step to 25% instead" in dialog.why_not.text()
    confirmed = []
    dialog.sig_change_confirmed.connect(confirmed.append)
    dialog._on_send_button_clicked()
    assert confirmed == []


def test_warnings_need_the_acknowledgement_then_the_change_goes_with_if_match(qtbot):
    samples = _samples(NOW, {"fraud-v1": 18.0, "fraud-v2": 2.0})
    dialog = _review(qtbot, {"fraud-v1": 75, "fraud-v2": 25}, samples=samples)
    verdicts = _verdicts(dialog)
    assert verdicts["step size"] == "warn"  # v2 has held 10% for less than the bake time
    assert verdicts["freshness"] == verdicts["readiness"] == verdicts["one change at a time"] == "pass"
    assert not dialog.send_button.isEnabled() and "Tick the acknowledgement" in dialog.why_not.text()
    rows = {dialog.splits.item(r, 0).text(): [dialog.splits.item(r, c).text() for c in range(7)]
            for r in range(dialog.splits.rowCount())}
    assert rows["fraud-v2"][1:4] == ["10%", "25%", "+15"]
    assert rows["fraud-v2"][6] == "5.0" and rows["fraud-v1"][6] == "15.0"  # of 20 live req/s now
    dialog.reason.setText("canary step 2")
    assert dialog.command.text() == ("switchboard traffic set fraud fraud-v1=75 fraud-v2=25 fraud-v3=0 "
                                     "--if-match 2 --reason 'canary step 2'")
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == dialog.command.text()
    dialog.acknowledge.setChecked(True)
    assert dialog.send_button.isEnabled() and dialog.send_button.text() == "Apply change"
    confirmed = []
    dialog.sig_change_confirmed.connect(confirmed.append)
    dialog.send_button.click()
    [change] = confirmed
    assert (change.kind, change.revision, change.traffic["fraud-v2"], change.reason) == ("shift", 2, 25,
                                                                                        "canary step 2")


def test_production_needs_the_endpoint_name_typed_and_a_reason(qtbot):
    dialog = _review(qtbot, {"fraud-v1": 80, "fraud-v2": 20}, status=endpoint(
        traffic={"fraud-v1": 90, "fraud-v2": 10}, revision=2).model_copy(update={"production": True}))
    dialog.acknowledge.setChecked(True)
    assert dialog.confirm_name.isVisibleTo(dialog)
    assert _verdicts(dialog)["production"] == "block"
    assert "type the endpoint name 'fraud' to confirm; give a reason" in dialog.why_not.text()
    dialog.confirm_name.setText("frau")
    assert "'frau' is not the endpoint name 'fraud'" in dialog.why_not.text()
    dialog.confirm_name.setText("fraud")
    dialog.reason.setText("INC-42")
    assert _verdicts(dialog)["production"] == "pass" and dialog.send_button.isEnabled()


def test_policy_requiring_approval_turns_the_button_into_propose(qtbot):
    status = endpoint(traffic={"fraud-v1": 90, "fraud-v2": 10}, revision=2).model_copy(
        update={"policy": EndpointPolicy(approval_required=True, bake_s=0)})
    dialog = _review(qtbot, {"fraud-v1": 80, "fraud-v2": 20}, status=status)
    assert dialog.send_button.text() == "Propose" and dialog.send_button.isEnabled()
    assert dialog.command.text().startswith("switchboard propose fraud ")
    confirmed = []
    dialog.sig_change_confirmed.connect(confirmed.append)
    dialog.send_button.click()
    assert confirmed[0].kind == "propose"


def test_data_that_ages_past_the_freshness_bound_blocks_until_refreshed(qtbot):
    now = [NOW + 1]
    dialog = _review(qtbot, {"fraud-v1": 80, "fraud-v2": 20}, clock=lambda: now[0],
                     status=endpoint(traffic={"fraud-v1": 90, "fraud-v2": 10}, revision=2).model_copy(
                         update={"policy": EndpointPolicy(bake_s=0)}))
    assert dialog.send_button.isEnabled()
    now[0] = NOW + 30
    dialog.judge()
    assert _verdicts(dialog)["freshness"] == "block" and not dialog.send_button.isEnabled()
    asked = []
    dialog.sig_refresh_requested.connect(lambda *a: asked.append(a))
    dialog.refresh_button.click()
    assert asked == [("local", "fraud")]
    fresh = dialog.read.status
    dialog.set_read(EndpointRead(fresh, dialog.read.revisions, NOW + 29))
    assert _verdicts(dialog)["freshness"] == "pass" and dialog.send_button.isEnabled()


def test_another_change_in_flight_blocks(qtbot):
    dialog = _review(qtbot, {"fraud-v1": 80, "fraud-v2": 20}, in_flight="this console's rollback is applying")
    assert _verdicts(dialog)["one change at a time"] == "block" and not dialog.send_button.isEnabled()


def test_rollback_confirmation_shows_the_target_and_only_two_guards(qtbot):
    status = endpoint(traffic={"fraud-v1": 50, "fraud-v2": 50}, revision=3)
    revs = _revs(NOW, [{"fraud-v1": 100}, {"fraud-v1": 90, "fraud-v2": 10}, {"fraud-v1": 50, "fraud-v2": 50}])
    dialog = RollbackDialog("local", EndpointRead(status, revs, NOW), "bob@host", lambda: None,
                            clock=lambda: NOW + 1)
    qtbot.addWidget(dialog)
    assert dialog.chosen().number == 2  # the split live before the latest change
    assert [dialog.guards.item(r, 0).text() for r in range(dialog.guards.rowCount())] == [
        "freshness", "one change at a time"]
    rows = {dialog.splits.item(r, 0).text(): dialog.splits.item(r, 2).text() for r in range(dialog.splits.rowCount())}
    assert rows == {"fraud-v1": "90%", "fraud-v2": "10%"}
    assert dialog.splits.item(1, 3).text() == "rolled back from: keeps running"
    assert dialog.reason.text() == "rollback of revision 3 (step 3 by alice@host)"
    dialog.target.setCurrentIndex(dialog.target.findData(1))
    assert "--to-revision 1" in dialog.command.text()
    sent = []
    dialog.sig_rollback_confirmed.connect(sent.append)
    dialog.confirm_button.click()
    assert (sent[0].kind, sent[0].to_revision, sent[0].traffic, sent[0].revision) == (
        "rollback", 1, {"fraud-v1": 100}, 3)
    assert time.perf_counter() - sent[0].clicked < 60


def test_rollback_during_an_automated_rollout_offers_abort(qtbot):
    status = endpoint(traffic={"fraud-v1": 75, "fraud-v3": 25}, revision=3)
    revs = _revs(NOW, [{"fraud-v1": 100}, {"fraud-v1": 90, "fraud-v3": 10}, {"fraud-v1": 75, "fraud-v3": 25}])
    rollout = {"id": "r1", "active": True, "description": "progressing at step 2 of 4 (25% to fraud-v3)",
               "baseline": "fraud-v1"}
    dialog = RollbackDialog("local", EndpointRead(status, revs, NOW, rollout), "bob@host", lambda: None,
                            clock=lambda: NOW + 1)
    qtbot.addWidget(dialog)
    assert dialog.confirm_button.text() == "&Abort the rollout"
    assert "refuses a rollback by hand" in dialog.rollout_note.text()
    aborted = []
    dialog.sig_abort_confirmed.connect(lambda *a: aborted.append(a))
    dialog.confirm_button.click()
    assert aborted == [("local", "fraud", "rollback of revision 3 (step 3 by alice@host)")]


def test_conflict_dialog_names_who_changed_what_and_offers_a_fresh_start(qtbot):
    from console.ui.traffic.calls import Change

    status = endpoint(traffic={"fraud-v1": 50, "fraud-v2": 50}, revision=3)
    revs = _revs(NOW, [{"fraud-v1": 100}, {"fraud-v1": 90, "fraud-v2": 10}, {"fraud-v1": 50, "fraud-v2": 50}])
    change = Change("local", "fraud", "shift", 2, {"fraud-v1": 90, "fraud-v2": 10}, {"fraud-v1": 75, "fraud-v2": 25})
    dialog = ConflictDialog(ConflictInfo(change, EndpointRead(status, revs, NOW), (), "HTTP 409: changed"))
    qtbot.addWidget(dialog)
    text = dialog.headline.text()
    assert "Nothing of your change was applied" in text and "alice@host changed" in text
    assert "now at revision 3" in text and "fraud-v1 50%, fraud-v2 50%" in text
    assert dialog.revisions.rowCount() == 1 and dialog.revisions.item(0, 2).text() == "alice@host"
    started = []
    dialog.sig_start_over_requested.connect(lambda *a: started.append(a))
    dialog.start_over.click()
    assert started == [("local", status)]
