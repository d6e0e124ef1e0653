"""Command palette: its model, its filter and the dialog (Ctrl+K)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from console.ui.dialogs.palette import CommandPalette
from console.ui.models.palette import PaletteEntry, PaletteFilter, PaletteModel

pytestmark = pytest.mark.gui


def _entries(ran):
    return [PaletteEntry("action", "Refresh", "Read every place again now", lambda: ran.append("refresh"), "F5"),
            PaletteEntry("endpoint", "fraud", "Local engine", lambda: ran.append("fraud")),
            PaletteEntry("deployment", "fraud-v2", "fraud · Local engine", lambda: ran.append("fraud-v2"))]


def test_model_contract_and_filter(qtmodeltester):
    model = PaletteModel()
    model.set_entries(_entries([]))
    qtmodeltester.check(model, force_py=True)
    proxy = PaletteFilter()
    proxy.setSourceModel(model)
    proxy.set_query("deploy v2")
    assert proxy.rowCount() == 1
    proxy.set_query("")
    assert proxy.rowCount() == 3


def test_typing_and_enter_runs_the_match(qtbot):
    ran = []
    palette = CommandPalette()
    qtbot.addWidget(palette)
    palette.open_with(_entries(ran))
    qtbot.keyClicks(palette.edit, "fraud-v")
    assert palette.filter.rowCount() == 1
    qtbot.keyClick(palette.edit, Qt.Key.Key_Return)
    assert ran == ["fraud-v2"]
    assert not palette.isVisible()


def test_arrow_keys_move_through_matches(qtbot):
    ran = []
    palette = CommandPalette()
    qtbot.addWidget(palette)
    palette.open_with(_entries(ran))
    qtbot.keyClick(palette.edit, Qt.Key.Key_Down)
    qtbot.keyClick(palette.edit, Qt.Key.Key_Return)
    assert ran == ["fraud"]
