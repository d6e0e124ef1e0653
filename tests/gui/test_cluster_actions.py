"""Cluster actions from the console's window, against the fake API server (tests/k8sfake) through the official
client: a Deployment rolled back from the Cluster menu restores the previous image and writes an audit event; a
Deployment changed since the preview gets the conflict notice with what it is now and is not retried; a paused
Deployment is refused with the reason; a forbidden identity sees the actions disabled with the missing permission;
Argo Rollouts abort / promote / promote fully / undo change the Rollout as `kubectl argo rollouts` does; a Flagger
Canary without a rollback gate says what is needed. The screenshot of the preview dialog is taken under Xvfb (run
this file with --shots DIR)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.domain.models import AuditEvent
from console.ui.cluster.dialogs import ClusterActionDialog
from console.ui.cluster.flows import ClusterActions
from console.ui.cluster.spec import ACTIONS, why_not
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.shots import pump, render_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.gui]
PLACE = "kube-fake"
WAIT_MS = 20_000
ROLLOUTS = "argoproj.io/v1alpha1"


def open_window(tmp: Path, *places: str) -> tuple[Console, MainWindow]:
    """The console's main window with the fake cluster's contexts connected (KUBECONFIG set by the caller)."""
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp / "config"))
    window = MainWindow(console, QSettings(str(tmp / "console.ini"), QSettings.Format.IniFormat))
    console.load(tmp / "engine")
    window._on_console_places_changed()
    for place in places or (PLACE,):
        console.connect_place(place)
    return console, window


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    # auto_rollout: the deployment controller runs after every API write of a Deployment, as a cluster's does
    with start_fake_cluster(tmp_path, history=500, bookmark_interval=0.2, auto_rollout=True) as running:
        yield running


@pytest.fixture
def make_window(tmp_path: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch,
                qtbot: Any) -> Iterator[Callable[..., MainWindow]]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    made: list[tuple[Console, MainWindow]] = []

    def make(*places: str) -> MainWindow:
        console, window = open_window(tmp_path, *places)
        qtbot.addWidget(window)
        window.show()
        made.append((console, window))
        return window

    yield make
    for console, window in made:
        window.close()
        assert console.shutdown(timeout_s=5.0), "a worker was still busy after the window closed"
        assert console.runner.active_threads() == 0


def menu_actions(window: MainWindow, qtbot: Any, *selection: str, place: str = PLACE) -> dict[str, QAction]:
    """Select the row (once the place lists it), wait for the permissions, and fill the Cluster menu."""
    qtbot.waitUntil(lambda: window.inventory.select(place, *selection), timeout=WAIT_MS)
    actions: ClusterActions = window.cluster_actions
    qtbot.waitUntil(lambda: actions.selected_offers() and all(
        o.why_not is None or "checking" not in o.why_not for o in actions.selected_offers()), timeout=WAIT_MS)
    return {a.objectName(): a for a in actions.fill_menu(actions.menu)}


def preview(window: MainWindow, qtbot: Any, action: QAction) -> ClusterActionDialog:
    actions: ClusterActions = window.cluster_actions
    before = actions.dialog
    action.trigger()
    qtbot.waitUntil(lambda: actions.dialog is not before and actions.dialog is not None
                    and actions.dialog.isVisible(), timeout=WAIT_MS)
    assert actions.dialog is not None
    return actions.dialog


def table(dialog: ClusterActionDialog) -> dict[str, tuple[str, str]]:
    t = dialog.table
    return {t.item(r, 0).text(): (t.item(r, 1).text(), t.item(r, 2).text()) for r in range(t.rowCount())}


def confirm(window: MainWindow, qtbot: Any, dialog: ClusterActionDialog, reason: str) -> str:
    """Give the reason, press Confirm; the outcome sentence once the flow has reported it."""
    dialog.reason.setText(reason)
    assert dialog.confirm_button.isEnabled()
    with qtbot.waitSignal(window.cluster_actions.sig_action_finished, timeout=WAIT_MS) as finished:
        dialog.confirm_button.click()
    text = str(finished.args[1])
    assert window.console.sink.messages[-1].text == text  # what the status bar and Messages show
    return text


def audit(window: MainWindow) -> list[AuditEvent]:
    return window.console.audit_log.events(0, place=PLACE)


def image_of(cluster: FakeCluster, name: str) -> str:
    return str(cluster.get("apps/v1", "Deployment", "default", name)["spec"]["template"]["spec"]["containers"][0]
               ["image"])


# ---------------------------------------------------------------- Deployment rollback


def test_deployment_rollback_restores_the_previous_image_and_a_conflict_is_not_retried(
        make_window: Callable[..., MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    cluster.seed_deployment("iris")
    cluster.roll_deployment("default", "iris", "registry.example/model:v2")
    cluster.create(objects.httproute("iris-route", {"iris": 100}))
    window = make_window()

    action = menu_actions(window, qtbot, "default/iris-route", "iris")["cluster-deployment-rollback"]
    assert action.isEnabled() and action.text() == "Roll back Deployment default/iris…"
    dialog = preview(window, qtbot, action)
    rows = table(dialog)
    assert rows["Revision"] == ("2", "1's pod template, as revision 3")
    assert rows["Images"] == ("registry.example/model:v2", "registry.example/model:v1")
    assert rows["Model version"] == ("v2", "v1")
    assert "rollout undo deployment/iris --to-revision=1" in dialog.command.text()
    assert "/metadata/resourceVersion" in dialog.sends.text()

    text = confirm(window, qtbot, dialog, "v2 answers 500s")
    assert image_of(cluster, "iris") == "registry.example/model:v1"
    assert text.startswith("Rolled back Deployment default/iris: now revision 3 (registry.example/model:v1, model v1)"
                           ", the pod template of revision 1; was revision 2")
    [event] = audit(window)
    assert (event.action, event.target, event.place) == ("kubernetes.rollout-undo", "Deployment default/iris", PLACE)
    assert (event.endpoint, event.deployment, event.reason, event.identity) == ("default/iris-route", "iris",
                                                                                "v2 answers 500s", "alice")
    assert event.before["images"] == ["registry.example/model:v2"]
    assert event.after == {"revision": 1, "images": ["registry.example/model:v1"], "model_version": "v1"}
    assert event.outcome.startswith("accepted by the API server")
    assert f"audit event #{event.seq}" in text

    # previewed, then someone rolls the Deployment on: 409, shown as it is now; nothing is retried
    dialog = preview(window, qtbot, menu_actions(window, qtbot, "default/iris-route", "iris")
                     ["cluster-deployment-rollback"])
    assert table(dialog)["Images"] == ("registry.example/model:v1", "registry.example/model:v2")
    cluster.roll_deployment("default", "iris", "registry.example/model:v3")
    text = confirm(window, qtbot, dialog, "stale preview")
    assert "changed since the preview; nothing was changed or retried" in text
    assert "images registry.example/model:v3" in text
    box = window.cluster_actions.conflict
    assert box is not None and box.isVisible() and "registry.example/model:v3" in box.informativeText()
    assert image_of(cluster, "iris") == "registry.example/model:v3"
    failed = audit(window)[-1]
    assert failed.outcome.startswith("conflict: rolling back Deployment default/iris: HTTP 409")
    assert failed.reason == "stale preview"
    box.close()


def test_a_deployment_behind_no_route_is_listed_and_can_be_rolled_back_but_not_shifted(
        make_window: Callable[..., MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    cluster.seed_deployment("batch-scorer")
    cluster.roll_deployment("default", "batch-scorer", "registry.example/model:v2")
    window = make_window()
    action = menu_actions(window, qtbot, "default · no route", "batch-scorer")["cluster-deployment-rollback"]
    assert action.isEnabled() and action.text() == "Roll back Deployment default/batch-scorer…"
    qtbot.waitUntil(lambda: window.inventory.select(PLACE, "default · no route"), timeout=WAIT_MS)
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: panel.blocked() is not None, timeout=WAIT_MS)
    assert panel.blocked() == ("the Deployments of namespace default here are behind no route: "
                               "no traffic split to change")
    assert not panel.review_button.isEnabled()
    dialog = preview(window, qtbot, action)
    confirm(window, qtbot, dialog, "v2 was never meant to ship")
    assert image_of(cluster, "batch-scorer") == "registry.example/model:v1"


def test_a_paused_deployment_is_refused_with_the_reason(make_window: Callable[..., MainWindow],
                                                        cluster: FakeCluster, qtbot: Any) -> None:
    cluster.seed_deployment("iris")
    cluster.roll_deployment("default", "iris", "registry.example/model:v2")
    cluster.create(objects.httproute("iris-route", {"iris": 100}))
    cluster.modify("apps/v1", "Deployment", "default", "iris", lambda d: {**d, "spec": {**d["spec"], "paused": True}})
    window = make_window()
    actions: ClusterActions = window.cluster_actions

    action = menu_actions(window, qtbot, "default/iris-route", "iris")["cluster-deployment-rollback"]
    with qtbot.waitSignal(actions.sig_action_finished, timeout=WAIT_MS):
        action.trigger()
    assert actions.dialog is None
    said = window.console.sink.messages[-1]
    assert said.level == "warning"
    assert said.text.startswith("Roll back Deployment default/iris refused: Deployment default/iris is "
                                "paused; resume it before rolling back (kubectl rollout resume)")
    assert image_of(cluster, "iris") == "registry.example/model:v2" and not audit(window)


# ---------------------------------------------------------------- permissions


def test_a_forbidden_identity_sees_the_actions_disabled_with_the_missing_permission(
        make_window: Callable[..., MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    cluster.seed_deployment("iris")
    cluster.roll_deployment("default", "iris", "registry.example/model:v2")
    cluster.create(objects.httproute("iris-route", {"iris": 100}))
    cluster.create(objects.rollout("canary-ro"))
    cluster.add_token("viewer", [Rule(verbs=("get", "list", "watch"))], context="viewer")
    window = make_window("kube-viewer")

    found = menu_actions(window, qtbot, "default/iris-route", "iris", place="kube-viewer")
    action = found["cluster-deployment-rollback"]
    assert not action.isEnabled()
    assert action.toolTip() == "missing permission: patch deployments.apps in namespace default"

    found = menu_actions(window, qtbot, "default/canary-ro", place="kube-viewer")
    assert {name: a.toolTip() for name, a in found.items() if not a.isEnabled()} == {
        "cluster-argo-abort": "missing permission: patch rollouts/status.argoproj.io in namespace default",
        "cluster-argo-promote": "missing permission: patch rollouts/status.argoproj.io in namespace default",
        "cluster-argo-promote-full": "missing permission: patch rollouts/status.argoproj.io in namespace default",
        "cluster-argo-undo": "missing permission: patch rollouts.argoproj.io in namespace default"}

    # from the keyboard (the command palette) the same action says why, and nothing is read or sent
    # (only the viewer's context is connected: its inventory is the only one listing iris)
    [entry] = [e for e in window.palette_entries() if e.title == "Roll back Deployment…" and e.subject == "iris"]
    entry.run()
    assert window.console.sink.messages[-1].text == (
        "Roll back Deployment default/iris is not allowed: missing permission: patch deployments.apps in "
        "namespace default")
    assert window.cluster_actions.dialog is None
    assert image_of(cluster, "iris") == "registry.example/model:v2"


def test_a_read_only_context_and_unknown_permissions_say_so() -> None:
    spec = ACTIONS["deployment-rollback"]
    assert why_not(None, spec, "default", read_only=True) == "this context is marked read-only in the console"
    assert why_not(None, spec, "default", read_only=False) == "checking the permissions of this context…"


# ---------------------------------------------------------------- Argo Rollouts, Flagger


def _replicasets(cluster: FakeCluster, ro: dict[str, Any]) -> None:
    """Revisions 1 (v1) and 2 (v2, the current pod hash) of the Rollout, as its controller keeps them."""
    for revision, image, digest in ((1, "registry.example/model:v1", "5f4d8c7b9"),
                                    (2, "registry.example/model:v2", "6b8c9d7f5")):
        tpl = objects.pod_template("canary-ro", image)
        tpl["metadata"]["labels"]["rollouts-pod-template-hash"] = digest
        rs = objects.replicaset({"metadata": {**ro["metadata"]}, "spec": {**ro["spec"], "template": tpl}}, revision,
                                template=tpl)
        rs["metadata"]["name"] = f"canary-ro-{digest}"
        rs["metadata"]["annotations"] = {"rollout.argoproj.io/revision": str(revision)}
        rs["metadata"]["ownerReferences"][0].update(apiVersion=ROLLOUTS, kind="Rollout")
        cluster.create(rs)


def test_argo_abort_promote_and_undo_change_the_rollout_as_the_plugin_does(
        make_window: Callable[..., MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    ro = cluster.create(objects.rollout("canary-ro"))
    _replicasets(cluster, ro)
    window = make_window()

    def run(action_id: str, reason: str) -> tuple[dict[str, tuple[str, str]], str]:
        dialog = preview(window, qtbot, menu_actions(window, qtbot, "default/canary-ro")[f"cluster-{action_id}"])
        rows = table(dialog)
        return rows, confirm(window, qtbot, dialog, reason)

    def rollout() -> dict[str, Any]:
        return cluster.get(ROLLOUTS, "Rollout", "default", "canary-ro")

    rows, text = run("argo-abort", "canary latency")
    assert rows["Phase"][0] == "Paused (CanaryPauseStep)" and rows["Step"][0] == "1/4"
    assert rows["Canary weight"] == ("20%", "0% (the controller shifts traffic to stable)")
    assert rows["status.abort"] == ("false", "true")
    assert rollout()["status"]["abort"] is True
    assert text.startswith("Aborted Rollout default/canary-ro: now phase Paused (CanaryPauseStep), step 1/4, "
                           "canary weight 20%, abort true")

    rows, _text = run("argo-promote", "pause looks good")
    assert rows["Pause conditions"] == ("CanaryPauseStep", "none")
    assert not rollout()["status"].get("pauseConditions")
    rows, _text = run("argo-promote", "next step")
    assert rows["Step"] == ("1/4", "2/4") and rollout()["status"]["currentStepIndex"] == 2
    rows, _text = run("argo-promote-full", "ship it")
    assert rows["status.promoteFull"] == ("false", "true") and rollout()["status"]["promoteFull"] is True

    rows, text = run("argo-undo", "back to v1")
    assert rows["Revision"] == ("2", "1") and rows["Images"] == ("registry.example/model:v2",
                                                                 "registry.example/model:v1")
    template = rollout()["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "registry.example/model:v1"
    assert "rollouts-pod-template-hash" not in template["metadata"]["labels"]
    assert "images registry.example/model:v1" in text

    events = audit(window)
    assert [(e.action, e.target, e.reason) for e in events] == [
        ("kubernetes.rollout-abort", "Rollout default/canary-ro", "canary latency"),
        ("kubernetes.rollout-promote", "Rollout default/canary-ro", "pause looks good"),
        ("kubernetes.rollout-promote", "Rollout default/canary-ro", "next step"),
        ("kubernetes.rollout-promote-full", "Rollout default/canary-ro", "ship it"),
        ("kubernetes.rollout-undo", "Rollout default/canary-ro", "back to v1")]
    assert (events[0].before["abort"], events[0].after["abort"]) == (False, True)
    assert events[-1].after["images"] == ["registry.example/model:v1"]


def test_a_flagger_canary_without_a_rollback_gate_says_what_is_needed(
        make_window: Callable[..., MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    cluster.create(objects.canary("podinfo"))
    window = make_window()
    action = menu_actions(window, qtbot, "default/podinfo")["cluster-flagger-rollback"]
    actions: ClusterActions = window.cluster_actions
    # the inventory's right-click menu offers the same (filled as it opens; a popup grabs the keyboard, which the
    # offscreen platform cannot, so only its filling is checked here)
    assert window.inventory.tree.contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu
    assert [a.text() for a in actions.fill_menu(actions.context_menu)] == ["Roll back canary…"]
    dialog = preview(window, qtbot, action)
    assert table(dialog)["Phase"] == ("Progressing", "Failed (at Flagger's next check)")
    assert dialog.problem.isVisibleTo(dialog)
    assert dialog.problem.text() == (
        "Canary default/podinfo has no `rollback` webhook; Flagger's documented manual rollback needs one (see "
        "docs.flagger.app/usage/webhooks, Manual Gating)")
    assert not dialog.confirm_button.isEnabled()
    dialog.reject()
    assert not audit(window)


# ---------------------------------------------------------------- the screenshot, under Xvfb

@pytest.mark.screenshot
def test_cluster_rollback_screenshot(tmp_path: Path) -> None:
    render_in_subprocess(__file__, tmp_path / "shots", "cluster_rollback.png")


def render_screenshot(out: Path) -> None:
    """A model Deployment rolled from v1 to v2 behind an HTTPRoute; the rollback preview dialog."""
    import tempfile

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as folder, start_fake_cluster(Path(folder)) as cluster:
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
        cluster.seed_deployment("fraud-scorer", image="registry.example/models/fraud-scorer:2024.05.1")
        cluster.roll_deployment("default", "fraud-scorer", "registry.example/models/fraud-scorer:2024.06.0")
        cluster.create(objects.httproute("fraud", {"fraud-scorer": 100}))
        console, window = open_window(Path(folder))
        window.resize(1500, 900)
        actions = window.cluster_actions
        pump(lambda: window.inventory.select(PLACE, "default/fraud", "fraud-scorer"))
        pump(lambda: actions.selected_offers() and actions.selected_offers()[0].why_not is None)
        actions.run_by_name("deployment-rollback", PLACE, "default/fraud", "fraud-scorer")
        pump(lambda: actions.dialog is not None)
        dialog = actions.dialog
        assert dialog is not None
        dialog.reason.setText("2024.06.0 doubles p99 latency on GPU nodes")
        dialog.show()
        pump(lambda: dialog.isVisible())
        QCoreApplication.processEvents()
        dialog.grab().save(str(out / "cluster_rollback.png"))
        dialog.reject()
        window.close()
        console.shutdown(timeout_s=5.0)
    app.quit()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--shots":
    render_screenshot(Path(sys.argv[2]))
