"""Approvals for Kubernetes clusters in the approvals dock: a proposal stored on an HTTPRoute (the
switchboard.dev/proposal annotation) by one identity appears live in the dock of a console connected as another
identity, which approves it (the route's weights change, the annotation goes, the console's audit log has the
event); the proposer cannot approve its own; an identity without patch on the route sees Approve disabled with
the missing permission; a route changed since the proposal and an expired proposal are refused in words.
Against the fake API server (tests/k8sfake) through the official client, two kubeconfig users with their own
tokens and RBAC rules. The screenshot of the dock is taken under Xvfb (run this file with --shots DIR)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from console.backends.credentials import CredentialStore
from console.backends.kubernetes import history, routes_patch
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.release.approvals import PendingApprovalsDock
from console.ui.release.cluster import ClusterProposal
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.k8sfake.clientkit import api_client
from tests.shots import pump, render_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.gui]
GWV = "gateway.networking.k8s.io/v1"
ROUTE_KEY = "HTTPRoute default/iris"
VIEWER = (Rule(verbs=("get", "list", "watch", "create"), name="viewers"),)  # create: the access reviews


def seed(cluster: FakeCluster) -> None:
    cluster.seed_deployment("iris-v1")
    cluster.seed_deployment("iris-v2", image="registry.example/iris:v2")
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}))


def open_window(tmp: Path, place: str) -> tuple[Console, MainWindow]:
    """The main window with one kubeconfig context connected (KUBECONFIG set by the caller)."""
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp / "config"))
    window = MainWindow(console, QSettings(str(tmp / "console.ini"), QSettings.Format.IniFormat))
    engine = console.load(tmp / "engine")
    if engine is not None:
        console.remove_place(engine)  # only the cluster here
    window._on_console_places_changed()
    console.connect_place(place)
    return console, window


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path / "cluster", history=500, bookmark_interval=0.2) as running:  # alice: "fake"
        seed(running)
        running.add_token("bob")  # may do anything
        running.add_token("carol", VIEWER)  # may read, not patch
        yield running


@pytest.fixture
def open_as(tmp_path: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, qtbot: Any
            ) -> Iterator[Callable[[str], MainWindow]]:
    """A console window connected as the context `place` (kube-fake: alice, kube-bob, kube-carol)."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    opened: list[tuple[Console, MainWindow]] = []

    def make(place: str) -> MainWindow:
        console, window = open_window(tmp_path / place, place)
        qtbot.addWidget(window)
        window.show()
        opened.append((console, window))
        qtbot.waitUntil(lambda: window.inventory.select(place, "default/iris"), timeout=20_000)
        return window

    yield make
    for console, window in opened:
        window.close()
        assert console.shutdown(timeout_s=5.0), "a worker was still busy after the window closed"
        assert console.runner.active_threads() == 0


def propose(cluster: FakeCluster, context: str, split: dict[str, int], reason: str, **kw: Any) -> None:
    """Another console (the identity of `context`) proposes, as history.propose does for it."""
    user = "alice" if context == "fake" else context
    with api_client(cluster.kubeconfig, context=context) as api:
        history.propose(api, "HTTPRoute", "default", "iris", split, proposer=user, reason=reason, **kw)


def row(window: MainWindow, qtbot: Any, until: Callable[[ClusterProposal], bool] = lambda _p: True
        ) -> ClusterProposal:
    """Wait for the dock to list the proposal on iris (its own timer reads the watch cache) and select it."""
    dock = window.approvals_dock

    def listed() -> ClusterProposal | None:
        return next((p for p in dock.model.items() if isinstance(p, ClusterProposal) and p.key[1] == ROUTE_KEY
                     and until(p)), None)

    qtbot.waitUntil(lambda: listed() is not None, timeout=20_000)
    found = listed()
    assert found is not None and dock.select(*found.key)
    return found


def decide(dock: PendingApprovalsDock, qtbot: Any, verb: str, reason: str = "") -> tuple[str, object]:
    """Press Approve (or Withdraw/Reject), read the confirmation, confirm; (its text, the outcome)."""
    qtbot.waitUntil(lambda: (dock.approve_button if verb == "approve" else dock.reject_button).isEnabled(),
                    timeout=10_000)
    dock.cluster.confirm = None
    (dock.approve_button if verb == "approve" else dock.reject_button).click()
    dialog = dock.cluster.confirm
    assert dialog is not None and dialog.isVisible()
    said = dialog.text.text()
    if reason:
        dialog.reason.setText(reason)
    with qtbot.waitSignal(dock.sig_decision_finished, timeout=15_000) as blocker:
        dialog.ok_button.click()
    return said, blocker.args[1]


def route(cluster: FakeCluster) -> dict[str, Any]:
    return cluster.get(GWV, "HTTPRoute", "default", "iris")


def weights(cluster: FakeCluster) -> list[int]:
    return [r["weight"] for r in route(cluster)["spec"]["rules"][0]["backendRefs"]]


def events(window: MainWindow, place: str) -> list[Any]:
    return window.console.audit_log.events(0, place=place)


def test_a_proposal_by_another_identity_shows_live_and_is_approved(open_as, cluster, qtbot):
    window = open_as("kube-bob")
    dock = window.approvals_dock
    propose(cluster, "fake", {"iris-v1": 50, "iris-v2": 50}, "canary looks good")
    item = row(window, qtbot)  # live: read from the watch cache by the dock's own timer
    assert dock.isVisible()  # a proposal by someone else shows the dock, and a message says so
    assert any("Approval wanted: HTTPRoute bob/default/iris" in m.text and "alice" in m.text
               for m in window.console.sink.messages)
    assert (item.where, item.proposer, item.identity, item.mine) == ("bob/default/iris", "alice", "bob", False)
    cells = [dock.model.index(0, c).data() for c in range(dock.model.columnCount())]
    assert cells[:5] == ["HTTPRoute", "bob/default/iris", "alice",
                         "iris-v1 90%, iris-v2 10% → iris-v1 50%, iris-v2 50%", "canary looks good"]
    assert "(expired)" not in cells[5]
    details = dock.details.toPlainText()
    for expected in ("alice", "iris-v1 90%, iris-v2 10%", "iris-v1 50%, iris-v2 50%", "canary looks good",
                     "Created", "Expires", "You are bob at bob"):
        assert expected in details, details
    qtbot.waitUntil(lambda: "bob may patch HTTPRoute default/iris" in dock.details.toPlainText(), timeout=10_000)

    said, record = decide(dock, qtbot, "approve", "numbers look fine")
    assert "Approve the proposal by alice for bob/default/iris?" in said and "iris-v1 50%, iris-v2 50%" in said
    assert not isinstance(record, BaseException)
    assert weights(cluster) == [50, 50]
    assert history.PROPOSAL_ANNOTATION not in route(cluster)["metadata"]["annotations"]
    assert history.history_of(route(cluster))[-1]["actor"] == "bob"
    assert "Approved the proposal by alice for bob/default/iris: the split is now iris-v1 50%, iris-v2 50%" \
        in dock.outcome.text()
    last = events(window, "kube-bob")[-1]
    assert (last.action, last.outcome, last.actor, last.endpoint) == (
        "kubernetes.traffic-approve", "approved", "bob", "default/iris")
    assert (last.before, last.after) == ({"iris-v1": 90, "iris-v2": 10}, {"iris-v1": 50, "iris-v2": 50})
    assert "numbers look fine" in last.reason and "alice" in last.reason
    qtbot.waitUntil(lambda: not any(isinstance(p, ClusterProposal) for p in dock.model.items()), timeout=20_000)


def test_the_proposer_cannot_approve_its_own_and_withdraws_it(open_as, cluster, qtbot):
    window = open_as("kube-fake")  # alice
    dock = window.approvals_dock
    propose(cluster, "fake", {"iris-v1": 70, "iris-v2": 30}, "step up")
    item = row(window, qtbot)
    assert item.mine and not any("Approval wanted" in m.text for m in window.console.sink.messages)
    assert dock.reject_button.text() == "&Withdraw"

    _said, error = decide(dock, qtbot, "approve")
    assert isinstance(error, BaseException)
    assert dock.outcome.text() == ("Could not approve the proposal by alice for fake/default/iris: you proposed it "
                                   "yourself (alice): another identity must approve it")
    assert weights(cluster) == [90, 10]  # nothing applied
    assert events(window, "kube-fake")[-1].outcome == "refused"

    said, record = decide(dock, qtbot, "withdraw", "not today")
    assert said.startswith("Withdraw the proposal by alice") and not isinstance(record, BaseException)
    assert history.PROPOSAL_ANNOTATION not in route(cluster)["metadata"]["annotations"]
    assert weights(cluster) == [90, 10]
    assert "Withdrew the proposal by alice for fake/default/iris." in dock.outcome.text()
    last = events(window, "kube-fake")[-1]
    assert (last.action, last.outcome, last.reason) == ("kubernetes.traffic-withdraw", "withdrawn", "not today")


def test_an_identity_without_patch_sees_approve_disabled(open_as, cluster, qtbot):
    window = open_as("kube-carol")
    dock = window.approvals_dock
    propose(cluster, "bob", {"iris-v1": 60, "iris-v2": 40}, "bob's step")
    row(window, qtbot)
    missing = "the cluster does not allow patch httproutes.gateway.networking.k8s.io in namespace default"
    qtbot.waitUntil(lambda: missing in dock.approve_button.toolTip(), timeout=10_000)
    assert not dock.approve_button.isEnabled() and not dock.reject_button.isEnabled()
    assert missing in dock.details.toPlainText()
    assert dock.approve_button.toolTip() == dock.reject_button.toolTip()


def test_a_route_changed_since_the_proposal_is_refused_with_what_it_is_now(open_as, cluster, qtbot):
    window = open_as("kube-bob")
    dock = window.approvals_dock
    propose(cluster, "fake", {"iris-v1": 0, "iris-v2": 100}, "all in")
    with api_client(cluster.kubeconfig, context="fake") as api:  # someone shifts the route by hand meanwhile
        routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"iris-v1": 60, "iris-v2": 40},
                                   actor="dave", reason="manual")
    row(window, qtbot, until=lambda p: p.live == {"iris-v1": 60, "iris-v2": 40})
    assert "changed since the proposal: iris-v1 60%, iris-v2 40%" in dock.details.toPlainText()

    _said, error = decide(dock, qtbot, "approve")
    assert isinstance(error, BaseException)
    text = dock.outcome.text()
    assert text.startswith("Could not approve the proposal by alice for bob/default/iris: the route changed since "
                           "the proposal (Conflict): it is now iris-v1 60%, iris-v2 40%; the proposal was made on "
                           "iris-v1 90%, iris-v2 10%."), text
    assert weights(cluster) == [60, 40]
    last = events(window, "kube-bob")[-1]
    assert (last.action, last.outcome) == ("kubernetes.traffic-approve", "refused")


def test_an_expired_proposal_is_marked_and_refused(open_as, cluster, qtbot):
    window = open_as("kube-bob")
    dock = window.approvals_dock
    propose(cluster, "fake", {"iris-v1": 80, "iris-v2": 20}, "yesterday's idea", now=time.time() - 7200)
    row(window, qtbot)
    assert dock.model.index(0, 5).data().endswith("(expired)")
    assert "(expired)" in dock.details.toPlainText()
    _said, error = decide(dock, qtbot, "approve")
    assert isinstance(error, BaseException)
    assert "Could not approve the proposal by alice for bob/default/iris: the proposal expired at" \
        in dock.outcome.text()
    assert weights(cluster) == [90, 10]


# ---------------------------------------------------------------- the screenshot, under Xvfb

@pytest.mark.screenshot
def test_cluster_approvals_screenshot(tmp_path: Path) -> None:
    render_in_subprocess(__file__, tmp_path / "shots", "cluster_approvals.png")


def render_screenshot(out: Path) -> None:
    """Maria's console on prod-eu: Sam's proposal on the iris route, selected, Approve enabled."""
    import tempfile

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication, QSplitter

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as folder, \
            start_fake_cluster(Path(folder) / "cluster", user="maria", context="prod-eu") as cluster:
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
        seed(cluster)
        cluster.add_token("sam", context="sam@prod-eu")
        cluster.seed_deployment("fraud-v1")
        cluster.seed_deployment("fraud-v2")
        cluster.create(objects.httproute("fraud", {"fraud-v1": 50, "fraud-v2": 50}))
        with api_client(cluster.kubeconfig, context="sam@prod-eu") as api:
            history.propose(api, "HTTPRoute", "default", "iris", {"iris-v1": 75, "iris-v2": 25}, proposer="sam",
                            reason="v2 p95 within SLO for 2 h at 10%", ttl_s=4 * 3600)
            history.propose(api, "HTTPRoute", "default", "fraud", {"fraud-v1": 0, "fraud-v2": 100}, proposer="sam",
                            reason="finish the fraud-v2 rollout", now=time.time() - 3 * 3600)
        console, window = open_window(Path(folder), "kube-prod-eu")
        window.resize(1500, 900)
        window.show()
        dock = window.approvals_dock
        pump(lambda: sum(isinstance(p, ClusterProposal) for p in dock.model.items()) == 2)
        assert dock.select("kube-prod-eu", "HTTPRoute default/iris")
        pump(lambda: dock.approve_button.isEnabled())
        dock.setFloating(True)
        dock.resize(1500, 400)
        splitter = dock.table.parentWidget()
        assert isinstance(splitter, QSplitter)
        splitter.setSizes([1000, 500])
        QCoreApplication.processEvents()
        dock.grab().save(str(out / "cluster_approvals.png"))
        window.close()
        console.shutdown(timeout_s=5.0)
    app.quit()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shots":
        render_screenshot(Path(sys.argv[2]))
    else:
        sys.exit("usage: test_cluster_approvals.py --shots DIR")
