"""Light and dark palettes that follow the system's colour scheme.

The platform reports the scheme through QStyleHints.colorScheme() and announces a change
with QStyleHints.colorSchemeChanged(scheme); SystemTheme applies the matching palette then.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(37, 37, 38), QColor(30, 30, 30), QColor(220, 220, 220)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor(45, 45, 48),
        QPalette.ColorRole.ToolTipBase: QColor(50, 50, 52), QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: QColor(50, 50, 52),
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Highlight: QColor(38, 110, 200), QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(90, 160, 255), QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def is_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_palette(app: QApplication, dark: bool | None = None) -> None:
    """Fusion everywhere (the same look on every platform), dark when the system is dark."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    dark = is_dark(app) if dark is None else dark
    app.setPalette(dark_palette() if dark else app.style().standardPalette())


class SystemTheme(QObject):
    """Applies the light or dark palette now and again whenever the system's scheme changes."""

    sig_palette_applied = Signal(bool)  # dark

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self.dark = is_dark(app)
        apply_palette(app, self.dark)
        app.styleHints().colorSchemeChanged.connect(self._on_hints_color_scheme_changed)

    def _on_hints_color_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        # The scheme comes with the signal: the platform may change it before colorScheme() says so.
        self.dark = scheme == Qt.ColorScheme.Dark
        apply_palette(self._app, self.dark)
        self.sig_palette_applied.emit(self.dark)

    def stop(self) -> None:
        self._app.styleHints().colorSchemeChanged.disconnect(self._on_hints_color_scheme_changed)


def follow_system(app: QApplication) -> SystemTheme:
    return SystemTheme(app)
