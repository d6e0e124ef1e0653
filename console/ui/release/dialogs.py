"""The rollout's dialogs: the confirmation of an action (what it does to the split, and a
reason for the audit log) and "Start rollout from plan…" (a YAML plan file, its parsed preview,
the problems found here and the engine's own refusal, then start)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.backends.base import Invalid
from console.domain.models import EndpointStatus
from console.domain.rollout_plan import PlanError, RolloutPlan, parse_plan, resolve
from console.ui.models.tables import split_text
from console.ui.plots.colours import BREACH
from console.ui.release.capabilities import SupportsRollouts
from console.ui.tasks import TaskRunner


def action_text(action: str, rollout: dict[str, Any]) -> str:
    """What `action` will do, in words, with the split it leaves."""
    rid, candidate, baseline = rollout.get("id"), str(rollout.get("candidate")), str(rollout.get("baseline"))
    step, steps = int(rollout.get("step", 0)), rollout.get("steps") or []
    split = split_text(rollout.get("traffic") or {})
    where = f"rollout {rid} of {rollout.get('endpoint')} ({rollout.get('description')})"
    if action == "abort":
        return (f"Abort {where}.\n\nThe split becomes {baseline} 100%. {candidate} keeps running with no live "
                "traffic. The rollout ends as aborted.")
    if action == "promote":
        return (f"Promote {where}.\n\nThe split becomes {candidate} 100%, skipping the steps left and their "
                "analyses. The rollout ends as succeeded.")
    if action == "pause":
        return (f"Pause {where}.\n\nThe split stays {split}. Analyses go on while paused: a sustained breach "
                "still rolls back.")
    if action == "resume":
        bake = steps[step]["bake_s"] if 0 <= step < len(steps) else 0
        return f"Resume {where}.\n\nThe split stays {split}; this step bakes afresh ({bake:g} s)."
    if step + 1 < len(steps):
        weight = int(steps[step + 1]["weight"])
        after = {candidate: weight, baseline: 100 - weight} if weight < 100 else {candidate: 100}
        return f"Approve the gate of {where}.\n\nThe next step sets the split to {split_text(after)}."
    return f"Approve the gate of {where}.\n\nThis was the last step: the rollout succeeds."


class ReasonConfirmDialog(QDialog):
    """Confirm one decision with a reason for the audit log: `sig_confirmed(key, reason)` on OK.
    Object names are `<name>`, `<name>Text`, `<name>Reason` and `<name>Ok`."""

    sig_confirmed = Signal(str, str)  # key (the action or verb), reason

    def __init__(self, key: str, *, name: str, title: str, accessible: str, text: str, button: str,
                 placeholder: str, reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName(name)
        self.setWindowTitle(title)
        self.setAccessibleName(accessible)
        self.text = QLabel(text, self)
        self.text.setObjectName(f"{name}Text")
        self.text.setWordWrap(True)
        self.reason = QLineEdit(reason, self)
        self.reason.setObjectName(f"{name}Reason")
        self.reason.setAccessibleName("Reason, for the audit log")
        self.reason.setPlaceholderText(placeholder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = buttons.addButton(button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setObjectName(f"{name}Ok")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.reason)
        layout.addWidget(buttons)

    def accept(self) -> None:
        self.sig_confirmed.emit(self.key, self.reason.text().strip())
        super().accept()


class ConfirmActionDialog(ReasonConfirmDialog):
    """Abort, promote or approve the gate of an engine rollout."""

    def __init__(self, action: str, rollout: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(action, name="rolloutConfirm", title=f"{action.capitalize()} the rollout?",
                         accessible=f"Confirm: {action} the rollout", text=action_text(action, rollout),
                         button=action.capitalize(), placeholder="Reason (recorded in the audit log)",
                         parent=parent)
        self.action = action


def plan_html(plan: RolloutPlan) -> str:
    a = plan.analysis
    steps = " → ".join(f"{s.weight}% ({plan.bake(i):g} s{', gate' if plan.gated(i) else ''})"
                       for i, s in enumerate(plan.steps))
    limits = [f"{a.quantile} ≤ {a.latency_ms:g} ms" if a.latency_ms is not None else "",
              f"{a.quantile} ≤ {a.latency_ratio:g} x baseline" if a.latency_ratio is not None else "",
              f"5xx ≤ {a.error_rate_percent:g}%" if a.error_rate_percent is not None else "",
              f"5xx ≤ baseline + {a.error_rate_over_baseline:g} points"
              if a.error_rate_over_baseline is not None else ""]
    rows = [("Endpoint", plan.endpoint), ("Candidate", plan.candidate),
            ("Baseline", plan.baseline or "(the largest share at start)"), ("Steps", steps),
            ("Analysis", "; ".join(x for x in limits if x) or "(the endpoint's SLO)"),
            ("Every", f"{a.interval_s:g} s over {a.window_s} s, at least {a.min_requests} requests; "
                      f"{a.rollback_after} failed in a row roll back")]
    return "<table>" + "".join(f"<tr><td><i>{k}</i>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                               for k, v in rows) + "</table>"


def check_plan(text: str, source: str, endpoint: EndpointStatus) -> tuple[RolloutPlan | None, list[str]]:
    """The plan, and the problems found without asking the engine (it checks again)."""
    try:
        plan = parse_plan(text, source)
    except PlanError as exc:
        return None, list(exc.problems)
    problems = []
    names = {d.name for d in endpoint.deployments}
    if plan.endpoint != endpoint.name:
        problems.append(f"the plan is for endpoint {plan.endpoint!r}, not {endpoint.name!r}")
    for role, name in (("candidate", plan.candidate), ("baseline", plan.baseline)):
        if name is not None and name not in names:
            problems.append(f"{role}: {name!r} is not a deployment of endpoint {endpoint.name!r}")
    if not problems:
        try:
            plan = resolve(plan, endpoint.slo, endpoint.traffic)
        except PlanError as exc:
            problems += exc.problems
    return plan, problems


class PlanDialog(QDialog):
    sig_rollout_started = Signal(object)  # the rollout's JSON

    def __init__(self, runner: TaskRunner, backend: SupportsRollouts, endpoint: EndpointStatus,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rolloutPlanDialog")
        self.setWindowTitle(f"Start a rollout of {endpoint.name}")
        self.setAccessibleName(f"Start a rollout of {endpoint.name} from a plan")
        self.runner, self.backend, self.endpoint = runner, backend, endpoint
        self.text = ""
        self.plan: RolloutPlan | None = None
        self.path = QLabel("No plan chosen", self)
        self.path.setObjectName("rolloutPlanPath")
        choose = QPushButton("&Choose plan…", self)
        choose.setObjectName("rolloutPlanChoose")
        choose.clicked.connect(self.choose_file)
        self.source = QPlainTextEdit(self)
        self.source.setObjectName("rolloutPlanText")
        self.source.setAccessibleName("The plan as written")
        self.source.setReadOnly(True)
        self.preview = QTextBrowser(self)
        self.preview.setObjectName("rolloutPlanPreview")
        self.preview.setAccessibleName("The plan as it will run")
        self.problems = QLabel("", self)
        self.problems.setObjectName("rolloutPlanProblems")
        self.problems.setAccessibleName("Problems with the plan")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {BREACH};")
        self.reason = QLineEdit(self)
        self.reason.setObjectName("rolloutPlanReason")
        self.reason.setPlaceholderText("Reason (recorded in the audit log)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.start_button = buttons.addButton("&Start rollout", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setObjectName("rolloutPlanStart")
        self.start_button.setEnabled(False)
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.path, 1)
        top.addWidget(choose)
        form = QFormLayout()
        form.addRow("&Reason", self.reason)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.source, 2)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.problems)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(640, 560)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Rollout plan", "", "Rollout plans (*.yaml *.yml);;All files (*)")
        if path:
            self.load_file(path)

    def load_file(self, path: str | Path) -> None:
        """Read the plan on a worker, then preview it."""
        self.path.setText(str(path))
        self.start_button.setEnabled(False)

        def failed(error: BaseException) -> None:
            self._problems([f"cannot read {path}: {getattr(error, 'strerror', None) or error}"])

        self.runner.submit(Path(path).read_text, "utf-8", on_done=lambda text: self.set_text(text, Path(path).name),
                           on_error=failed, name=f"read {path}")

    def set_text(self, text: str, source: str = "plan") -> None:
        self.text = text
        self.source.setPlainText(text)
        self.plan, problems = check_plan(text, source, self.endpoint)
        self.preview.setHtml(plan_html(self.plan) if self.plan else "")
        self._problems(problems)

    def _problems(self, problems: list[str]) -> None:
        self.problems.setText("\n".join(f"• {p}" for p in problems))
        self.start_button.setEnabled(self.plan is not None and not problems)

    def start(self) -> None:
        if not self.start_button.isEnabled():
            return
        self.start_button.setEnabled(False)
        self.problems.setText("Starting…")
        self.runner.submit(self.backend.start_rollout, self.endpoint.name, self.text, self.reason.text().strip(),
                           on_done=self._on_start_done, on_error=self._on_start_failed,
                           name=f"start a rollout of {self.endpoint.name}")

    def _on_start_done(self, rollout: dict[str, Any]) -> None:
        self.sig_rollout_started.emit(rollout)
        self.accept()

    def _on_start_failed(self, error: BaseException) -> None:
        detail = getattr(error, "detail", None) if isinstance(error, Invalid) else None
        extra = [str(p) for p in detail] if isinstance(detail, list) else []
        self._problems([f"the engine refused it: {error}", *[p for p in extra if p not in str(error)]])
        self.start_button.setEnabled(True)
