"""RolloutStrip: the endpoint's rollout at a glance, above its charts — what it is, step i of n
with each step's weight (gates marked), the bake countdown, the last analysis's verdict and
checks, and the buttons a person may press in its phase. "Start rollout from plan…" is there
when none is running.

The strip only shows a rollout (the engine's JSON, GET /v1/endpoints/{name}/rollout) and asks
for actions by signal; console/ui/release/rollout_flow.py reads, confirms and sends.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.ui.plots.colours import BREACH

ACTIONS = ("pause", "resume", "approve", "abort", "promote")
BUTTON_TEXT = {"pause": "&Pause", "resume": "&Resume", "approve": "Approve &gate", "abort": "A&bort (roll back)",
               "promote": "Pro&mote"}
GOOD, FAIL, MUTED = "#2CA02C", BREACH, "#808080"
VERDICT_COLOUR = {"pass": GOOD, "fail": FAIL, "inconclusive": MUTED}


def available_actions(rollout: dict[str, Any] | None) -> set[str]:
    """Pause while progressing; resume when paused by hand or by an error; approve at a gate;
    abort and promote while active."""
    if not rollout or not rollout.get("active"):
        return set()
    found = {"abort", "promote"}
    pause = rollout.get("pause") or {}
    if rollout.get("phase") == "progressing":
        found.add("pause")
    elif rollout.get("phase") == "paused":
        found.add("approve" if pause.get("kind") == "gate" else "resume")
    return found


def _clock(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else "?"


def steps_html(rollout: dict[str, Any]) -> str:
    current, active = int(rollout.get("step", -1)), bool(rollout.get("active"))
    parts = []
    for index, step in enumerate(rollout.get("steps") or []):
        text = f"{step['weight']}%" + (" (gate)" if step.get("gate") else "")
        if index == current and active:
            text = f"<b>[{text}]</b>"
        elif index < current or (index == current and rollout.get("phase") == "succeeded"):
            text = f"<span style='color:{MUTED}'>{text} ✔</span>"
        parts.append(text)
    where = f"step {current + 1} of {len(rollout.get('steps') or [])}" if current >= 0 else "not started"
    return f"{where}: " + " → ".join(parts)


def analysis_html(rollout: dict[str, Any]) -> str:
    last = rollout.get("last_analysis")
    if not last:
        return "<i>no analysis yet</i>"
    verdict = str(last.get("verdict"))
    checks = "; ".join(html.escape(str(c.get("text", ""))) for c in last.get("checks") or [])
    failures = int(last.get("failures") or 0)
    streak = f" ({failures} in a row)" if failures else ""
    return (f"last analysis {_clock(last.get('time'))} at {last.get('weight')}%: "
            f"<b style='color:{VERDICT_COLOUR.get(verdict, MUTED)}'>{verdict}</b>{streak} · {checks or 'no checks'}")


def state_text(rollout: dict[str, Any]) -> str:
    """The bake countdown, the pause, or how it ended."""
    pause = rollout.get("pause")
    if rollout.get("phase") == "progressing" and rollout.get("bake_left_s") is not None:
        return f"baking: {float(rollout['bake_left_s']):.0f} s left at this step"
    if pause and pause.get("kind") == "gate":
        return f"waiting since {_clock(pause.get('since'))} for someone to approve the gate (analyses go on)"
    if pause:
        return f"paused ({pause.get('kind')}) by {pause.get('by')} since {_clock(pause.get('since'))}: " \
               f"{pause.get('reason') or 'no reason given'}"
    if not rollout.get("active"):
        return f"finished {_clock(rollout.get('finished'))}: {rollout.get('outcome') or rollout.get('phase')}"
    return str(rollout.get("phase", ""))


class RolloutStrip(QFrame):
    sig_action_requested = Signal(str)  # one of ACTIONS
    sig_start_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rolloutStrip")
        self.setAccessibleName("Rollout of the endpoint")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.rollout: dict[str, Any] | None = None
        self.headline = self._label("rolloutHeadline", "Rollout: what it is and where it stands")
        self.steps = self._label("rolloutSteps", "Rollout steps")
        self.state = self._label("rolloutState", "Rollout bake countdown, pause or outcome")
        self.analysis = self._label("rolloutAnalysis", "Last analysis of the rollout")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.steps, 1)
        for action in ACTIONS:
            button = QPushButton(BUTTON_TEXT[action], self)
            button.setObjectName(f"rollout_{action}")
            button.setAccessibleName(f"{BUTTON_TEXT[action].replace('&', '')} the rollout (asks first)")
            button.clicked.connect(lambda _checked=False, a=action: self.sig_action_requested.emit(a))
            row.addWidget(button)
            self.buttons[action] = button
        self.start_button = QPushButton("Start rollout from &plan…", self)
        self.start_button.setObjectName("rolloutStart")
        self.start_button.setAccessibleName("Start a rollout of this endpoint from a plan file")
        self.start_button.clicked.connect(self.sig_start_requested)
        row.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(1)
        layout.addWidget(self.headline)
        layout.addLayout(row)
        layout.addWidget(self.state)
        layout.addWidget(self.analysis)
        self.show_rollout(None, "", supported=False)

    def _label(self, name: str, accessible: str) -> QLabel:
        label = QLabel("", self)
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setWordWrap(True)
        return label

    def show_rollout(self, rollout: dict[str, Any] | None, endpoint: str, supported: bool = True) -> None:
        """The endpoint's rollout (its active one, else its last), or None: it never had one."""
        self.rollout = rollout
        self.setVisible(bool(endpoint) and supported)
        allowed = available_actions(rollout)
        for action, button in self.buttons.items():
            button.setVisible(bool(rollout and rollout.get("active")))
            button.setEnabled(action in allowed)
        self.start_button.setVisible(not (rollout and rollout.get("active")))
        if rollout is None:
            self.headline.setText(f"<b>Rollout</b> · {html.escape(endpoint)} has no rollout")
            for label in (self.steps, self.state, self.analysis):
                label.setText("")
            self.analysis.setVisible(False)
            self.state.setVisible(False)
            return
        self.analysis.setVisible(True)
        self.state.setVisible(True)
        phase = str(rollout.get("phase"))
        colour = FAIL if phase in ("rolled-back", "aborted") else GOOD if phase == "succeeded" else ""
        what = html.escape(str(rollout.get("description") or phase))
        what = f"<b style='color:{colour}'>{what}</b>" if colour else f"<b>{what}</b>"
        self.headline.setText(f"<b>Rollout {html.escape(str(rollout.get('id')))}</b> · "
                              f"{html.escape(str(rollout.get('candidate')))} over "
                              f"{html.escape(str(rollout.get('baseline')))} · {what}")
        self.steps.setText(steps_html(rollout))
        self.state.setText(html.escape(state_text(rollout)))
        self.analysis.setText(analysis_html(rollout))

    def text(self) -> str:
        """Everything the strip says, as plain text (for tests and accessibility checks)."""
        doc = QTextDocument()
        parts = []
        for label in (self.headline, self.steps, self.state, self.analysis):
            doc.setHtml(label.text())
            parts.append(doc.toPlainText())
        return " | ".join(p for p in parts if p)
