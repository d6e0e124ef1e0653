"""PlacesTreeModel and the places panel."""

from __future__ import annotations

import pytest

from console.backends.base import PlaceKind
from console.backends.places import PlaceConfig
from console.ui.models.places import PLACE_ROLE, PlacesTreeModel
from console.ui.monitor import Health
from console.ui.views.places import PlacesPanel

pytestmark = pytest.mark.gui


def _places():
    return [PlaceConfig(id="e1", kind=PlaceKind.ENGINE, name="Local engine", state_dir="/tmp/s", auto=True),
            PlaceConfig(id="s1", kind=PlaceKind.SERVING, name="vllm", url="http://gpu1:8000"),
            PlaceConfig(id="p1", kind=PlaceKind.PROMETHEUS, name="prom", url="http://prom:9090")]


def test_model_contract_and_updates(qtmodeltester):
    model = PlacesTreeModel()
    for config in _places():
        model.upsert(config)
    qtmodeltester.check(model, force_py=True)
    model.set_health("s1", Health("unreachable", error="gpu1:8000: connection refused", next_try=1e12, failures=3))
    model.upsert(PlaceConfig(id="s1", kind=PlaceKind.SERVING, name="vllm-2", url="http://gpu1:8000"))
    model.upsert(PlaceConfig(id="p1", kind=PlaceKind.SERVING, name="prom moved", url="http://prom:9090"))
    model.refresh_countdowns()
    model.remove("e1")
    index = model.find("s1")
    assert index.data() == "vllm-2"
    assert "unreachable" in model.index(index.row(), 1, index.parent()).data()
    assert model.index(2, 0).data() == "Serving hosts (2)"


def test_panel_selects_and_requests_edit_of_added_places_only(qtbot):
    model = PlacesTreeModel()
    for config in _places():
        model.upsert(config)
    panel = PlacesPanel(model)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.tree.accessibleName()
    with qtbot.waitSignal(panel.sig_place_selected) as blocker:
        panel.select("e1")
    assert blocker.args == ["e1"]
    assert not panel.edit_button.isEnabled()  # the automatic local engine place is not edited
    panel.select("s1")
    assert panel.edit_button.isEnabled() and panel.remove_button.isEnabled()
    with qtbot.waitSignal(panel.sig_edit_requested) as blocker:
        panel.edit_button.click()
    assert blocker.args == ["s1"]
    with qtbot.waitSignal(panel.sig_remove_requested):
        panel.remove_button.click()
    with qtbot.waitSignal(panel.sig_add_requested):
        panel.add_button.click()
    assert panel.current_place() == model.find("s1").data(PLACE_ROLE)


def test_a_kubeconfig_context_offers_its_settings_but_not_removal(qtbot):
    model = PlacesTreeModel()
    model.upsert(PlaceConfig(id="kube-prod", kind=PlaceKind.KUBERNETES, name="prod", context="prod", auto=True))
    panel = PlacesPanel(model)
    qtbot.addWidget(panel)
    panel.show()
    panel.select("kube-prod")
    assert panel.edit_button.isEnabled() and not panel.remove_button.isEnabled()
    assert "Namespaces and read-only" in panel.edit_button.toolTip()
    with qtbot.waitSignal(panel.sig_edit_requested) as blocker:
        panel.edit_button.click()
    assert blocker.args == ["kube-prod"]
