"""InventoryModel: Qt's model contract, and refreshes as row changes, never resets."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt

from console.backends.base import InventorySnapshot
from console.domain.models import DeploymentState
from console.ui.models.inventory import KIND_ROLE, PAYLOAD_ROLE, STALE_ROLE, InventoryModel
from console.ui.models.rows import Col, prepare, short_location
from console.ui.views.inventory import InventoryProxy
from tests.gui.factories import big_snapshot, demo_snapshot, deployment, endpoint

pytestmark = pytest.mark.gui


def _model() -> InventoryModel:
    model = InventoryModel()
    model.add_place("local", "Local engine", "engine", "/tmp/state", freshness_s=10)
    return model


def test_model_contract_through_load_and_diffs(qtmodeltester):
    model = _model()
    model.apply_snapshot(demo_snapshot())
    qtmodeltester.check(model, force_py=True)  # checks now, then watches every change below
    model.apply_snapshot(big_snapshot("local", 5, 3, changed=frozenset({1, 4})))
    model.apply_snapshot(big_snapshot("local", 3, 4, changed=frozenset({2})))
    model.set_place_health("local", "reconnecting")
    model.update_staleness(now=time.time() + 60)
    model.add_place("k8s", "prod", "kubernetes", "ctx", freshness_s=30)
    model.remove_place("local")
    model.apply_snapshot(demo_snapshot("k8s"))


def test_proxy_contract_through_sorting_filtering_and_diffs(qtmodeltester):
    """The view's sort/filter proxy over the model keeps Qt's contract too, while sorted and
    filtered (recursively, as the filter box does) and while snapshots change underneath."""
    model = _model()
    model.apply_snapshot(big_snapshot("local", 6, 3))
    proxy = InventoryProxy()
    proxy.setSourceModel(model)
    proxy.sort(Col.NAME, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(proxy, force_py=True)
    model.apply_snapshot(big_snapshot("local", 6, 3, changed=frozenset({1, 7})))
    proxy.sort(Col.STATE, Qt.SortOrder.AscendingOrder)
    proxy.setRecursiveFilteringEnabled(True)
    proxy.setFilterFixedString("ep-0002")
    assert proxy.rowCount() == 1 and proxy.rowCount(proxy.index(0, 0)) == 1
    model.apply_snapshot(big_snapshot("local", 4, 2, changed=frozenset({4})))  # removes under the filter
    model.add_place("k8s", "prod", "kubernetes", "ctx", freshness_s=30)
    model.apply_snapshot(demo_snapshot("k8s"))
    proxy.setFilterFixedString("fraud-v2")
    assert proxy.rowCount() == 1 and proxy.index(0, 0).data() == "prod"
    model.update_staleness(now=time.time() + 60)
    proxy.setFilterFixedString("")
    proxy.setRecursiveFilteringEnabled(False)
    model.remove_place("local")
    assert proxy.rowCount() == 1


def test_demo_rows_show_model_runtime_replicas_state_split_and_uri():
    model = _model()
    model.apply_snapshot(demo_snapshot())
    ep = model.find("local", "fraud")
    assert ep.isValid() and ep.data(KIND_ROLE) == "endpoint"
    assert model.index(ep.row(), Col.SCORING_URI, ep.parent()).data().endswith("/endpoints/fraud/score")
    v1 = model.find("local", "fraud", "fraud-v1")
    row = [model.index(v1.row(), c, v1.parent()).data() for c in Col]
    assert row[:7] == ["fraud-v1", "fraud:1", "onnx", "2/2", "Ready", "90", "0"]
    v3 = model.find("local", "fraud", "fraud-v3")
    assert model.index(v3.row(), Col.MIRROR, v3.parent()).data() == "5"
    assert model.index(v3.row(), Col.AGE, v3.parent()).data()  # an age is shown


def test_refresh_with_changes_emits_row_changes_not_reset_and_keeps_selection(qtbot):
    model = _model()
    model.apply_snapshot(big_snapshot("local", 20, 5))
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    selection = QItemSelectionModel(proxy)
    target = model.find("local", "ep-0007", "ep-0007-d3")
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    selection.select(proxy.mapFromSource(target), flags)
    resets, changes, inserts, removes = [], [], [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda a, b, r=None: changes.append(a))
    model.rowsInserted.connect(lambda p, a, b: inserts.append((a, b)))
    model.rowsRemoved.connect(lambda p, a, b: removes.append((a, b)))

    model.apply_snapshot(big_snapshot("local", 20, 5, changed=frozenset({3, 50, 99})))
    assert not resets and not inserts and not removes
    changed = {i.siblingAtColumn(0).data() for i in changes}
    assert all(i.column() > 0 for i in changes)  # only changed columns: the sort by name is not disturbed
    assert {"ep-0000-d3", "ep-0010-d0", "ep-0019-d4"} <= changed
    assert len(changes) < 10  # three deployments, their endpoints, the place row
    assert [proxy.mapToSource(i).data() for i in selection.selectedRows()] == ["ep-0007-d3"]


def test_removed_and_added_rows_are_removes_and_inserts():
    model = _model()
    model.apply_snapshot(big_snapshot("local", 4, 2))
    removes, inserts = [], []
    model.rowsRemoved.connect(lambda p, a, b: removes.append((p.data(), a, b)))
    model.rowsInserted.connect(lambda p, a, b: inserts.append((p.data(), a, b)))
    base = big_snapshot("local", 4, 2)
    eps = list(base.endpoints)
    extra = deployment("ep-0002-new", "ep-0002")
    eps[2] = endpoint("ep-0002", traffic={"ep-0002-d0": 100}, deployments=[*eps[2].deployments, extra])
    del eps[1]
    model.apply_snapshot(InventorySnapshot("local", time.time(), tuple(eps)))
    assert removes == [("Local engine", 1, 1)]
    assert inserts == [("ep-0002", 2, 2)]
    assert model.find("local", "ep-0002", "ep-0002-new").isValid()
    assert not model.find("local", "ep-0001").isValid()
    assert model.find("local", "ep-0003").row() == 2


def test_state_change_is_visible_and_stale_marker_follows_freshness():
    model = _model()
    model.apply_snapshot(demo_snapshot(read_at=1000.0))
    snap = demo_snapshot(read_at=1001.0)
    ep = snap.endpoints[0]
    deps = [deployment("fraud-v1", state=DeploymentState.DEGRADED, ready=1), *ep.deployments[1:]]
    model.apply_snapshot(InventorySnapshot("local", 1001.0, (endpoint("fraud", deployments=deps),)))
    v1 = model.find("local", "fraud", "fraud-v1")
    assert model.index(v1.row(), Col.STATE, v1.parent()).data() == "Degraded"
    assert model.update_staleness(now=1005.0) == []
    assert model.update_staleness(now=1020.0) == ["local"]
    assert v1.data(STALE_ROLE) is True
    assert "stale" in model.index(v1.row(), Col.NAME, v1.parent()).data(3)  # tooltip
    place = model.find("local")
    assert model.index(place.row(), Col.STATE).data() == "stale"
    model.apply_snapshot(demo_snapshot(read_at=1021.0))
    assert v1.data(STALE_ROLE) is False


def test_prepared_rows_are_what_the_model_shows_and_payloads_follow():
    prepared = prepare(demo_snapshot())
    assert prepared.place_id == "local" and [e.name for e in prepared.endpoints] == ["fraud"]
    fraud = prepared.endpoints[0]
    assert [row[Col.NAME] for row in fraud.deployments] == ["fraud-v1", "fraud-v2", "fraud-v3"]
    assert fraud.fingerprint == prepare(demo_snapshot()).endpoints[0].fingerprint  # same facts, same hash
    model = _model()
    model.apply_snapshot(prepared)
    v2 = model.find("local", "fraud", "fraud-v2")
    assert model.index(v2.row(), Col.TRAFFIC, v2.parent()).data() == "10"
    assert v2.data(PAYLOAD_ROLE) == fraud.endpoint.deployments[1]
    assert model.deployment("local", "fraud", "fraud-v2") == fraud.endpoint.deployments[1]
    assert model.endpoint("local", "fraud") is fraud.endpoint


def test_fresh_data_after_stale_repaints_the_rows():
    model = _model()
    model.apply_snapshot(big_snapshot("local", 3, 2, read_at=1000.0))
    model.update_staleness(now=1100.0)
    changed = []
    model.dataChanged.connect(lambda a, b, r=None: changed.append((a.data(KIND_ROLE), b.data(KIND_ROLE))))
    model.apply_snapshot(big_snapshot("local", 3, 2, read_at=1101.0))  # same rows, no longer stale
    assert ("endpoint", "endpoint") in changed and ("deployment", "deployment") in changed
    assert not model.is_stale("local")


def test_structure_version_moves_only_with_inserts_and_removes():
    model = _model()
    model.apply_snapshot(big_snapshot("local", 3, 2))
    version = model.structure_version
    model.apply_snapshot(big_snapshot("local", 3, 2, changed=frozenset({1})))
    assert model.structure_version == version
    model.apply_snapshot(big_snapshot("local", 2, 2))
    assert model.structure_version > version


def test_a_place_row_shows_a_short_location_and_the_full_one_in_its_tooltip():
    model = InventoryModel()
    long_dir = "/tmp/pytest-of-ana/pytest-7/test_something_long0/switchboard/engine"
    model.add_place("local", "Local engine", "engine", long_dir, freshness_s=10)
    place = model.find("local")
    assert model.index(place.row(), Col.SCORING_URI).data() == "/tmp/…/switchboard/engine"
    model.apply_snapshot(demo_snapshot())
    assert model.index(place.row(), Col.SCORING_URI).data() == "/tmp/…/switchboard/engine"
    assert place.data(Qt.ItemDataRole.ToolTipRole) == f"{long_dir}\n1 endpoints, 3 deployments"


@pytest.mark.parametrize("where,shown", [
    ("/home/ana/.local/share/switchboard/engine", "~/.local/share/switchboard/engine"),
    ("/home/ana", "~"),
    ("/home/anabel/x", "/home/anabel/x"),
    ("/home/ana/a-rather-long-directory-name/with/more/switchboard/engine", "~/…/switchboard/engine"),
    ("/srv/switchboard/engine", "/srv/switchboard/engine"),
    ("/var/lib/some-service/instances/one-of-many/switchboard/engine", "/var/…/switchboard/engine"),
    ("http://gpu1:8000/a/very/long/path/that/is/a/url/anyway", "http://gpu1:8000/a/very/long/path/that/is/a/url/anyway"),
    ("", ""),
])
def test_short_location(where, shown):
    assert short_location(where, home="/home/ana") == shown
