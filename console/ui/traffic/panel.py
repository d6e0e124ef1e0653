"""TrafficPanel: the endpoint's traffic split as a draft a person edits, then reviews.

One slider and number field per deployment, linked through domain/rebalance.py (the split
always sums to 100, no share is negative, a locked deployment keeps its share); mirror
(shadow) shares apart, 0..50; step presets from the endpoint's policy and "Promote". Nothing
is sent while editing: "Review…" asks for the preview (review.py), and the always-visible
"Rollback…" for the rollback confirmation (rollback.py). The panel does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.domain.endpoint_policy import EndpointPolicy
from console.domain.models import EndpointStatus, Revision
from console.domain.rebalance import Rebalanced, promote, rebalance, set_mirror, step_to
from console.domain.split import MAX_MIRROR_TOTAL
from console.ui.models.tables import split_text
from console.ui.traffic.context import rolled_back_from

ROLLBACK_TIP = "Restore the split live before the latest change (Ctrl+Shift+R)"
REVIEW_TIP = "Preview the change, the guards' verdicts and the expected load; nothing is sent before you confirm"


class _Row:
    """The widgets of one deployment."""

    def __init__(self, panel: TrafficPanel, name: str) -> None:
        self.name = name
        self.label = QLabel(name, panel)
        self.slider = QSlider(Qt.Orientation.Horizontal, panel)
        self.slider.setRange(0, 100)
        self.slider.setPageStep(5)
        self.spin = QSpinBox(panel)
        self.spin.setRange(0, 100)
        self.spin.setSuffix(" %")
        self.lock = QCheckBox("lock", panel)
        self.observed = QLabel("", panel)
        self.mirror = QSpinBox(panel)
        self.mirror.setRange(0, MAX_MIRROR_TOTAL)
        self.mirror.setSuffix(" %")
        self.note = QLabel("", panel)
        self.note.setObjectName(f"trafficNote_{name}")
        for widget, what in ((self.slider, "live share slider"), (self.spin, "live share percent"),
                             (self.lock, "lock the live share"), (self.observed, "observed share"),
                             (self.mirror, "mirror share percent"), (self.note, "note")):
            widget.setAccessibleName(f"{name}: {what}")
        self.slider.setObjectName(f"trafficSlider_{name}")
        self.spin.setObjectName(f"trafficSpin_{name}")
        self.lock.setObjectName(f"trafficLock_{name}")
        self.mirror.setObjectName(f"trafficMirror_{name}")
        self.observed.setObjectName(f"trafficObserved_{name}")
        self.slider.valueChanged.connect(lambda v: panel._on_share_value_changed(name, v))
        self.spin.valueChanged.connect(lambda v: panel._on_share_value_changed(name, v))
        self.mirror.valueChanged.connect(lambda v: panel._on_mirror_value_changed(name, v))
        self.lock.toggled.connect(lambda _on: panel._on_lock_toggled())

    def widgets(self) -> list[QWidget]:
        return [self.label, self.slider, self.spin, self.lock, self.observed, self.mirror, self.note]

    def show(self, share: int, mirror: int) -> None:
        for widget, value in ((self.slider, share), (self.spin, share), (self.mirror, mirror)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.mirror.setEnabled(share == 0)
        self.mirror.setToolTip("" if share == 0 else f"{self.name} receives live traffic: give it 0% to mirror to it")


class TrafficPanel(QGroupBox):
    sig_review_requested = Signal(str, str)  # place id, endpoint
    sig_rollback_requested = Signal(str, str)  # place id, endpoint
    sig_endpoint_shown = Signal(str, str)  # place id, endpoint ("" when none): shown, or shown again as read

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trafficPanel")
        self.setAccessibleName("Traffic split: live and mirror shares of each deployment")
        self.place_id = ""
        self.status: EndpointStatus | None = None  # the endpoint as the draft was made from it
        self.latest: EndpointStatus | None = None  # the endpoint as last read
        self.traffic: dict[str, int] = {}
        self.mirror: dict[str, int] = {}
        self.rows: dict[str, _Row] = {}
        self._busy = ""
        self._blocked: str | None = None  # why this person may not change the endpoint (a missing permission)
        self._fitted = False
        self.heading = QLabel("<b>Traffic split</b>", self)
        self.heading.setObjectName("trafficHeading")
        self.heading.setAccessibleName("Live traffic split and revision")
        self.rollback_button = QPushButton("&Rollback…", self)
        self.rollback_button.setObjectName("rollbackButton")
        self.rollback_button.setAccessibleName("Roll the endpoint back to its last known-good split")
        self.rollback_button.setToolTip(ROLLBACK_TIP)
        self.rollback_button.setStyleSheet("QPushButton:enabled { color: #c0392b; font-weight: bold; }")
        self.rollback_button.clicked.connect(self._on_rollback_button_clicked)
        self.grid = QGridLayout()
        for col, text in enumerate(("Deployment", "Live share", "", "", "Observed", "Mirror", "")):
            head = QLabel(f"<b>{text}</b>", self)
            self.grid.addWidget(head, 0, col)
        self.grid.setColumnStretch(1, 1)
        self.candidate = QComboBox(self)
        self.candidate.setObjectName("trafficCandidate")
        self.candidate.setAccessibleName("Deployment the step presets and Promote move")
        self.steps_row = QHBoxLayout()
        self.steps_row.addWidget(QLabel("Step", self))
        self.steps_row.addWidget(self.candidate)
        self.step_buttons: list[QPushButton] = []
        self.promote_button = QPushButton("Promote", self)
        self.promote_button.setObjectName("trafficPromote")
        self.promote_button.setToolTip("100% of live traffic to the chosen deployment (as far as the locks allow)")
        self.promote_button.clicked.connect(lambda: self._apply(promote(self.traffic, self._chosen(), self.locks())))
        self.steps_end = QHBoxLayout()
        self.steps_row.addLayout(self.steps_end)
        self.steps_row.addWidget(self.promote_button)
        self.steps_row.addStretch(1)
        self.message = QLabel("", self)
        self.message.setObjectName("trafficMessage")
        self.message.setAccessibleName("Traffic change: progress, outcome and notes")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reset_button = QPushButton("Re&set", self)
        self.reset_button.setObjectName("trafficReset")
        self.reset_button.setToolTip("Start again from the endpoint's current split")
        self.reset_button.clicked.connect(self.reset)
        self.review_button = QPushButton("Re&view…", self)
        self.review_button.setObjectName("trafficReview")
        self.review_button.setToolTip(REVIEW_TIP)
        self.review_button.clicked.connect(self._on_review_button_clicked)
        top = QHBoxLayout()  # one row, always visible however short the panel: the split and the buttons
        top.addWidget(self.heading, 1)
        top.addWidget(self.reset_button)
        top.addWidget(self.review_button)
        top.addWidget(self.rollback_button)
        body = QWidget(self)
        inner = QVBoxLayout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(self.grid)
        inner.addLayout(self.steps_row)
        inner.addWidget(self.message)
        inner.addStretch(1)
        scroll = QScrollArea(self)  # many deployments, or a short window: the rows scroll, the buttons stay
        scroll.setObjectName("trafficRows")
        scroll.setAccessibleName("Live and mirror shares of each deployment")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        scroll.setMinimumHeight(24)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        self._enable()

    # ------------------------------------------------------------ what it shows
    def show_endpoint(self, place_id: str, endpoint: EndpointStatus | None) -> None:
        other = (place_id, endpoint.name if endpoint else None) != (self.place_id, self.status.name if self.status
                                                                     else None)
        self.place_id, self.latest = place_id, endpoint
        if other:
            self._blocked = None
        if endpoint is None:
            self.status, self.traffic, self.mirror = None, {}, {}
            self._build_rows([])
        elif other or not self.modified() or self.status is None or \
                {d.name for d in endpoint.deployments} != set(self.rows):
            self._adopt(endpoint, keep_message=not other)
        elif endpoint.revision != self.status.revision:
            self.message.setText(f"{endpoint.name} is now at {endpoint.revision_name} {endpoint.revision} "
                                 f"({split_text(endpoint.traffic)}); your draft was made on revision "
                                 f"{self.status.revision}: Reset to start from the current split")
        self._show_heading()
        self._enable()
        self.sig_endpoint_shown.emit(place_id, endpoint.name if endpoint else "")

    def set_blocked(self, place_id: str, endpoint: str, why: str | None) -> None:
        """Why this person may not change the endpoint (e.g. the permission missing, and where); None: they may.
        Review and Rollback stay disabled, with `why` as their tooltip."""
        if self.status is None or (place_id, endpoint) != (self.place_id, self.status.name):
            return
        self._blocked = why
        self._enable()

    def blocked(self) -> str | None:
        return self._blocked

    def _adopt(self, endpoint: EndpointStatus, keep_message: bool = True) -> None:
        names = sorted({d.name for d in endpoint.deployments} | set(endpoint.traffic))
        self.status = endpoint
        self.traffic = {n: endpoint.traffic.get(n, 0) for n in names}
        self.mirror = {n: w for n, w in endpoint.mirror.items() if w}
        if list(self.rows) != names:
            self._build_rows(names)
        self._build_steps((endpoint.policy or EndpointPolicy()).steps)
        self._refresh_rows()
        QTimer.singleShot(0, self, self._fit)  # again on later reads until the window is laid out
        if not keep_message:
            self.message.setText("")

    def _build_rows(self, names: Sequence[str]) -> None:
        for row in self.rows.values():
            for widget in row.widgets():
                self.grid.removeWidget(widget)
                widget.deleteLater()
        self.rows = {}
        for index, name in enumerate(names, start=1):
            row = _Row(self, name)
            self.rows[name] = row
            for col, widget in enumerate(row.widgets()):
                self.grid.addWidget(widget, index, col)
        current = self.candidate.currentText()
        self.candidate.clear()
        self.candidate.addItems(list(names))
        if current in names:
            self.candidate.setCurrentText(current)
        elif names:
            growing = sorted(names, key=lambda n: (self.traffic.get(n, 0) == 0, self.traffic.get(n, 0), n))
            self.candidate.setCurrentText(growing[0] if len(names) > 1 and self.traffic.get(growing[0], 0) < 100
                                          else names[0])

    def _fit(self) -> None:
        """Once: in a splitter, take the height the rows need (at most 45% of it), so every
        deployment's slider shows without scrolling where there is room."""
        splitter = self.parentWidget()
        if self._fitted or not isinstance(splitter, QSplitter) or not splitter.isVisible() or \
                splitter.height() < 200 or not self.rows:
            return
        self._fitted = True
        index = splitter.indexOf(self)
        sizes = splitter.sizes()
        want = min(self.sizeHint().height() + 12 * len(self.rows), int(sum(sizes) * 0.45))
        if index < 0 or sizes[index] >= want:
            return
        others = [i for i in range(len(sizes)) if i != index]
        spare = sum(sizes) - want
        total = sum(sizes[i] for i in others) or 1
        splitter.setSizes([want if i == index else max(0, sizes[i] * spare // total) for i in range(len(sizes))])

    def _build_steps(self, steps: Sequence[int]) -> None:
        if [b.property("step") for b in self.step_buttons] == list(steps):
            return
        for button in self.step_buttons:
            self.steps_end.removeWidget(button)
            button.deleteLater()
        self.step_buttons = []
        for step in steps:
            button = QPushButton(f"{step}%", self)
            button.setObjectName(f"trafficStep_{step}")
            button.setProperty("step", step)
            button.setToolTip(f"the chosen deployment to {step}% (a step of the endpoint's rollout plan)")
            button.clicked.connect(lambda _c=False, s=step: self._apply(step_to(self.traffic, self._chosen(), s,
                                                                                 self.locks())))
            self.steps_end.addWidget(button)
            self.step_buttons.append(button)

    def set_history(self, place_id: str, endpoint: str, revisions: Sequence[Revision]) -> None:
        """Mark the deployments the latest rollback took traffic from (they keep running)."""
        if self.status is None or (place_id, endpoint) != (self.place_id, self.status.name):
            return
        marks = rolled_back_from(revisions)
        for name, row in self.rows.items():
            rev = marks.get(name)
            row.note.setText(f"rolled back from at {rev.time.astimezone().strftime('%H:%M')} (r{rev.number}); "
                             "still running" if rev else "")

    def set_observed(self, shares: dict[str, float] | None) -> None:
        """The live share each deployment served over the last seconds (None: no telemetry)."""
        for name, row in self.rows.items():
            row.observed.setText("—" if shares is None else f"{shares.get(name, 0.0):.0f}% seen")
            row.observed.setToolTip("no telemetry" if shares is None else "share of live requests over the last 10 s")

    def set_busy(self, text: str) -> None:
        """A change of this endpoint is under way ("" when none): Review waits for it."""
        self._busy = text
        if text:
            self.message.setText(text)
        self._enable()

    def set_message(self, text: str) -> None:
        self.message.setText(text)

    # ------------------------------------------------------------ the draft
    def locks(self) -> set[str]:
        return {n for n, row in self.rows.items() if row.lock.isChecked()}

    def modified(self) -> bool:
        if self.status is None:
            return False
        base_mirror = {n: w for n, w in self.status.mirror.items() if w}
        return any(self.traffic.get(n, 0) != self.status.traffic.get(n, 0) for n in self.traffic) or \
            self.mirror != base_mirror

    def draft(self) -> tuple[dict[str, int], dict[str, int]]:
        return dict(self.traffic), dict(self.mirror)

    def set_share(self, name: str, value: int) -> Rebalanced:
        result = rebalance(self.traffic, self.locks(), name, value)
        self._apply(result)
        return result

    def reset(self) -> None:
        if self.latest is not None:
            self._adopt(self.latest, keep_message=False)
        self._enable()

    def start_from(self, endpoint: EndpointStatus) -> None:
        """Drop the draft; start again from `endpoint` as it stands now."""
        self.latest = endpoint
        self.reset()

    def _chosen(self) -> str:
        return self.candidate.currentText()

    def _apply(self, result: Rebalanced) -> None:
        self.traffic = dict(result.split)
        self.mirror = {n: w for n, w in self.mirror.items() if self.traffic.get(n, 0) == 0}
        self._refresh_rows()
        self.message.setText(result.reason)
        self._enable()

    def _on_share_value_changed(self, name: str, value: int) -> None:
        if name in self.traffic and value != self.traffic[name]:
            self._apply(rebalance(self.traffic, self.locks(), name, value))

    def _on_mirror_value_changed(self, name: str, value: int) -> None:
        change = set_mirror(self.traffic, self.mirror, name, value)
        self.mirror = change.mirror
        self._refresh_rows()
        self.message.setText(change.reason)
        self._enable()

    def _on_lock_toggled(self) -> None:
        locked = self.locks()
        for name, row in self.rows.items():
            row.slider.setEnabled(name not in locked)
            row.spin.setEnabled(name not in locked)

    def _refresh_rows(self) -> None:
        for name, row in self.rows.items():
            row.show(self.traffic.get(name, 0), self.mirror.get(name, 0))
            dep = next((d for d in self.status.deployments if d.name == name), None) if self.status else None
            row.label.setText(name if dep is None else f"{name} · {dep.state.value}")

    def _show_heading(self) -> None:
        if self.status is None:
            self.heading.setText("<b>Traffic split</b>")
            return
        live = self.latest or self.status
        mirror = f" · mirror {split_text(live.mirror)}" if any(live.mirror.values()) else ""
        self.heading.setText(f"<b>Traffic split</b> · {live.revision_name} {live.revision} · live "
                             f"{split_text(live.traffic)}"
                             f"{mirror}")

    def _enable(self) -> None:
        has = self.status is not None
        allowed = has and not self._blocked
        self.rollback_button.setEnabled(allowed)
        self.review_button.setEnabled(allowed and self.modified() and not self._busy)
        self.rollback_button.setToolTip(self._blocked or ROLLBACK_TIP)
        self.review_button.setToolTip(self._blocked or REVIEW_TIP)
        self.reset_button.setEnabled(has and self.modified())
        self.promote_button.setEnabled(has and len(self.rows) > 1)
        for button in self.step_buttons:
            button.setEnabled(has and len(self.rows) > 1)

    # ------------------------------------------------------------ requests
    def _on_review_button_clicked(self) -> None:
        if self.status is not None:
            self.sig_review_requested.emit(self.place_id, self.status.name)

    def _on_rollback_button_clicked(self) -> None:
        if self.status is not None:
            self.sig_rollback_requested.emit(self.place_id, self.status.name)
