"""Traffic shifts and rollbacks on a Kubernetes context from the console window: select the HTTPRoute endpoint,
move a slider, review, confirm; "applied: every parent gateway accepted the new generation" once the fake gateway
accepts it; the history tab lists the revision; a change by another identity between review and confirm opens the
conflict dialog naming who made it; one-click rollback restores the split; an identity without patch (or a
read-only context) sees Review and Rollback disabled with the missing permission. Against the fake API server
(tests/k8sfake) through the official client. The screenshot of the panel is taken under Xvfb (run this file with
--shots DIR)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from console.backends.credentials import CredentialStore
from console.backends.kubernetes import routes_patch
from console.backends.kubernetes.routes_patch import CONFIRMED
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.k8sfake.clientkit import api_client
from tests.shots import pump, render_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.gui]
GWV = "gateway.networking.k8s.io/v1"
VIEWER = (Rule(verbs=("get", "list", "watch", "create"), name="viewers"),)  # create: the access reviews
MISSING = "missing permission: patch httproutes.gateway.networking.k8s.io in namespace default"


def seed(cluster: FakeCluster) -> None:
    cluster.seed_deployment("iris-v1")
    cluster.seed_deployment("iris-v2", image="registry.example/iris:v2")
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}, gateways=("web", "internal")))


def weights(cluster: FakeCluster) -> list[int]:
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    return [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]]


def open_window(tmp: Path, place: str) -> tuple[Console, MainWindow]:
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
        running.add_token("bob")  # another on-call engineer
        running.add_token("carol", VIEWER)  # may read, not patch
        yield running


@pytest.fixture
def open_as(tmp_path: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, qtbot: Any
            ) -> Iterator[Callable[[str], MainWindow]]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    opened: list[tuple[Console, MainWindow]] = []

    def make(place: str) -> MainWindow:
        console, window = open_window(tmp_path / place, place)
        qtbot.addWidget(window)
        window.show()
        opened.append((console, window))
        qtbot.waitUntil(lambda: window.inventory.select(place, "default/iris"), timeout=20_000)
        panel = window.endpoint_view.traffic_panel
        qtbot.waitUntil(lambda: panel.status is not None and panel.status.name == "default/iris", timeout=10_000)
        return window

    yield make
    for console, window in opened:
        for dialog in (window.traffic.review_dialog, window.traffic.rollback_dialog, window.traffic.conflict_dialog):
            if dialog is not None:
                dialog.reject()
        window.close()
        assert console.shutdown(timeout_s=5.0), "a worker was still busy after the window closed"
        assert console.runner.active_threads() == 0


def allowed(window: MainWindow, qtbot: Any) -> None:
    """The cluster has answered that this identity may patch the route."""
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: panel.blocked() is None and panel.rollback_button.isEnabled(), timeout=10_000)


def review(window: MainWindow, qtbot: Any, share: int, reason: str = "canary step") -> Any:
    panel = window.endpoint_view.traffic_panel
    panel.rows["iris-v2"].slider.setValue(share)
    assert panel.modified() and panel.review_button.isEnabled()
    window.traffic.review_dialog = None
    panel.review_button.click()
    qtbot.waitUntil(lambda: window.traffic.review_dialog is not None and window.traffic.review_dialog.isVisible(),
                    timeout=10_000)
    dialog: Any = window.traffic.review_dialog
    dialog.reason.setText(reason)
    if dialog.acknowledge.isVisible():
        dialog.acknowledge.setChecked(True)
    assert dialog.send_button.isEnabled(), dialog.why_not.text()
    return dialog


def outcome(window: MainWindow, qtbot: Any, count: int) -> Any:
    qtbot.waitUntil(lambda: len(window.traffic.outcomes) >= count, timeout=20_000)
    return window.traffic.outcomes[count - 1]


def test_shift_review_confirm_applied_when_the_gateways_accept_and_listed_in_history(
        open_as: Callable[[str], MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    window = open_as("kube-fake")
    allowed(window, qtbot)
    dialog = review(window, qtbot, 30)
    assert "generation 1" in dialog.summary.text() and "HTTPRoute default/iris" in dialog.summary.text()
    assert "resourceVersion" in dialog.send_button.toolTip()
    dialog.send_button.click()
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: "waiting for every parent gateway" in panel.message.text(), timeout=10_000)
    assert weights(cluster) == [70, 30] and not window.traffic.outcomes  # patched; the gateways have not said yet

    cluster.accept_httproute("default", "iris")
    done = outcome(window, qtbot, 1)
    assert done.state == "confirmed", done.text
    assert done.text == f"default/iris: HTTPRoute default/iris generation 2 (iris-v1 70%, iris-v2 30%) {CONFIRMED}"
    assert CONFIRMED in panel.message.text()
    assert "engine" not in done.text and "router" not in done.text
    # the number shown beside the split is the route's generation, not a history revision
    qtbot.waitUntil(lambda: "· generation 2 ·" in panel.heading.text(), timeout=10_000)
    assert window.endpoint_view.summary.text().startswith("generation 2 · split: iris-v1 70%, iris-v2 30%")

    revisions = window.endpoint_view.revisions_model
    qtbot.waitUntil(lambda: [r.number for r in revisions.items()][-1:] == [2], timeout=10_000)
    latest = revisions.items()[-1]
    assert (latest.kind, latest.traffic, latest.reason) == ("shift", {"iris-v1": 70, "iris-v2": 30}, "canary step")
    qtbot.waitUntil(lambda: any(e.outcome == "accepted" for e in window.endpoint_view.audit_model.items()),
                    timeout=10_000)


def test_a_change_by_someone_else_between_review_and_confirm_opens_the_conflict_dialog(
        open_as: Callable[[str], MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    window = open_as("kube-fake")
    allowed(window, qtbot)
    dialog = review(window, qtbot, 20)
    with api_client(cluster.kubeconfig, context="bob") as api:  # bob, from his own console
        routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"iris-v1": 50, "iris-v2": 50},
                                   actor="bob@laptop", reason="incident 42: drain v1")
    dialog.send_button.click()
    qtbot.waitUntil(lambda: window.traffic.conflict_dialog is not None and window.traffic.conflict_dialog.isVisible(),
                    timeout=15_000)
    conflict: Any = window.traffic.conflict_dialog
    headline = conflict.headline.text()
    assert "Nothing of your change was applied" in headline and "bob@laptop changed the endpoint" in headline
    assert "generation 2 of HTTPRoute default/iris" in headline and "iris-v1 50%, iris-v2 50%" in headline
    assert conflict.revisions.item(0, 2).text() == "bob@laptop"
    assert conflict.revisions.item(0, 5).text() == "incident 42: drain v1"
    assert conflict.events.item(0, 1).text() == "bob@laptop"
    assert weights(cluster) == [50, 50]
    assert outcome(window, qtbot, 1).state == "conflict"
    conflict.start_over.click()
    panel = window.endpoint_view.traffic_panel
    assert panel.traffic == {"iris-v1": 50, "iris-v2": 50} and not panel.modified()


def test_one_click_rollback_restores_the_previous_split(
        open_as: Callable[[str], MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    with api_client(cluster.kubeconfig, context="bob") as api:
        routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"iris-v1": 40, "iris-v2": 60},
                                   actor="bob@laptop", reason="too far")
    window = open_as("kube-fake")
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: panel.status is not None and panel.status.traffic.get("iris-v2") == 60, timeout=10_000)
    allowed(window, qtbot)
    panel.rollback_button.click()
    qtbot.waitUntil(lambda: window.traffic.rollback_dialog is not None and window.traffic.rollback_dialog.isVisible(),
                    timeout=10_000)
    dialog: Any = window.traffic.rollback_dialog
    assert "revision 1" in dialog.target.currentText() and "iris-v1 90%" in dialog.target.currentText()
    assert dialog.reason.text() == "rollback of revision 2 (too far by bob@laptop)"
    qtbot.waitUntil(dialog.confirm_button.isEnabled, timeout=5_000)
    dialog.confirm_button.click()
    qtbot.waitUntil(lambda: weights(cluster) == [90, 10], timeout=10_000)
    cluster.accept_httproute("default", "iris")
    done = outcome(window, qtbot, 1)
    assert done.state == "confirmed" and CONFIRMED in done.text, done.text
    revisions = window.endpoint_view.revisions_model
    qtbot.waitUntil(lambda: [r.kind for r in revisions.items()][-1:] == ["rollback"], timeout=10_000)
    assert revisions.items()[-1].restores == 1
    qtbot.waitUntil(lambda: panel.status is not None and panel.status.traffic.get("iris-v1") == 90, timeout=10_000)


def test_a_route_that_needs_approval_is_sent_as_a_proposal_from_the_review(
        open_as: Callable[[str], MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    def mark(route: dict) -> dict:  # type: ignore[type-arg]
        route["metadata"].setdefault("annotations", {})["switchboard.dev/approval-required"] = "true"
        return route

    cluster.modify(GWV, "HTTPRoute", "default", "iris", mark)
    window = open_as("kube-fake")
    allowed(window, qtbot)
    dialog = review(window, qtbot, 20, reason="canary 20%")
    qtbot.waitUntil(lambda: dialog.send_button.text() == "Propose", timeout=5_000)
    dialog.send_button.click()
    done = outcome(window, qtbot, 1)
    assert done.state == "proposed", done.text
    assert "waits for another identity with patch permission to approve it" in done.text
    assert weights(cluster) == [90, 10]
    annotations = cluster.get(GWV, "HTTPRoute", "default", "iris")["metadata"]["annotations"]
    assert "switchboard.dev/proposal" in annotations


def test_without_patch_permission_or_read_only_review_and_rollback_are_disabled_with_the_reason(
        open_as: Callable[[str], MainWindow], cluster: FakeCluster, qtbot: Any) -> None:
    window = open_as("kube-carol")
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: panel.blocked() == MISSING, timeout=10_000)
    panel.rows["iris-v2"].slider.setValue(20)
    assert not panel.review_button.isEnabled() and not panel.rollback_button.isEnabled()
    assert panel.review_button.toolTip() == panel.rollback_button.toolTip() == MISSING
    window.traffic.rollback()  # the shortcut and the palette say why, too, and read nothing
    assert window.console.sink.messages[-1].text == f"default/iris: cannot roll it back: {MISSING}"
    assert window.traffic.rollback_dialog is None

    console = window.console
    config = console.place("kube-carol")
    assert config is not None
    console.update_place(config.model_copy(update={"read_only": True}))
    console.connect_place("kube-carol")
    qtbot.waitUntil(lambda: window.inventory.select("kube-carol", "default/iris"), timeout=20_000)
    qtbot.waitUntil(lambda: panel.blocked() == "this context is marked read-only in the console", timeout=10_000)
    assert panel.rollback_button.toolTip() == "this context is marked read-only in the console"


def test_a_permission_granted_later_is_seen_once_the_answer_is_old(
        open_as: Callable[[str], MainWindow], cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch,
        qtbot: Any) -> None:
    from console.ui.traffic import flows

    window = open_as("kube-carol")
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: panel.blocked() == MISSING, timeout=10_000)
    token = next(t for t, user in cluster.authority.users.items() if user.name == "carol")
    cluster.set_rules([Rule(("*",), name="granted-later")], token=token)  # an admin grants patch meanwhile
    panel.sig_endpoint_shown.emit("kube-carol", "default/iris")  # shown again, answer still fresh: kept
    assert panel.blocked() == MISSING
    monkeypatch.setattr(flows, "PERMISSIONS_TTL_S", 0.0)
    panel.sig_endpoint_shown.emit("kube-carol", "default/iris")  # now old: asked again in the background
    assert panel.blocked() == MISSING  # the old answer stays shown while the cluster is asked
    qtbot.waitUntil(lambda: panel.blocked() is None, timeout=10_000)


# ---------------------------------------------------------------- the screenshot, under Xvfb

@pytest.mark.screenshot
def test_cluster_traffic_screenshot(tmp_path: Path) -> None:
    render_in_subprocess(__file__, tmp_path / "shots", "cluster_traffic.png")


def render_screenshot(out: Path) -> None:
    """An on-call engineer on prod-eu: the iris route after a canary step, confirmed by both gateways."""
    import tempfile

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as folder, \
            start_fake_cluster(Path(folder) / "cluster", user="maria", context="prod-eu") as cluster:
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
        seed(cluster)
        cluster.add_token("sam", context="sam@prod-eu")
        with api_client(cluster.kubeconfig, context="sam@prod-eu") as api:
            routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"iris-v1": 80, "iris-v2": 20},
                                       actor="sam@build-07", reason="canary 20%: p95 within SLO")
        cluster.accept_httproute("default", "iris")
        console, window = open_window(Path(folder), "kube-prod-eu")
        window.resize(1500, 900)
        window.show()
        pump(lambda: window.inventory.select("kube-prod-eu", "default/iris"))
        panel = window.endpoint_view.traffic_panel
        pump(lambda: panel.status is not None and panel.blocked() is None and panel.rollback_button.isEnabled())
        panel.rows["iris-v2"].slider.setValue(30)
        window.traffic.review()
        pump(lambda: window.traffic.review_dialog is not None and window.traffic.review_dialog.isVisible())
        dialog: Any = window.traffic.review_dialog
        dialog.reason.setText("canary 30%")
        if dialog.acknowledge.isVisible():
            dialog.acknowledge.setChecked(True)
        dialog.send_button.click()
        pump(lambda: weights(cluster) == [70, 30])
        cluster.accept_httproute("default", "iris")
        pump(lambda: bool(window.traffic.outcomes))
        pump(lambda: [r.number for r in window.endpoint_view.revisions_model.items()][-1:] == [3])
        QCoreApplication.processEvents()
        window.endpoint_view.grab().save(str(out / "cluster_traffic.png"))
        window.close()
        console.shutdown(timeout_s=5.0)
    app.quit()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shots":
        render_screenshot(Path(sys.argv[2]))
    else:
        sys.exit("usage: test_cluster_traffic.py --shots DIR")
