"""KubeContextDialog: the console's settings for one kubeconfig context — which namespaces to read
(all, or a list) and whether the console may change anything there (read-only) — with a connection
test that shows who the context signs in as and which permissions the cluster refuses.

The credentials stay in kubeconfig, read by the official client's loader; nothing secret is asked
for or stored here. The test runs on a TaskRunner worker.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from console.backends.base import Backend, ProbeResult, redact_text
from console.backends.places import PlaceConfig
from console.ui.tasks import TaskRunner

#: a namespace name: an RFC 1123 label, as the API server requires
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MISSING_SHOWN = 8


def namespace_problems(text: str) -> tuple[tuple[str, ...], list[str]]:
    """The namespaces listed in `text` (comma or space separated), and what is wrong with them."""
    names = tuple(dict.fromkeys(n for n in re.split(r"[,\s]+", text.strip()) if n))
    problems = [f"{n!r} is not a namespace name (lower-case letters, digits and '-', at most 63)"
                for n in names if len(n) > 63 or not NAMESPACE.match(n)]
    if not names:
        problems.append("list at least one namespace, or choose all namespaces")
    return names, problems


def probe_text(result: ProbeResult) -> str:
    if not result.ok:
        return f"Failed ({result.kind}): {result.message}"
    detail = result.detail
    missing = list(detail.get("missing") or [])
    lines = [f"Connected to {detail.get('server', '?')} (Kubernetes {detail.get('version', '?')}) as "
             f"{detail.get('user') or 'the context user'}.",
             f"Reads: {', '.join(detail.get('kinds') or []) or 'nothing the console knows'}."]
    if missing:
        shown = "; ".join(missing[:MISSING_SHOWN]) + (f"; and {len(missing) - MISSING_SHOWN} more"
                                                       if len(missing) > MISSING_SHOWN else "")
        lines.append(f"The cluster refuses {len(missing)}: {shown}. Actions that need them stay disabled.")
    else:
        lines.append("Every permission the console uses is granted.")
    if detail.get("read_only"):
        lines.append("Read-only in the console: nothing will be changed from here.")
    return "\n".join(lines)


class KubeContextDialog(QDialog):
    def __init__(self, runner: TaskRunner, config: PlaceConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kubeContextDialog")
        self.setWindowTitle(f"Kubernetes context {config.context or config.name}")
        self.setAccessibleName(self.windowTitle())
        self._runner = runner
        self._original = config
        self._result: PlaceConfig | None = None
        self._test_task = 0
        self._closed = False

        self.context = QLabel(config.context or config.name, self)
        self.kubeconfig = QLabel(config.kubeconfig or "KUBECONFIG, or ~/.kube/config", self)
        self.kubeconfig.setWordWrap(True)
        self.all_namespaces = QRadioButton("All namespaces", self)
        self.some_namespaces = QRadioButton("Only these namespaces:", self)
        self.namespaces = QLineEdit(self)
        self.namespaces.setPlaceholderText("ml-prod, ml-staging")
        self.read_only = QCheckBox("Read-only: never change anything in this context from the console", self)
        self.test_button = QPushButton("Test connection", self)
        self.test_result = QLabel("", self)
        self.test_result.setWordWrap(True)
        for widget, name, accessible in (
            (self.all_namespaces, "kubeAllNamespaces", "All namespaces"),
            (self.some_namespaces, "kubeSomeNamespaces", "Only these namespaces"),
            (self.namespaces, "kubeNamespaces", "Namespaces to read"),
            (self.read_only, "kubeReadOnly", "Read-only context"),
            (self.test_button, "testConnection", "Test connection"),
            (self.test_result, "testResult", "Connection test result"),
        ):
            widget.setObjectName(name)
            widget.setAccessibleName(accessible)
        form = QFormLayout()
        form.addRow("Context", self.context)
        form.addRow("Kubeconfig", self.kubeconfig)
        form.addRow("Namespaces", self.all_namespaces)
        form.addRow("", self.some_namespaces)
        form.addRow("", self.namespaces)
        form.addRow("", self.read_only)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.test_button)
        layout.addWidget(self.test_result)
        layout.addWidget(self.buttons)

        if config.namespaces:
            self.some_namespaces.setChecked(True)
            self.namespaces.setText(", ".join(config.namespaces))
        else:
            self.all_namespaces.setChecked(True)
        self.read_only.setChecked(config.read_only)
        self.some_namespaces.toggled.connect(self.namespaces.setEnabled)
        self.namespaces.setEnabled(self.some_namespaces.isChecked())
        self.test_button.clicked.connect(self.test_connection)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    # ------------------------------------------------------------ the form
    def form_config(self) -> tuple[PlaceConfig, list[str]]:
        namespaces: tuple[str, ...] | None = None
        problems: list[str] = []
        if self.some_namespaces.isChecked():
            namespaces, problems = namespace_problems(self.namespaces.text())
        config = self._original.model_copy(update={"namespaces": namespaces, "read_only": self.read_only.isChecked(),
                                                   "auto": False})
        return config, problems

    def result_config(self) -> PlaceConfig | None:
        return self._result

    def _on_buttons_accepted(self) -> None:
        config, problems = self.form_config()
        if problems:
            text = "; ".join(problems)
            self.test_result.setText(text[:1].upper() + text[1:])
            return
        self._result = config
        self.accept()

    # ------------------------------------------------------------ test connection (on a worker)
    def test_connection(self) -> None:
        config, problems = self.form_config()
        if problems:
            self.test_result.setText("Cannot test: " + "; ".join(problems))
            return
        from console.backends.kubernetes.backend import KubernetesBackend  # the client loads on first use

        backend: Backend = KubernetesBackend(config)
        self.test_result.setText("Testing: connecting and asking the cluster what this identity may do…")
        self.test_button.setEnabled(False)

        def work() -> ProbeResult:
            try:
                return backend.probe()
            finally:
                backend.close()

        self._test_task = self._runner.submit(work, on_done=self._on_test_done, on_error=self._on_test_failed,
                                              name=f"test context {config.context}")

    def done(self, result: int) -> None:
        """Accepted or rejected: a test still running is cancelled and its answer ignored."""
        self._closed = True
        if self._test_task:
            self._runner.cancel(self._test_task)
        super().done(result)

    def _on_test_done(self, result: ProbeResult) -> None:
        self._test_task = 0
        if self._closed:
            return
        self.test_button.setEnabled(True)
        self.test_result.setText(probe_text(result))

    def _on_test_failed(self, error: BaseException) -> None:
        self._test_task = 0
        if self._closed:
            return
        self.test_button.setEnabled(True)
        self.test_result.setText(redact_text(f"Failed: {error}"))
