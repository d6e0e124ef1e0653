"""The confirmation of one cluster action: what the object is now and what it will be after,
the exact request sent, the same change as a command, a reason, and Confirm. When the action
cannot be done now (a missing rollback gate, a missing permission, nothing to promote) the
dialog says exactly why and Confirm stays disabled. Also the conflict notice: the object
changed since the preview, shown as it is now; nothing was changed or retried."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

PROBLEM_COLOUR = "#c62828"


class ClusterActionDialog(QDialog):
    sig_action_confirmed = Signal(object, str)  # Plan, reason

    def __init__(self, plan: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        self.setObjectName("clusterActionDialog")
        self.setWindowTitle(f"{plan.spec.title.rstrip('…')}: {plan.target.what}")
        self.setAccessibleName(self.windowTitle())
        self.heading = QLabel(plan.heading, self)
        self.heading.setObjectName("clusterActionHeading")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(len(plan.rows), 3, self)
        self.table.setObjectName("clusterActionPreview")
        self.table.setAccessibleName("Now and after the change")
        self.table.setHorizontalHeaderLabels(["", "Now", "After"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for row, values in enumerate(plan.rows):
            for col, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                item.setToolTip(str(value))
                if col == 0 or (col == 2 and value != values[1]):  # the field, and what changes
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.resizeRowsToContents()
        self.sends = QLabel(plan.sends, self)
        self.sends.setObjectName("clusterActionSends")
        self.sends.setWordWrap(True)
        self.sends.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.command = QLabel(plan.command or "—", self)
        self.command.setObjectName("clusterActionCommand")
        self.command.setWordWrap(True)
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason = QLineEdit(plan.reason, self)
        self.reason.setObjectName("clusterActionReason")
        self.reason.setAccessibleName("Reason (kept in the audit log)")
        self.problem = QLabel(plan.problem, self)
        self.problem.setObjectName("clusterActionProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {PROBLEM_COLOUR};")
        self.problem.setVisible(bool(plan.problem))
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.reject)
        self.confirm_button = QPushButton(plan.spec.confirm, self)
        self.confirm_button.setObjectName("clusterActionConfirm")
        self.confirm_button.setDefault(True)
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)
        form = QFormLayout()
        form.addRow("Sends", self.sends)
        form.addRow("Command", self.command)
        form.addRow("&Reason", self.reason)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.confirm_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Context <b>{plan.context}</b> · {plan.target.what}", self))
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        self.reason.textChanged.connect(self._on_reason_text_changed)
        self._on_reason_text_changed(self.reason.text())
        self.resize(820, 420)
        self.reason.setFocus()

    def _on_reason_text_changed(self, text: str) -> None:
        ok = not self.plan.problem and bool(text.strip())
        self.confirm_button.setEnabled(ok)
        self.confirm_button.setToolTip("" if ok else self.plan.problem or "say why: the reason goes to the audit log")

    def _on_confirm_button_clicked(self) -> None:
        if not self.confirm_button.isEnabled():
            return
        self.accept()
        self.sig_action_confirmed.emit(self.plan, self.reason.text().strip())


def conflict_box(parent: QWidget, what: str, now: list[tuple[str, str]], message: str
                 ) -> tuple[QMessageBox, QPushButton]:
    """The object changed since the preview: shown as it is now. Nothing was changed or retried."""
    box = QMessageBox(QMessageBox.Icon.Warning, f"{what} changed since the preview",
                      f"<b>{what}</b> changed since the preview, so nothing was changed and nothing was retried.",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("clusterConflictBox")
    box.setInformativeText("Now: " + "; ".join(f"{k} {v}" for k, v in now) + f"\n\n{message}")
    again = box.addButton("Preview &again", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    return box, again
