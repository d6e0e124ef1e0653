"""The traffic panel on its own: linked sliders and number fields, locks, mirror shares,
presets from the endpoint's policy, nothing sent while editing, and the rollback marker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from console.domain.endpoint_policy import EndpointPolicy
from console.domain.models import Revision
from console.ui.traffic.panel import TrafficPanel
from tests.gui.factories import T0, deployment, endpoint

pytestmark = pytest.mark.gui


def _panel(qtbot, **kwargs) -> TrafficPanel:
    panel = TrafficPanel()
    qtbot.addWidget(panel)
    panel.show_endpoint("local", endpoint(**kwargs))
    return panel


def _shown(panel: TrafficPanel) -> dict[str, tuple[int, int]]:
    return {n: (r.slider.value(), r.spin.value()) for n, r in panel.rows.items()}


def test_two_way_split_moves_the_counterpart_and_nothing_is_sent_while_dragging(qtbot):
    deps = [deployment("fraud-v1"), deployment("fraud-v2")]
    panel = _panel(qtbot, deployments=deps, traffic={"fraud-v1": 90, "fraud-v2": 10})
    asked: list[tuple[str, str]] = []
    panel.sig_review_requested.connect(lambda *a: asked.append(a))
    assert not panel.review_button.isEnabled()  # nothing changed: nothing to review
    slider = panel.rows["fraud-v2"].slider
    slider.setSliderDown(True)  # a drag: values stream in
    for value in (12, 18, 25):
        slider.setValue(value)
    slider.setSliderDown(False)
    assert _shown(panel) == {"fraud-v1": (75, 75), "fraud-v2": (25, 25)}
    assert asked == []  # editing sends nothing and asks for nothing
    assert panel.review_button.isEnabled() and panel.reset_button.isEnabled()
    qtbot.mouseClick(panel.review_button, Qt.MouseButton.LeftButton)
    assert asked == [("local", "fraud")]
    panel.reset()
    assert _shown(panel) == {"fraud-v1": (90, 90), "fraud-v2": (10, 10)}


def test_three_way_rebalances_proportionally_and_a_lock_pins_a_share(qtbot):
    panel = _panel(qtbot, traffic={"fraud-v1": 60, "fraud-v2": 30, "fraud-v3": 10})
    panel.rows["fraud-v3"].spin.setValue(40)  # typed in the number field
    assert panel.traffic == {"fraud-v1": 40, "fraud-v2": 20, "fraud-v3": 40}
    assert panel.rows["fraud-v1"].slider.value() == 40
    panel.rows["fraud-v2"].lock.setChecked(True)
    assert not panel.rows["fraud-v2"].slider.isEnabled()
    panel.rows["fraud-v3"].slider.setValue(95)
    assert panel.traffic == {"fraud-v1": 0, "fraud-v2": 20, "fraud-v3": 80}
    assert "fraud-v2 is locked at 20%" in panel.message.text() and "at most 80%" in panel.message.text()


def test_mirror_share_is_apart_capped_at_50_and_only_for_deployments_without_live_traffic(qtbot):
    panel = _panel(qtbot, traffic={"fraud-v1": 90, "fraud-v2": 10})
    assert not panel.rows["fraud-v1"].mirror.isEnabled()
    mirror = panel.rows["fraud-v3"].mirror
    assert mirror.isEnabled() and mirror.maximum() == 50
    mirror.setValue(20)
    assert panel.draft() == ({"fraud-v1": 90, "fraud-v2": 10, "fraud-v3": 0}, {"fraud-v3": 20})
    assert sum(panel.traffic.values()) == 100  # mirror is not part of the live split
    panel.rows["fraud-v3"].spin.setValue(5)  # live traffic to the mirror target: its mirror share goes
    assert panel.mirror == {} and not mirror.isEnabled()


def test_presets_come_from_the_endpoint_policy_and_promote_gives_everything(qtbot):
    panel = TrafficPanel()
    qtbot.addWidget(panel)
    status = endpoint(traffic={"fraud-v1": 100}).model_copy(update={"policy": EndpointPolicy(steps=(10, 30, 100))})
    panel.show_endpoint("local", status)
    labels = [b.text() for b in panel.findChildren(QPushButton) if b.objectName().startswith("trafficStep_")]
    assert labels == ["10%", "30%", "100%"]
    panel.candidate.setCurrentText("fraud-v3")
    qtbot.mouseClick(panel.findChild(QPushButton, "trafficStep_30"), Qt.MouseButton.LeftButton)
    assert panel.traffic == {"fraud-v1": 70, "fraud-v2": 0, "fraud-v3": 30}
    qtbot.mouseClick(panel.promote_button, Qt.MouseButton.LeftButton)
    assert panel.traffic == {"fraud-v1": 0, "fraud-v2": 0, "fraud-v3": 100}


def test_rollback_button_is_always_there_and_asks(qtbot):
    panel = _panel(qtbot)
    asked: list[tuple[str, str]] = []
    panel.sig_rollback_requested.connect(lambda *a: asked.append(a))
    assert panel.rollback_button.isEnabled()
    qtbot.mouseClick(panel.rollback_button, Qt.MouseButton.LeftButton)
    assert asked == [("local", "fraud")]


def test_a_new_revision_keeps_the_draft_and_says_so_and_an_untouched_draft_follows(qtbot):
    panel = _panel(qtbot, traffic={"fraud-v1": 90, "fraud-v2": 10})
    panel.show_endpoint("local", endpoint(traffic={"fraud-v1": 80, "fraud-v2": 20}, revision=2))
    assert panel.traffic["fraud-v2"] == 20  # not edited: it follows the endpoint
    panel.set_share("fraud-v2", 25)
    panel.show_endpoint("local", endpoint(traffic={"fraud-v1": 50, "fraud-v2": 50}, revision=3))
    assert panel.traffic["fraud-v2"] == 25
    assert "now at revision 3" in panel.message.text() and "made on revision 2" in panel.message.text()
    assert "revision 3" in panel.heading.text()


def test_the_deployment_rolled_back_from_is_marked_and_stays_listed(qtbot):
    panel = _panel(qtbot, traffic={"fraud-v1": 90, "fraud-v2": 10}, revision=3)
    revs = [Revision(endpoint="fraud", number=1, traffic={"fraud-v1": 90, "fraud-v2": 10}, mirror={}, time=T0,
                     actor="a", reason="", kind="create"),
            Revision(endpoint="fraud", number=2, traffic={"fraud-v1": 50, "fraud-v2": 50}, mirror={},
                     time=T0 + timedelta(minutes=1), actor="a", reason="canary", kind="shift"),
            Revision(endpoint="fraud", number=3, traffic={"fraud-v1": 90, "fraud-v2": 10}, mirror={},
                     time=T0 + timedelta(minutes=2), actor="b", reason="incident", kind="rollback", restores=1)]
    panel.set_history("local", "fraud", revs)
    when = (T0 + timedelta(minutes=2)).astimezone().strftime("%H:%M")
    assert panel.rows["fraud-v2"].note.text() == f"rolled back from at {when} (r3); still running"
    assert panel.rows["fraud-v1"].note.text() == ""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.tuples(st.sampled_from(["fraud-v1", "fraud-v2", "fraud-v3"]), st.integers(-20, 130),
                                st.booleans()), min_size=1, max_size=12),
       locked=st.sets(st.sampled_from(["fraud-v1", "fraud-v2", "fraud-v3"]), max_size=2))
def test_whatever_is_dragged_the_widgets_show_a_valid_split_and_locks_hold(qtbot, moves, locked):
    panel = _panel(qtbot, traffic={"fraud-v1": 60, "fraud-v2": 30, "fraud-v3": 10})
    for name in locked:
        panel.rows[name].lock.setChecked(True)
    pinned = {n: panel.traffic[n] for n in locked}
    for name, value, by_slider in moves:
        row = panel.rows[name]
        widget = row.slider if by_slider else row.spin
        if widget.isEnabled():
            widget.setValue(value)  # the widget clamps to 0..100 as a person's input would be
        shown = {n: r.spin.value() for n, r in panel.rows.items()}
        assert shown == panel.traffic == {n: r.slider.value() for n, r in panel.rows.items()}
        assert sum(shown.values()) == 100 and min(shown.values()) >= 0
        assert {n: shown[n] for n in locked} == pinned
