"""The endpoint view's table models: Qt's contract; updates by key, never reset."""

from __future__ import annotations

import pytest

from console.domain.models import DeploymentState
from console.ui.models.tables import AuditEventsTableModel, DeploymentsTableModel, RevisionsTableModel
from tests.gui.factories import audit_events, deployment, revisions

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("make,items", [
    (DeploymentsTableModel, lambda: [deployment(f"fraud-v{i}") for i in (1, 2, 3)]),
    (RevisionsTableModel, lambda: revisions(count=4)),
    (AuditEventsTableModel, lambda: audit_events(count=4)),
])
def test_contract(qtmodeltester, make, items):
    model = make()
    model.set_items(items())
    qtmodeltester.check(model, force_py=True)
    model.set_items(items()[1:])
    model.set_items(items())
    model.clear()


def test_deployments_update_by_key_without_reset():
    model = DeploymentsTableModel()
    model.set_items([deployment("a"), deployment("b"), deployment("c")])
    resets, changed, removed, inserted = [], [], [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda a, b, r=None: changed.append(a.row()))
    model.rowsRemoved.connect(lambda p, a, b: removed.append(a))
    model.rowsInserted.connect(lambda p, a, b: inserted.append(a))
    model.set_items([deployment("a"), deployment("c", state=DeploymentState.FAILED), deployment("d")])
    assert not resets
    assert removed == [1] and inserted == [2] and changed == [1]
    assert [model.index(r, 0).data() for r in range(3)] == ["a", "c", "d"]
    assert model.index(1, 4).data() == "Failed"


def test_revisions_show_time_actor_split_reason():
    model = RevisionsTableModel()
    model.set_items(revisions(count=2))
    row = [model.index(1, c).data() for c in range(model.columnCount())]
    assert row[0] == "2" and row[2] == "ana@host" and row[3] == "shift"
    assert row[4] == "fraud-v1 90%, fraud-v2 10%" and row[6] == "step 2"
