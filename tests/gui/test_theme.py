"""Light and dark palettes follow the system: a change of QStyleHints' colour scheme (the
signal the platform emits) switches the application's palette, and widgets follow."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel

from console.ui.theme import SystemTheme, dark_palette

pytestmark = pytest.mark.gui
WINDOW = QPalette.ColorRole.Window


@pytest.fixture
def theme(qapp):
    style, palette = qapp.style().name(), QPalette(qapp.palette())
    followed = SystemTheme(qapp)
    yield followed
    followed.stop()
    qapp.setStyle(style)
    qapp.setPalette(palette)


def test_palette_switches_when_the_system_scheme_changes(qapp, qtbot, theme):
    label = QLabel("text")
    qtbot.addWidget(label)
    label.show()
    assert qapp.style().name().lower() == "fusion"
    light = qapp.style().standardPalette().color(WINDOW)
    assert light.lightness() > 150
    # offscreen reports no scheme (Unknown): light to start with
    assert theme.dark is False and qapp.palette().color(WINDOW) == light

    with qtbot.waitSignal(theme.sig_palette_applied, timeout=2000) as applied:
        qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # what the platform emits
    assert applied.args == [True]
    assert qapp.palette().color(WINDOW) == dark_palette().color(WINDOW)
    assert qapp.palette().color(QPalette.ColorRole.Text).lightness() > 150
    qtbot.waitUntil(lambda: label.palette().color(WINDOW) == dark_palette().color(WINDOW), timeout=2000)

    with qtbot.waitSignal(theme.sig_palette_applied, timeout=2000) as applied:
        qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert applied.args == [False]
    assert qapp.palette().color(WINDOW) == light
    qtbot.waitUntil(lambda: label.palette().color(WINDOW) == light, timeout=2000)


def test_stopped_theme_no_longer_follows(qapp, qtbot, theme):
    theme.stop()
    before = qapp.palette().color(WINDOW)
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert qapp.palette().color(WINDOW) == before
    qapp.styleHints().colorSchemeChanged.connect(theme._on_hints_color_scheme_changed)  # the fixture stops it
