"""PlaceDialog: add or edit a place, test its connection, keep its secret in the keyring.

The secret goes to the OS keyring through CredentialStore; the returned PlaceConfig holds
only a reference. With no usable keyring the dialog says so and offers to keep the secret
in memory until the console quits; it never writes the secret anywhere else.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.backends.base import Backend, PlaceKind, ProbeResult
from console.backends.credentials import CredentialStore, KeyringUnavailable
from console.backends.engine import EngineBackend
from console.backends.places import PlaceConfig, UrlBackend
from console.ui.tasks import TaskRunner

KINDS = ((PlaceKind.ENGINE, "Local engine"), (PlaceKind.SERVING, "Serving host (by URL)"),
         (PlaceKind.PROMETHEUS, "Prometheus server (by URL)"))
AUTHS = (("none", "No authentication"), ("bearer", "Bearer token"), ("basic", "User name and password"))


class PlaceDialog(QDialog):
    def __init__(self, runner: TaskRunner, credentials: CredentialStore, config: PlaceConfig | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("placeDialog")
        self.setWindowTitle("Edit place" if config else "Add place")
        self.setAccessibleName(self.windowTitle())
        self._runner = runner
        self._credentials = credentials
        self._original = config
        self.place_id = config.id if config else uuid.uuid4().hex[:12]
        self._result: PlaceConfig | None = None
        self._test_task = 0

        self.kind = QComboBox(self)
        for kind, label in KINDS:
            self.kind.addItem(label, kind)
        self.name = QLineEdit(self)
        self.state_dir = QLineEdit(self)
        self.url = QLineEdit(self)
        self.url.setPlaceholderText("https://host:port")
        self.auth = QComboBox(self)
        for value, label in AUTHS:
            self.auth.addItem(label, value)
        self.username = QLineEdit(self)
        self.secret = QLineEdit(self)
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.verify_tls = QCheckBox("Verify TLS certificates", self)
        self.verify_tls.setChecked(True)
        self.test_button = QPushButton("Test connection", self)
        self.test_result = QLabel("", self)
        self.test_result.setWordWrap(True)
        self.keyring_message = QLabel("", self)
        self.keyring_message.setWordWrap(True)
        self.keyring_message.setVisible(False)
        self.memory_button = QPushButton("Keep the secret in memory until Switchboard quits", self)
        self.memory_button.setVisible(False)
        for widget, name, accessible in (
            (self.kind, "placeKind", "Kind of place"), (self.name, "placeName", "Place name"),
            (self.state_dir, "placeStateDir", "Engine state directory"), (self.url, "placeUrl", "Place URL"),
            (self.auth, "placeAuth", "Authentication"), (self.username, "placeUsername", "User name"),
            (self.secret, "placeSecret", "Token or password"), (self.verify_tls, "placeVerifyTls", "Verify TLS"),
            (self.test_button, "testConnection", "Test connection"),
            (self.test_result, "testResult", "Connection test result"),
            (self.keyring_message, "keyringMessage", "Keyring message"),
            (self.memory_button, "keepInMemory", "Keep the secret in memory until quit"),
        ):
            widget.setObjectName(name)
            widget.setAccessibleName(accessible)
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Name", self.name)
        form.addRow("State directory", self.state_dir)
        form.addRow("URL", self.url)
        form.addRow("Authentication", self.auth)
        form.addRow("User name", self.username)
        form.addRow("Token / password", self.secret)
        form.addRow("", self.verify_tls)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.test_button)
        layout.addWidget(self.test_result)
        layout.addWidget(self.keyring_message)
        layout.addWidget(self.memory_button)
        layout.addWidget(self.buttons)
        self._form = form

        self.kind.currentIndexChanged.connect(self._on_form_changed)
        self.auth.currentIndexChanged.connect(self._on_form_changed)
        self.test_button.clicked.connect(self.test_connection)
        self.memory_button.clicked.connect(self._on_memory_button_clicked)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        if config is not None:
            self._load(config)
        self._on_form_changed()

    def _load(self, config: PlaceConfig) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(config.kind)))
        self.name.setText(config.name)
        self.state_dir.setText(config.state_dir or "")
        self.url.setText(config.url or "")
        self.auth.setCurrentIndex(max(0, self.auth.findData(config.auth)))
        self.username.setText(config.username or "")
        self.verify_tls.setChecked(config.verify_tls)
        if config.secret_ref:
            self.secret.setPlaceholderText("stored in the keyring; type to replace")

    def _on_form_changed(self, *_args: object) -> None:
        engine = self.kind.currentData() == PlaceKind.ENGINE
        auth = self.auth.currentData()
        for widget, visible in ((self.state_dir, engine), (self.url, not engine), (self.auth, not engine),
                                (self.verify_tls, not engine), (self.username, not engine and auth == "basic"),
                                (self.secret, not engine and auth != "none")):
            widget.setVisible(visible)
            label = self._form.labelForField(widget)
            if label is not None:
                label.setVisible(visible)
        reason = self._credentials.unavailable_reason() if (not engine and auth != "none") else None
        if reason:
            self._show_keyring_problem(reason, offer=False)
        else:
            self.keyring_message.setVisible(False)
            self.memory_button.setVisible(False)

    def _show_keyring_problem(self, reason: str, offer: bool) -> None:
        text = f"No usable OS keyring: {reason}. Secrets are never written to disk in plaintext."
        if offer:
            text += " The secret was not saved. You can keep it in memory until Switchboard quits."
        self.keyring_message.setText(text)
        self.keyring_message.setVisible(True)
        self.memory_button.setVisible(offer)

    # ---- the place described by the form
    def _form_config(self, secret_ref: str | None) -> PlaceConfig:
        kind = PlaceKind(self.kind.currentData())
        engine = kind == PlaceKind.ENGINE
        auth = "none" if engine else str(self.auth.currentData())
        return PlaceConfig(
            id=self.place_id, kind=kind, name=self.name.text().strip() or "unnamed",
            state_dir=str(Path(self.state_dir.text().strip()).expanduser()) if engine else None,
            url=None if engine else self.url.text().strip().rstrip("/"),
            auth=auth,  # type: ignore[arg-type]
            username=self.username.text().strip() or None if auth == "basic" else None,
            secret_ref=secret_ref if auth != "none" else None, verify_tls=self.verify_tls.isChecked(),
        )

    def problems(self) -> list[str]:
        found = []
        if not self.name.text().strip():
            found.append("a name is needed")
        if self.kind.currentData() == PlaceKind.ENGINE:
            if not self.state_dir.text().strip():
                found.append("a state directory is needed")
        elif not self.url.text().strip().startswith(("http://", "https://")):
            found.append("the URL must start with http:// or https://")
        return found

    def _backend(self) -> Backend:
        config = self._form_config(self._original.secret_ref if self._original else None)
        if config.kind == PlaceKind.ENGINE:
            return EngineBackend("test", Path(config.state_dir or "."))
        return UrlBackend(config, secret=self._credentials.get)

    # ---- test connection (on a worker)
    def test_connection(self) -> None:
        problems = self.problems()
        if problems:
            self.test_result.setText("Cannot test: " + "; ".join(problems))
            return
        backend = self._backend()
        secret = self.secret.text() or None
        self.test_result.setText("Testing…")
        self.test_button.setEnabled(False)

        def work() -> ProbeResult:
            try:
                if isinstance(backend, UrlBackend):
                    return backend.probe(secret_override=secret)
                return backend.probe()
            finally:
                backend.close()

        self._test_task = self._runner.submit(work, on_done=self._on_test_done, on_error=self._on_test_failed,
                                              name="test connection")

    def _on_test_done(self, result: ProbeResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("Connected: " if result.ok else f"Failed ({result.kind}): ") + result.message)

    def _on_test_failed(self, error: BaseException) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(f"Failed: {error}")

    # ---- accept: the secret to the keyring, the reference to the config
    def _secret_ref(self) -> str:
        if self._original and self._original.secret_ref:
            return self._original.secret_ref
        return f"place-{self.place_id}"

    def _on_buttons_accepted(self) -> None:
        problems = self.problems()
        if problems:
            self.test_result.setText("; ".join(problems).capitalize())
            return
        auth = self.auth.currentData() if self.kind.currentData() != PlaceKind.ENGINE else "none"
        secret = self.secret.text()
        ref: str | None = self._original.secret_ref if self._original else None
        if auth != "none" and secret:
            ref = self._secret_ref()
            try:
                self._credentials.save(ref, secret)
            except KeyringUnavailable as exc:
                self._show_keyring_problem(str(exc), offer=True)
                return
        self._finish(ref)

    def _on_memory_button_clicked(self) -> None:
        secret = self.secret.text()
        ref = self._secret_ref()
        if secret:
            self._credentials.keep_in_memory(ref, secret)
        self._finish(ref)

    def _finish(self, ref: str | None) -> None:
        self._result = self._form_config(ref)
        self.secret.clear()
        if self._test_task:
            self._runner.cancel(self._test_task)
        self.accept()

    def result_config(self) -> PlaceConfig | None:
        return self._result
