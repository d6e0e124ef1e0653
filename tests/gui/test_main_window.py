"""MainWindow on fake places: appears before any answer, fills in, selection, shortcuts,
status bar, stale marker, settings that persist, accessible names."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QApplication, QDialogButtonBox, QLabel, QMessageBox, QWidget

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlaceConfig
from console.ui.models.inventory import KEY_ROLE, KIND_ROLE
from console.ui.models.rows import Col
from tests.gui.factories import big_snapshot, deployment, endpoint
from tests.gui.fakes import PromptingKeyring, refused, start_window

pytestmark = pytest.mark.gui


def _start(env, qtbot, gate=None):
    return start_window(env, gate)


def test_window_appears_before_any_answer_then_fills_in(env, qtbot):
    gate = threading.Event()
    console, window = _start(env, qtbot, gate)
    qtbot.waitExposed(window)
    assert window.isVisible()
    assert console.places_model.health(env["place_id"]).state == "loading"
    assert "loading" in console.inventory_model.find(env["place_id"]).siblingAtColumn(Col.STATE).data()
    gate.set()
    qtbot.waitUntil(lambda: console.inventory_model.find(env["place_id"], "fraud").isValid(), timeout=5000)
    assert console.places_model.health(env["place_id"]).state == "connected"
    console.shutdown()


def test_select_fraud_shows_deployments_history_and_status(env, qtbot):
    console, window = _start(env, qtbot)
    window.select_when_available(env["place_id"], "fraud")
    qtbot.waitUntil(lambda: window.endpoint_view.endpoint is not None, timeout=5000)
    assert window.endpoint_view.title.text() == "fraud"
    assert [d.name for d in window.endpoint_view.deployments_model.items()] == ["fraud-v1", "fraud-v2", "fraud-v3"]
    qtbot.waitUntil(lambda: window.endpoint_view.revisions_model.rowCount() == 3, timeout=5000)
    assert window.endpoint_view.audit_model.rowCount() == 3
    assert window.health_label.text() == "Local engine: connected"
    assert window.refresh_label.text().startswith("last refresh ")
    assert window.findChild(QWidget, "chartsPanel").isVisible()
    assert window.findChild(QWidget, "trafficPanel").isVisible()
    console.shutdown()


def test_shortcuts_f5_ctrl_f_ctrl_k_and_copy(env, qtbot):
    console, window = _start(env, qtbot)
    window.select_when_available(env["place_id"], "fraud")
    qtbot.waitUntil(lambda: window.endpoint_view.endpoint is not None, timeout=5000)
    backend = env["factory"].backends[env["place_id"]]
    reads = backend.reads
    qtbot.waitUntil(lambda: not console.monitors[env["place_id"]].in_flight(), timeout=5000)
    window.activateWindow()
    window.window_actions["refresh"].trigger()
    qtbot.waitUntil(lambda: backend.reads > reads, timeout=5000)
    assert window.window_actions["refresh"].shortcut().toString() == "F5"
    assert window.window_actions["filter"].shortcut().toString() == "Ctrl+F"
    assert window.window_actions["palette"].shortcut().toString() == "Ctrl+K"
    window.window_actions["filter"].trigger()
    assert window.inventory.filter_edit.hasFocus() or QApplication.focusWidget() is window.inventory.filter_edit
    window.window_actions["copy_uri"].trigger()
    assert QGuiApplication.clipboard().text().endswith("/endpoints/fraud/score")
    window.window_actions["palette"].trigger()
    assert window.command_palette.isVisible()
    qtbot.keyClicks(window.command_palette.edit, "deployment fraud-v3")
    qtbot.keyClick(window.command_palette.edit, Qt.Key.Key_Return)
    assert window.inventory.current() == ("deployment", (env["place_id"], "fraud", "fraud-v3"))
    console.shutdown()


def test_filter_across_places_keeps_matches_and_their_parents(env, qtbot):
    console, window = _start(env, qtbot)
    extra = PlaceConfig(id="other", kind=PlaceKind.SERVING, name="Other", url="http://other:1")
    env["factory"].backends["other"] = env["factory"](extra)
    env["factory"].backends["other"].snapshot = big_snapshot("other", 3, 2)
    console.add_place(extra)
    window._on_console_places_changed()
    qtbot.waitUntil(lambda: console.inventory_model.find("other", "ep-0002").isValid(), timeout=5000)
    qtbot.waitUntil(lambda: console.inventory_model.find(env["place_id"], "fraud").isValid(), timeout=5000)
    qtbot.keyClicks(window.inventory.filter_edit, "ep-0001-d1")
    qtbot.waitUntil(lambda: window.inventory.proxy.rowCount() == 1, timeout=2000)
    proxy = window.inventory.proxy
    place = proxy.index(0, 0)
    assert place.data() == "Other"
    assert proxy.rowCount(place) == 1 and proxy.index(0, 0, place).data() == "ep-0001"
    window.inventory.filter_edit.clear()
    qtbot.waitUntil(lambda: proxy.rowCount() == 2, timeout=2000)
    console.shutdown()


def test_stale_marker_and_unreachable_health(env, qtbot):
    console, window = _start(env, qtbot)
    pid = env["place_id"]
    qtbot.waitUntil(lambda: console.inventory_model.find(pid, "fraud").isValid(), timeout=5000)
    window.inventory.select(pid, "fraud")
    backend = env["factory"].backends[pid]
    backend.fail = refused()
    monitor = console.monitors[pid]
    monitor.backoff_s = monitor.backoff_cap_s = 0.05
    monitor.refresh_now()
    qtbot.waitUntil(lambda: console.places_model.health(pid).state == "unreachable", timeout=5000)
    assert "connection refused" in console.places_model.health(pid).error
    console.inventory_model.update_staleness(now=time.time() + 60)
    assert console.inventory_model.is_stale(pid)
    ep = console.inventory_model.find(pid, "fraud")
    assert "stale" in ep.data(Qt.ItemDataRole.ToolTipRole)
    window._update_status()
    assert "unreachable" in window.health_label.text() and "(stale)" in window.refresh_label.text()
    console.shutdown()


def test_refresh_keeps_selection_and_scroll(env, qtbot):
    console, window = _start(env, qtbot)
    pid = env["place_id"]
    backend = env["factory"].backends[pid]
    backend.snapshot = big_snapshot(pid, 200, 5)
    console.refresh()
    qtbot.waitUntil(lambda: console.inventory_model.find(pid, "ep-0150", "ep-0150-d2").isValid(), timeout=5000)
    window.inventory.select(pid, "ep-0150", "ep-0150-d2")
    scroll = window.inventory.tree.verticalScrollBar().value()
    assert scroll > 0, "the selected row must be scrolled to, or keeping the scroll position proves nothing"
    resets = []
    console.inventory_model.modelReset.connect(lambda: resets.append(1))
    backend.snapshot = replace(big_snapshot(pid, 200, 5, changed=frozenset(range(0, 1000, 100))))
    reads = backend.reads
    console.refresh()
    qtbot.waitUntil(lambda: backend.reads > reads, timeout=5000)
    qtbot.waitUntil(lambda: not console.monitors[pid].in_flight(), timeout=5000)
    assert not resets
    assert window.inventory.current() == ("deployment", (pid, "ep-0150", "ep-0150-d2"))
    assert window.inventory.tree.verticalScrollBar().value() == scroll
    console.shutdown()


def _one_percent_changed(pid: str):
    """The 10,000 deployments of big_snapshot(pid, 1000, 10) with 100 (1%) changed: 80 change
    state (Ready 2/2 → Degraded 1/2), 10 are removed and 10 added, each in its own endpoint."""
    state_changes = frozenset(e * 10 + 3 for e in range(0, 800, 10))  # d3 of ep-0000, ep-0010, … ep-0790
    snap = big_snapshot(pid, 1000, 10, changed=state_changes)
    eps = list(snap.endpoints)
    for e in range(801, 900, 10):  # one deployment fewer: ep-0801 … ep-0891
        deps = [d for d in eps[e].deployments if not d.name.endswith("-d5")]
        eps[e] = endpoint(eps[e].name, traffic=eps[e].traffic, deployments=deps)
    for e in range(805, 900, 10):  # one deployment more: ep-0805 … ep-0895
        extra = deployment(f"{eps[e].name}-new", eps[e].name, "new")
        eps[e] = endpoint(eps[e].name, traffic=eps[e].traffic, deployments=[*eps[e].deployments, extra])
    return replace(snap, endpoints=tuple(eps)), len(state_changes)


def test_a_refresh_changing_1_percent_of_10000_deployments_is_row_changes_and_keeps_selection_and_scroll(env, qtbot):
    console, window = _start(env, qtbot)
    pid = env["place_id"]
    backend = env["factory"].backends[pid]
    monitor = console.monitors[pid]
    model, tree = console.inventory_model, window.inventory.tree
    backend.snapshot = big_snapshot(pid, 1000, 10)
    qtbot.waitUntil(lambda: not monitor.in_flight(), timeout=5000)
    with qtbot.waitSignal(monitor.sig_snapshot_received, timeout=15000):
        console.refresh()
    assert model.find(pid, "ep-0999", "ep-0999-d9").isValid()
    assert sum(model.rowCount(model.index(e, 0, model.find(pid))) for e in range(1000)) == 10_000
    assert window.inventory.select(pid, "ep-0700", "ep-0700-d3")  # it changes state below
    scroll = tree.verticalScrollBar().value()
    assert scroll > 0
    selected = [window.inventory.proxy.mapToSource(i).data(KEY_ROLE)
                for i in tree.selectionModel().selectedRows()]
    assert selected == [(pid, "ep-0700", "ep-0700-d3")]

    signals = {name: [] for name in ("modelReset", "layoutChanged", "dataChanged", "rowsInserted", "rowsRemoved")}
    for name, spied in signals.items():
        getattr(model, name).connect(lambda *args, spied=spied: spied.append(args))
    proxy_resets = []
    window.inventory.proxy.modelReset.connect(lambda: proxy_resets.append(1))
    window.inventory.proxy.layoutChanged.connect(lambda *args: proxy_resets.append(args))

    backend.snapshot, state_changes = _one_percent_changed(pid)
    with qtbot.waitSignal(monitor.sig_snapshot_received, timeout=15000):
        console.refresh()

    assert signals["modelReset"] == [] and signals["layoutChanged"] == [] and proxy_resets == []
    removed = [(p.data(), first, last) for p, first, last in signals["rowsRemoved"]]
    inserted = [(p.data(), first, last) for p, first, last in signals["rowsInserted"]]
    assert removed == [(f"ep-{e:04d}", 5, 5) for e in range(801, 900, 10)]
    assert inserted == [(f"ep-{e:04d}", 10, 10) for e in range(805, 900, 10)]
    changed = [(a.data(KIND_ROLE), a.siblingAtColumn(0).data()) for a, _b, *_roles in signals["dataChanged"]]
    # one per changed deployment, and one per endpoint whose sums changed (all 100 touched ones);
    # the place row's figures (1,000 endpoints, 10,000 deployments) are the same
    assert len(changed) == state_changes + 100
    assert sorted(n for k, n in changed if k == "deployment") == [f"ep-{e:04d}-d3" for e in range(0, 800, 10)]
    assert len({n for k, n in changed if k == "endpoint"}) == 100
    assert model.index(model.find(pid, "ep-0700", "ep-0700-d3").row(), Col.STATE,
                       model.find(pid, "ep-0700")).data() == "Degraded"
    assert window.inventory.current() == ("deployment", (pid, "ep-0700", "ep-0700-d3"))
    assert [window.inventory.proxy.mapToSource(i).data(KEY_ROLE)
            for i in tree.selectionModel().selectedRows()] == selected
    assert tree.verticalScrollBar().value() == scroll
    console.shutdown()


def test_settings_persist_geometry_header_and_selection(env, qtbot):
    console, window = _start(env, qtbot)
    window.select_when_available(env["place_id"], "fraud", "fraud-v2")
    qtbot.waitUntil(lambda: window.inventory.current()[0] == "deployment", timeout=5000)
    window.resize(790, 560)
    window.inventory.tree.setColumnWidth(Col.MODEL, 222)
    window.close()
    console.shutdown()
    console2, window2 = env["make"]()
    assert window2.has_saved_selection()
    window2.show()
    assert window2.inventory.tree.columnWidth(Col.MODEL) == 222
    assert window2.size().height() == 560  # offscreen screens clamp widths to their minimum
    console2.load(env["state_dir"])
    window2._on_console_places_changed()
    console2.monitors[env["place_id"]].start()
    qtbot.waitUntil(lambda: window2.inventory.current()[0] == "deployment", timeout=5000)
    assert window2.inventory.current()[1][2] == "fraud-v2"
    console2.shutdown()


def _unnamed(top: QWidget) -> list[str]:
    """Visible widgets a person can reach (focus or click) with neither an accessible name nor text."""
    found = []
    for widget in [top, *top.findChildren(QWidget)]:
        reachable = widget.focusPolicy() != Qt.FocusPolicy.NoFocus or isinstance(widget, QAbstractButton)
        text = widget.text() if isinstance(widget, QAbstractButton | QLabel) else ""
        if widget.isVisible() and reachable and not (widget.accessibleName() or text):
            found.append(f"{type(widget).__name__} {widget.objectName()!r}")
    return found


def test_every_action_has_shortcut_and_tip_and_widgets_have_accessible_names(env, qtbot):
    console, window = _start(env, qtbot)
    for name, action in window.window_actions.items():
        assert not action.shortcut().isEmpty(), name
        assert action.toolTip(), name
    window.select_when_available(env["place_id"], "fraud")
    qtbot.waitUntil(lambda: window.endpoint_view.endpoint is not None, timeout=5000)
    window.messages_dock.show()
    assert _unnamed(window) == []
    for name in ("placesTree", "inventoryTree", "inventoryFilter", "endpointDeployments", "revisionHistory",
                 "auditEvents", "statusPlaceHealth", "statusLastRefresh", "historyTabs", "messagesList"):
        assert window.findChild(QWidget, name).accessibleName(), name
    window.open_palette()
    assert _unnamed(window.command_palette) == []
    window.command_palette.reject()
    dialog = window.add_place()
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))
    assert _unnamed(dialog) == []
    dialog.reject()
    console.add_place(PlaceConfig(id="s1", kind=PlaceKind.SERVING, name="vllm", url="http://gpu1:8000"))
    box = window.remove_place("s1")
    assert box is not None and _unnamed(box) == []
    box.reject()
    console.shutdown()


def test_errors_reach_the_status_bar_through_the_sink(env, qtbot):
    console, window = _start(env, qtbot)
    console.runner.submit(lambda: 1 / 0, name="boom")
    qtbot.waitUntil(lambda: "division by zero" in window.message_label.text(), timeout=5000)
    assert window.messages.count() >= 1
    console.shutdown()


def test_no_message_repeats_a_secret_of_a_url(env, qtbot):
    """Whatever fails with a URL in its words, the status bar and Messages show it redacted."""
    console, window = _start(env, qtbot)

    def fail():
        raise RuntimeError("GET https://ana:pw-s3cret@host:1/x?token=tok-s3cret failed")

    console.runner.submit(fail, name="leaky")
    qtbot.waitUntil(lambda: "failed" in window.message_label.text(), timeout=5000)
    shown = [window.message_label.text(), window.message_label.toolTip(),
             *(window.messages.item(i).text() for i in range(window.messages.count()))]
    assert not [t for t in shown if "s3cret" in t]
    assert "GET https://host:1/x?token=*** failed" in window.message_label.text()
    console.shutdown()


def test_removing_a_place_deletes_its_secret_off_the_gui_thread(env, qtbot):
    console, window = _start(env, qtbot)
    keyring = PromptingKeyring()
    keyring.answer.set()
    console.credentials = CredentialStore(backend=keyring)
    keyring.items[("switchboard", "place-s1")] = "tok"
    console.add_place(PlaceConfig(id="s1", kind=PlaceKind.SERVING, name="vllm", url="http://gpu1:8000",
                                  auth="bearer", secret_ref="place-s1"))
    box = window.remove_place("s1")
    box.button(QMessageBox.StandardButton.No).click()
    assert console.place("s1") is not None and keyring.items
    box = window.remove_place("s1")
    box.button(QMessageBox.StandardButton.Yes).click()
    assert console.place("s1") is None
    qtbot.waitUntil(lambda: keyring.items == {}, timeout=5000)
    assert keyring.deleted == ["place-s1"] and threading.main_thread() not in keyring.threads
    console.shutdown()


def test_a_place_added_with_tls_verification_off_says_so_in_its_health_and_tooltip(env, qtbot):
    console, window = _start(env, qtbot)
    dialog = window.add_place()
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    qtbot.keyClicks(dialog.name, "lab box")
    qtbot.keyClicks(dialog.url, "https://lab:8443")
    qtbot.mouseClick(dialog.verify_tls, Qt.MouseButton.LeftButton, pos=dialog.verify_tls.rect().center())
    assert dialog.tls_warning.isVisible()
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    (place,) = [p for p in console.places_model.places() if p.kind == PlaceKind.SERVING]
    assert place.verify_tls is False
    index = console.places_model.find(place.id)
    qtbot.waitUntil(lambda: console.places_model.health(place.id).state == "connected", timeout=5000)
    assert index.siblingAtColumn(1).data() == "connected (TLS verification off)"
    assert "TLS verification off: the server's certificate is not checked" in index.data(
        Qt.ItemDataRole.ToolTipRole)
    assert window.health_label.text() == "lab box: connected (TLS verification off)"  # selected once saved
    console.update_place(place.model_copy(update={"verify_tls": True}))
    index = console.places_model.find(place.id)
    assert "TLS" not in index.siblingAtColumn(1).data() and "TLS" not in index.data(Qt.ItemDataRole.ToolTipRole)
    console.shutdown()
