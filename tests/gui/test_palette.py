"""Command palette (Ctrl+K): its model and filter, the dialog, and in the main window every
place, endpoint and deployment with its own actions, typed to filter."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from console.backends.base import PlaceKind, ProbeResult
from console.backends.places import PlaceConfig
from console.ui.commands import AUDIT_TAB, HISTORY_TAB
from console.ui.dialogs.palette import CommandPalette
from console.ui.models.palette import PaletteEntry, PaletteGroup, PaletteModel
from tests.gui.factories import big_snapshot
from tests.gui.fakes import start_window

pytestmark = pytest.mark.gui


def _entries(ran):
    return [PaletteEntry("action", "Refresh", "Read every place again now", lambda: ran.append("refresh"), "F5"),
            PaletteEntry("endpoint", "fraud", "Local engine", lambda: ran.append("fraud")),
            PaletteEntry("endpoint", "copy scoring URI", "endpoint at Local engine", lambda: ran.append("copy"),
                         subject="fraud"),
            PaletteEntry("deployment", "fraud-v2", "fraud · Local engine", lambda: ran.append("fraud-v2"))]


def test_model_contract_and_filter(qtmodeltester):
    model = PaletteModel()
    model.set_entries(_entries([]))
    qtmodeltester.check(model, force_py=True)
    model.set_query("deploy v2")
    assert [e.title for e in model.entries()] == ["fraud-v2"]
    model.set_query("fraud copy")
    assert [e.text() for e in model.entries()] == ["fraud: copy scoring URI"]
    model.set_query("nothing matches this")
    assert model.rowCount() == 0
    model.set_query("")
    assert model.rowCount() == 4


def test_typing_and_enter_runs_the_match(qtbot):
    ran = []
    palette = CommandPalette()
    qtbot.addWidget(palette)
    palette.open_with(_entries(ran))
    qtbot.keyClicks(palette.edit, "fraud-v")
    assert palette.model.rowCount() == 1
    qtbot.keyClick(palette.edit, Qt.Key.Key_Return)
    assert ran == ["fraud-v2"]
    assert not palette.isVisible()


def test_arrow_keys_move_through_matches(qtbot):
    ran = []
    palette = CommandPalette()
    qtbot.addWidget(palette)
    palette.open_with(_entries(ran))
    qtbot.keyClick(palette.edit, Qt.Key.Key_Down)
    qtbot.keyClick(palette.edit, Qt.Key.Key_Down)
    qtbot.keyClick(palette.edit, Qt.Key.Key_Up)
    qtbot.keyClick(palette.edit, Qt.Key.Key_Return)
    assert ran == ["fraud"]


def test_groups_are_made_only_when_they_match_and_the_list_is_capped():
    made = []

    def group(name):
        return PaletteGroup(f"deployment {name} copy details", lambda: made.append(name) or [
            PaletteEntry("deployment", name, "", lambda: None),
            PaletteEntry("deployment", "copy details", "", lambda: None, subject=name)])

    model = PaletteModel(limit=3)
    model.set_entries([group(f"d{i}") for i in range(100)])
    assert model.rowCount() == 3 and model.more and made == ["d0", "d1"]
    model.set_query("d42 copy")
    assert [e.text() for e in model.entries()] == ["d42: copy details"] and not model.more
    assert made == ["d0", "d1", "d42"]


def test_reopening_starts_from_an_empty_query(qtbot):
    palette = CommandPalette()
    qtbot.addWidget(palette)
    palette.open_with(_entries([]))
    qtbot.keyClicks(palette.edit, "copy")
    palette.reject()
    palette.open_with(_entries([]))
    assert palette.edit.text() == "" and palette.model.rowCount() == 4


# ---------------------------------------------------------------- in the main window


@pytest.fixture
def shown(env, qtbot):
    console, window = start_window(env)
    qtbot.waitUntil(lambda: console.inventory_model.find(env["place_id"], "fraud").isValid(), timeout=5000)
    yield console, window
    window.command_palette.reject()
    console.shutdown()


def _run(qtbot, window, query):
    """Ctrl+K, type `query`, Enter: returns the entry that ran."""
    window.window_actions["palette"].trigger()
    assert window.command_palette.isVisible()
    qtbot.keyClicks(window.command_palette.edit, query)
    shown = window.command_palette.shown_entries()
    assert shown, f"nothing matches {query!r}"
    qtbot.keyClick(window.command_palette.edit, Qt.Key.Key_Return)
    assert not window.command_palette.isVisible()
    return shown[0]


def test_every_item_comes_with_its_actions(shown):
    _console, window = shown
    texts = {e.text() for e in window.palette_entries()}
    assert {"place: Local engine", "Local engine: refresh place", "Local engine: test connection",
            "Local engine: copy location"} <= texts
    assert {"endpoint: fraud", "fraud: copy scoring URI", "fraud: refresh", "fraud: show revision history",
            "fraud: show audit events"} <= texts
    for dep in ("fraud-v1", "fraud-v2", "fraud-v3"):
        assert {f"deployment: {dep}", f"{dep}: copy model name:version", f"{dep}: copy details",
                f"{dep}: refresh"} <= texts
    # the automatic local engine place is not edited or removed (it is not in places.json)
    assert "Local engine: edit place…" not in texts and "Local engine: remove place" not in texts
    actions = {e.title for e in window.palette_entries() if e.kind == "action"}
    assert {"Refresh", "Add place…", "Command palette…", "Copy scoring URI"} <= actions


def test_typing_narrows_to_one_items_entries(shown, qtbot):
    _console, window = shown
    window.window_actions["palette"].trigger()
    qtbot.keyClicks(window.command_palette.edit, "fraud-v3")
    texts = [e.text() for e in window.command_palette.shown_entries()]
    assert texts[:5] == ["deployment: fraud-v3", "fraud-v3: copy model name:version", "fraud-v3: copy details",
                         "fraud-v3: refresh", "fraud-v3: logs"]
    assert all(t.startswith("fraud-v3: logs of replica ") for t in texts[5:])  # one per replica
    qtbot.keyClicks(window.command_palette.edit, " details")
    assert [e.text() for e in window.command_palette.shown_entries()] == ["fraud-v3: copy details"]
    window.command_palette.reject()


def test_endpoint_copy_scoring_uri(shown, qtbot):
    _console, window = shown
    QGuiApplication.clipboard().setText("")
    entry = _run(qtbot, window, "fraud copy scoring")
    assert entry.text() == "fraud: copy scoring URI"
    assert QGuiApplication.clipboard().text() == "http://127.0.0.1:8100/endpoints/fraud/score"
    assert "copied the scoring URI of fraud" in window.message_label.text()


def test_deployment_copy_model_and_details(shown, qtbot):
    _console, window = shown
    assert _run(qtbot, window, "fraud-v1 copy model").text() == "fraud-v1: copy model name:version"
    assert QGuiApplication.clipboard().text() == "fraud:1"
    assert _run(qtbot, window, "fraud-v2 details").text() == "fraud-v2: copy details"
    details = QGuiApplication.clipboard().text()
    assert "deployment: fraud-v2" in details and "traffic: 10%" in details and "model: fraud:2" in details
    assert "replicas: 2/2 ready" in details and "state: Ready" in details


def test_endpoint_refresh_and_history_tabs(shown, qtbot, env):
    console, window = shown
    backend = env["factory"].backends[env["place_id"]]
    qtbot.waitUntil(lambda: not console.monitors[env["place_id"]].in_flight(), timeout=5000)
    reads = backend.reads
    assert _run(qtbot, window, "fraud refresh").text() == "fraud: refresh"
    qtbot.waitUntil(lambda: backend.reads > reads, timeout=5000)
    _run(qtbot, window, "fraud show audit")
    assert window.inventory.current() == ("endpoint", (env["place_id"], "fraud"))
    assert window.endpoint_view.history_tabs.currentIndex() == AUDIT_TAB
    qtbot.waitUntil(lambda: window.endpoint_view.audit_model.rowCount() == 3, timeout=5000)
    _run(qtbot, window, "fraud show revision")
    assert window.endpoint_view.history_tabs.currentIndex() == HISTORY_TAB


def test_place_actions_test_edit_and_remove(shown, qtbot, env):
    console, window = shown
    other = PlaceConfig(id="other", kind=PlaceKind.SERVING, name="Other host", url="http://other:1")
    console.add_place(other)
    backend = env["factory"].backends["other"]
    backend.probe_result = ProbeResult(False, "http://other:1: connection refused (nothing listening)", "refused")
    texts = {e.text() for e in window.palette_entries()}
    assert {"place: Other host", "Other host: edit place…", "Other host: remove place",
            "Other host: test connection", "Other host: refresh place"} <= texts

    _run(qtbot, window, "other host test connection")
    qtbot.waitUntil(lambda: "Other host: failed (refused)" in window.message_label.text(), timeout=5000)
    assert "connection refused" in window.message_label.text() and backend.probes == 1

    _run(qtbot, window, "other host edit")
    dialog = window.place_flows.dialog
    assert dialog is not None and dialog.isVisible() and dialog.url.text() == "http://other:1"
    dialog.reject()
    assert window.place_flows.dialog is None

    _run(qtbot, window, "other host remove")
    box = window.place_flows.question
    assert box is not None and box.isVisible()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: console.place("other") is None, timeout=2000)
    assert "place: Other host" not in {e.text() for e in window.palette_entries()}


def test_an_action_on_an_item_that_went_away_says_so(shown, qtbot, env):
    console, window = shown
    window.window_actions["palette"].trigger()
    qtbot.keyClicks(window.command_palette.edit, "fraud-v2 copy model")
    entry = window.command_palette.shown_entries()[0]
    window.command_palette.reject()
    console.inventory_model.remove_place(env["place_id"])
    QGuiApplication.clipboard().setText("unchanged")
    entry.run()
    assert QGuiApplication.clipboard().text() == "unchanged"
    assert "fraud-v2 is no longer listed at Local engine" in window.message_label.text()


def test_group_search_texts_hold_every_word_of_their_entries(shown, env):
    """A query that matches an entry must match its group (else the entry is never offered)."""
    console, window = shown
    console.add_place(PlaceConfig(id="other", kind=PlaceKind.SERVING, name="Other host", url="http://other:1"))
    groups = [item for item in window.commands.entries() if isinstance(item, PaletteGroup)]
    assert len(groups) == 4  # fraud and its three deployments
    for group in groups:
        words = set(group.haystack.split())
        for entry in group.entries():
            assert set(entry.haystack.split()) <= words, (entry.text(), set(entry.haystack.split()) - words)


def test_ten_thousand_deployments_show_the_first_matches_and_narrow_as_typed(shown, qtbot, env):
    console, window = shown
    backend = env["factory"].backends[env["place_id"]]
    backend.snapshot = big_snapshot(env["place_id"], 1000, 10)
    console.refresh()
    qtbot.waitUntil(lambda: console.inventory_model.find(env["place_id"], "ep-0999", "ep-0999-d9").isValid(),
                    timeout=10000)
    window.open_palette()
    palette = window.command_palette
    assert palette.model.rowCount() == palette.model.limit and palette.model.more
    assert palette.more.isVisible() and "type to narrow" in palette.more.text()
    qtbot.keyClicks(palette.edit, "ep-0777-d7 copy")
    assert [e.text() for e in palette.shown_entries()] == ["ep-0777-d7: copy model name:version",
                                                           "ep-0777-d7: copy details"]
    assert not palette.more.isVisible()
    qtbot.keyClick(palette.edit, Qt.Key.Key_Return)
    assert QGuiApplication.clipboard().text() == "ep-0777:7"
