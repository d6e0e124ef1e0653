"""Adding, editing and removing places: the place dialog and the remove question, opened
window-modal (never a nested event loop), and what their answers do."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtWidgets import QMessageBox, QWidget

from console.backends.base import PlaceKind
from console.backends.places import PlaceConfig
from console.ui.controller import Console
from console.ui.dialogs.kube_context import KubeContextDialog
from console.ui.dialogs.place import PlaceDialog


class PlaceFlows:
    def __init__(self, console: Console, parent: QWidget, on_saved: Callable[[str], object] | None = None) -> None:
        self.console = console
        self.parent = parent
        self.on_saved = on_saved  # called with the id of a place added or changed
        self.dialog: PlaceDialog | None = None  # the place dialog open now, if any
        self.kube_dialog: KubeContextDialog | None = None  # a Kubernetes context's settings, if open
        self.question: QMessageBox | None = None  # the remove question open now, if any

    def add(self) -> PlaceDialog:
        return self._open(None)

    def edit(self, place_id: str) -> PlaceDialog | KubeContextDialog | None:
        config = self.console.place(place_id)
        if config is not None and config.kind == PlaceKind.KUBERNETES:
            return self._open_kube(config)
        if config is None or config.auto:
            self.console.sink.report("select a place you added to edit it", "info", "places")
            return None
        return self._open(config)

    def _open(self, config: PlaceConfig | None) -> PlaceDialog:
        dialog = PlaceDialog(self.console.runner, self.console.credentials, config, self.parent)
        dialog.finished.connect(partial(self._on_dialog_finished, dialog, config))
        dialog.open()
        self.dialog = dialog
        return dialog

    def _open_kube(self, config: PlaceConfig) -> KubeContextDialog:
        dialog = KubeContextDialog(self.console.runner, config, self.parent)
        dialog.finished.connect(partial(self._on_kube_dialog_finished, dialog))
        dialog.open()
        self.kube_dialog = dialog
        return dialog

    def _on_kube_dialog_finished(self, dialog: KubeContextDialog, _code: int) -> None:
        config = dialog.result_config()
        if self.kube_dialog is dialog:
            self.kube_dialog = None
        dialog.deleteLater()
        if config is None:
            return
        self.console.update_place(config)  # saved, and connected with its new settings
        if self.on_saved is not None:
            self.on_saved(config.id)

    def _on_dialog_finished(self, dialog: PlaceDialog, original: PlaceConfig | None, _code: int) -> None:
        config = dialog.result_config()
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
        if config is None:
            return
        if original is None:
            self.console.add_place(config)
        else:
            self.console.update_place(config)
        if self.on_saved is not None:
            self.on_saved(config.id)

    def remove(self, place_id: str) -> QMessageBox | None:
        config = self.console.place(place_id)
        if config is None or config.auto:
            self.console.sink.report("select a place you added to remove it", "info", "places")
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "Remove place",
                          f"Remove {config.name!r}? Its stored secret is deleted from the keyring.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.parent)
        box.setObjectName("removePlaceQuestion")
        box.setAccessibleName("Remove place?")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.finished.connect(partial(self._on_question_finished, box, config.id))
        box.open()
        self.question = box
        return box

    def _on_question_finished(self, box: QMessageBox, place_id: str, _code: int) -> None:
        clicked = box.clickedButton()
        answer = box.standardButton(clicked) if clicked is not None else QMessageBox.StandardButton.No
        if self.question is box:
            self.question = None
        box.deleteLater()
        if answer == QMessageBox.StandardButton.Yes:
            self.console.remove_place(place_id)
