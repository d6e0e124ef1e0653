"""PlaceDialog: add or edit a place, test its connection, keep its secret in the keyring.

The secret goes to the OS keyring through CredentialStore; the returned PlaceConfig holds
only a reference. With no usable keyring the dialog says so and offers to keep the secret
in memory until the console quits; it never writes the secret anywhere else.

Every keyring call (is there a usable keyring? save) runs on a worker: a locked keyring
may show an unlock prompt and wait for the person, and that must not freeze the console.
The dialog stays responsive meanwhile; its result arrives through `accepted`/`finished`.
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

from console.backends.base import Backend, PlaceKind, ProbeResult, redact_text, url_secret_problems
from console.backends.credentials import CredentialStore, KeyringUnavailable
from console.backends.engine import EngineBackend
from console.backends.places import PlaceConfig, UrlBackend
from console.backends.prometheus import PrometheusBackend
from console.backends.serving import ServingBackend
from console.ui.dialogs.prom_mapping import PromMappingBox
from console.ui.dialogs.serving_metrics import ServingMetricsBox
from console.ui.keyring_tasks import KeyringTasks
from console.ui.tasks import TaskRunner

KINDS = ((PlaceKind.ENGINE, "Local engine"), (PlaceKind.SERVING, "Serving host (by URL)"),
         (PlaceKind.PROMETHEUS, "Prometheus server (by URL)"))
AUTHS = (("none", "No authentication"), ("bearer", "Bearer token"), ("basic", "User name and password"))
TLS_OFF_WARNING = ("TLS verification is off: the connection is encrypted, but the server's certificate is not "
                   "checked, so anyone on the network path can pretend to be this server and read the token or "
                   "password sent to it. Turn it off only for a server you trust on a network you trust.")


class PlaceDialog(QDialog):
    def __init__(self, runner: TaskRunner, credentials: CredentialStore, config: PlaceConfig | None = None,
                 parent: QWidget | None = None, probe_timeout_s: float | None = None) -> None:
        super().__init__(parent)
        self.probe_timeout_s = probe_timeout_s  # Test connection's timeout (None: the backend's default)
        self.setObjectName("placeDialog")
        self.setWindowTitle("Edit place" if config else "Add place")
        self.setAccessibleName(self.windowTitle())
        self._runner = runner
        self._credentials = credentials
        self._original = config
        self.place_id = config.id if config else uuid.uuid4().hex[:12]
        self._result: PlaceConfig | None = None
        self._test_task = 0
        self._keyring_reason: str | None = None
        self._keyring_checked = False
        self._closed = False
        self._offered = False  # the in-memory offer was made (a save found no keyring)
        self.keyring = KeyringTasks(runner, credentials, self)
        self.keyring.sig_keyring_checked.connect(self._on_keyring_checked)
        self.keyring.sig_secret_saved.connect(self._on_secret_saved)
        self.keyring.sig_secret_save_failed.connect(self._on_secret_save_failed)

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
        self.tls_warning = QLabel(TLS_OFF_WARNING, self)
        self.tls_warning.setWordWrap(True)
        self.tls_warning.setStyleSheet("color: #d0342c; font-weight: bold")
        self.tls_warning.setVisible(False)
        self.prom_mapping = PromMappingBox(self)  # Prometheus places: labels → endpoint, deployment
        self.serving_metrics = ServingMetricsBox(self)  # serving hosts: /metrics and the latency histogram
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
            (self.tls_warning, "tlsWarning", "Warning: TLS verification is off"),
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
        form.addRow("", self.tls_warning)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.prom_mapping)
        layout.addWidget(self.serving_metrics)
        layout.addWidget(self.test_button)
        layout.addWidget(self.test_result)
        layout.addWidget(self.keyring_message)
        layout.addWidget(self.memory_button)
        layout.addWidget(self.buttons)
        self._form = form

        self.kind.currentIndexChanged.connect(self._on_form_changed)
        self.auth.currentIndexChanged.connect(self._on_form_changed)
        self.verify_tls.toggled.connect(self._on_form_changed)
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
        self.prom_mapping.load(config.prometheus)
        self.serving_metrics.load(config)
        if config.secret_ref:
            self.secret.setPlaceholderText("stored in the keyring; type to replace")

    def _on_form_changed(self, *_args: object) -> None:
        engine = self.kind.currentData() == PlaceKind.ENGINE
        auth = self.auth.currentData()
        self.prom_mapping.setVisible(self.kind.currentData() == PlaceKind.PROMETHEUS)
        self.serving_metrics.setVisible(self.kind.currentData() == PlaceKind.SERVING)
        for widget, visible in ((self.state_dir, engine), (self.url, not engine), (self.auth, not engine),
                                (self.verify_tls, not engine),
                                (self.tls_warning, not engine and not self.verify_tls.isChecked()),
                                (self.username, not engine and auth == "basic"),
                                (self.secret, not engine and auth != "none")):
            widget.setVisible(visible)
            label = self._form.labelForField(widget)
            if label is not None:
                label.setVisible(visible)
        if engine or auth == "none":
            self.keyring_message.setVisible(False)
            self.memory_button.setVisible(False)
        elif self._keyring_checked:
            self._on_keyring_checked(self._keyring_reason)
        else:
            self.keyring.check()

    def needs_secret(self) -> bool:
        return bool(self.kind.currentData() != PlaceKind.ENGINE and self.auth.currentData() != "none")

    def _on_keyring_checked(self, reason: str | None) -> None:
        self._keyring_checked = True
        self._keyring_reason = reason
        if self._closed:
            return
        if reason and self.needs_secret():
            self._show_keyring_problem(reason, offer=self._offered)
        elif not reason:
            self.keyring_message.setVisible(False)
            self.memory_button.setVisible(False)

    def _show_keyring_problem(self, reason: str, offer: bool) -> None:
        text = f"No usable OS keyring: {reason}. Secrets are never written to disk in plaintext."
        if offer:
            text += " The secret was not saved. You can keep it in memory until Switchboard quits."
        self._offered = offer
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
            prometheus=self.prom_mapping.mapping() if kind == PlaceKind.PROMETHEUS else None,
            **(self.serving_metrics.values() if kind == PlaceKind.SERVING else {}),
        )

    def problems(self) -> list[str]:
        found = []
        if not self.name.text().strip():
            found.append("a name is needed")
        if self.kind.currentData() == PlaceKind.ENGINE:
            if not self.state_dir.text().strip():
                found.append("a state directory is needed")
        else:
            url = self.url.text().strip()
            if not url.startswith(("http://", "https://")):
                found.append("the URL must start with http:// or https://")
            found.extend(url_secret_problems(url))  # places.json is plaintext: secrets go to the keyring
            if self.kind.currentData() == PlaceKind.PROMETHEUS:
                found.extend(self.prom_mapping.problems())
            if self.kind.currentData() == PlaceKind.SERVING:
                found.extend(self.serving_metrics.problems())
        return found

    def _backend(self) -> Backend:
        config = self._form_config(self._original.secret_ref if self._original else None)
        if config.kind == PlaceKind.ENGINE:
            return EngineBackend("test", Path(config.state_dir or "."))
        if config.kind == PlaceKind.PROMETHEUS:  # its test also has the server check the selector
            if self.probe_timeout_s is not None:
                return PrometheusBackend(config, secret=self._credentials.get, timeout=self.probe_timeout_s)
            return PrometheusBackend(config, secret=self._credentials.get)
        if config.kind == PlaceKind.SERVING:  # its test also says which server it is and its histograms
            if self.probe_timeout_s is not None:
                return ServingBackend(config, secret=self._credentials.get, timeout=self.probe_timeout_s)
            return ServingBackend(config, secret=self._credentials.get)
        if self.probe_timeout_s is not None:
            return UrlBackend(config, secret=self._credentials.get, timeout=self.probe_timeout_s)
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
        self._test_task = 0
        self.test_button.setEnabled(True)
        text = ("Connected: " if result.ok else f"Failed ({result.kind}): ") + result.message
        if result.ok and self.kind.currentData() != PlaceKind.ENGINE and not self.verify_tls.isChecked():
            text += " (TLS verification off: the server's certificate was not checked)"
        self.test_result.setText(text)
        if self.kind.currentData() == PlaceKind.SERVING:
            self.serving_metrics.show_probe(result)

    def _on_test_failed(self, error: BaseException) -> None:
        self._test_task = 0
        self.test_button.setEnabled(True)
        self.test_result.setText(redact_text(f"Failed: {error}"))

    # ---- accept: the secret to the keyring, the reference to the config
    def _secret_ref(self) -> str:
        if self._original and self._original.secret_ref:
            return self._original.secret_ref
        return f"place-{self.place_id}"

    def _on_buttons_accepted(self) -> None:
        if self.keyring.saving():
            return  # a save is already on its way
        problems = self.problems()
        if problems:
            self._show_problems(problems)
            return
        secret = self.secret.text()
        if self.needs_secret() and secret:
            # On a worker; OK waits for it while the dialog and the console stay live.
            self._set_saving(True)
            self.keyring.save(self._secret_ref(), secret)
            return
        self._finish(self._original.secret_ref if self._original else None)

    def _show_problems(self, problems: list[str]) -> None:
        text = "; ".join(problems)
        self.test_result.setText(text[:1].upper() + text[1:])

    def _set_saving(self, saving: bool) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(not saving)
        self.secret.setReadOnly(saving)
        self.test_result.setText("Saving the secret in the OS keyring (it may ask to be unlocked)…" if saving else "")

    def _on_secret_saved(self, ref: str) -> None:
        self._set_saving(False)
        self._finish(ref)

    def _on_secret_save_failed(self, _ref: str, error: BaseException) -> None:
        self._set_saving(False)
        if isinstance(error, KeyringUnavailable):
            # Newer than any look-up still on its way: that answer must not hide this one.
            self.keyring.cancel_check()
            self._keyring_checked, self._keyring_reason = True, str(error)
            self._show_keyring_problem(str(error), offer=True)
        else:
            self.test_result.setText(f"The secret could not be saved: {error}")

    def _on_memory_button_clicked(self) -> None:
        problems = self.problems()  # the form may have changed since OK
        if problems:
            self._show_problems(problems)
            return
        secret = self.secret.text()
        ref = self._secret_ref()
        if secret:
            self._credentials.keep_in_memory(ref, secret)
        self._finish(ref)

    def _finish(self, ref: str | None) -> None:
        self._result = self._form_config(ref)
        self.secret.clear()
        self.accept()

    def done(self, result: int) -> None:
        """Accepted or rejected: no more answers. A save still in flight when cancelled
        finishes and its new secret is deleted again, as no place refers to it."""
        self._closed = True
        if self._test_task:
            self._runner.cancel(self._test_task)
            self._test_task = 0
        kept_ref = self._original.secret_ref if self._original else None
        self.keyring.abandon(take_back=self._secret_ref() != kept_ref)
        if int(result) != int(QDialog.DialogCode.Accepted):
            self.secret.clear()
        super().done(result)

    def result_config(self) -> PlaceConfig | None:
        return self._result
