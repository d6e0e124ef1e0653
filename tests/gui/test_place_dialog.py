"""PlaceDialog: add/edit, Test connection's exact outcome, secrets only in the keyring, and
every keyring call on a worker (an unlock prompt never blocks the GUI thread)."""

from __future__ import annotations

import threading

import keyring.errors
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlaceConfig
from console.ui.dialogs.place import TLS_OFF_WARNING, PlaceDialog
from tests.gui.fakes import MemoryKeyring, PromptingKeyring
from tests.gui.httpfixtures import free_port, http_server, https_server, silent_server

pytestmark = pytest.mark.gui


class FailKeyring:
    """Looks like keyring.backends.fail.Keyring: no usable keyring."""

    priority = 0

    def set_password(self, *args):
        raise AssertionError("nothing may be written without a keyring")

    get_password = delete_password = set_password


def _dialog(qtbot, runner, credentials, config=None):
    dialog = PlaceDialog(runner, credentials, config)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _accept(qtbot, dialog):
    """Press OK and wait for the keyring's answer (saved on a worker)."""
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.buttons.accepted.emit()


def _fill_serving(qtbot, dialog, url, token="s3cret-token"):
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    qtbot.keyClicks(dialog.name, "gpu box")
    dialog.url.setText(url)
    dialog.auth.setCurrentIndex(dialog.auth.findData("bearer"))
    dialog.secret.setText(token)


def test_token_goes_to_the_keyring_and_config_holds_a_reference(qtbot, runner):
    keyring = MemoryKeyring()
    dialog = _dialog(qtbot, runner, CredentialStore(backend=keyring))
    _fill_serving(qtbot, dialog, "http://gpu1:8000")
    assert not dialog.keyring_message.isVisible()
    _accept(qtbot, dialog)
    config = dialog.result_config()
    assert config is not None and config.kind == PlaceKind.SERVING and config.auth == "bearer"
    assert config.secret_ref == f"place-{config.id}"
    assert keyring.items == {("switchboard", config.secret_ref): "s3cret-token"}
    assert "s3cret-token" not in config.model_dump_json()
    assert dialog.secret.text() == ""


def test_without_keyring_the_dialog_says_so_and_offers_memory(qtbot, runner):
    """The dialog alone; the whole flow (nothing written to disk) is in test_credentials_keyring.py."""
    credentials = CredentialStore(backend=FailKeyring())
    dialog = _dialog(qtbot, runner, credentials)
    _fill_serving(qtbot, dialog, "http://gpu1:8000")
    qtbot.waitUntil(dialog.keyring_message.isVisible, timeout=5000)  # looked up on a worker
    assert "No usable OS keyring" in dialog.keyring_message.text()
    assert not dialog.memory_button.isVisible()  # offered once a save found no keyring
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(dialog.memory_button.isVisible, timeout=5000)
    assert dialog.result_config() is None and dialog.isVisible()
    assert "never written to disk in plaintext" in dialog.keyring_message.text()
    dialog.memory_button.click()
    config = dialog.result_config()
    assert config is not None and credentials.in_memory(config.secret_ref)
    assert credentials.get(config.secret_ref) == "s3cret-token"
    assert "s3cret-token" not in config.model_dump_json()


def test_edit_keeps_the_secret_reference_when_no_new_secret_is_typed(qtbot, runner):
    keyring = MemoryKeyring()
    original = PlaceConfig(id="abc", kind=PlaceKind.PROMETHEUS, name="prom", url="http://prom:9090", auth="bearer",
                           secret_ref="place-abc")
    dialog = _dialog(qtbot, runner, CredentialStore(backend=keyring), original)
    assert dialog.url.text() == "http://prom:9090" and "keyring" in dialog.secret.placeholderText()
    dialog.name.setText("prom 2")
    dialog.buttons.accepted.emit()  # no new secret: nothing to save, accepted at once
    assert dialog.result_config() == original.model_copy(update={"name": "prom 2"})
    assert keyring.items == {}


def test_invalid_form_is_refused_with_the_reason(qtbot, runner):
    dialog = _dialog(qtbot, runner, CredentialStore(backend=MemoryKeyring()))
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    dialog.url.setText("gpu1:8000")
    dialog.buttons.accepted.emit()
    assert dialog.result_config() is None
    assert "name is needed" in dialog.test_result.text() and "http://" in dialog.test_result.text()


@pytest.mark.parametrize("case", ["ok", "unauthorized", "refused", "dns"])
def test_test_connection_reports_success_or_exact_failure(qtbot, runner, case):
    dialog = _dialog(qtbot, runner, CredentialStore(backend=MemoryKeyring()))
    with http_server({"/health": 200}, token="good") as url:
        target = {"ok": url, "unauthorized": url, "refused": f"http://127.0.0.1:{free_port()}",
                  "dns": "http://no-such-host.invalid:8000"}[case]
        _fill_serving(qtbot, dialog, target, token="bad" if case == "unauthorized" else "good")
        dialog.test_button.click()
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=15000)
    text = dialog.test_result.text()
    expected = {"ok": "Connected: ", "unauthorized": "HTTP 401", "refused": "connection refused",
                "dns": "DNS lookup failed"}[case]
    assert expected in text, text


def test_engine_place_test_names_the_missing_engine(qtbot, runner, tmp_path):
    dialog = _dialog(qtbot, runner, CredentialStore(backend=MemoryKeyring()))
    qtbot.keyClicks(dialog.name, "other engine")
    dialog.state_dir.setText(str(tmp_path / "nothing"))
    assert not dialog.url.isVisible()
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=5000)
    assert "not-running" in dialog.test_result.text() and "engine.json" in dialog.test_result.text()


def test_a_keyring_that_prompts_never_blocks_the_gui_thread(qtbot, runner):
    keyring = PromptingKeyring()
    dialog = _dialog(qtbot, runner, CredentialStore(backend=keyring))
    _fill_serving(qtbot, dialog, "http://gpu1:8000")
    ticks: list[int] = []
    timer = QTimer(dialog)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    dialog.buttons.accepted.emit()
    assert dialog.isVisible() and dialog.result_config() is None
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    assert "Saving the secret" in dialog.test_result.text()
    qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=3000)  # the GUI thread runs while the keyring waits
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        keyring.answer.set()
    config = dialog.result_config()
    assert config is not None and keyring.items == {("switchboard", config.secret_ref): "s3cret-token"}
    assert keyring.threads and threading.main_thread() not in keyring.threads


def test_a_keyring_that_refuses_offers_memory(qtbot, runner):
    keyring = PromptingKeyring(fail=keyring_errors_locked())
    keyring.answer.set()
    credentials = CredentialStore(backend=keyring)
    dialog = _dialog(qtbot, runner, credentials)
    _fill_serving(qtbot, dialog, "http://gpu1:8000")
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(dialog.memory_button.isVisible, timeout=5000)
    assert "the keyring refused to store the secret: locked" in dialog.keyring_message.text()
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.memory_button.click()
    assert credentials.in_memory(dialog.result_config().secret_ref) and keyring.items == {}


def keyring_errors_locked():
    return keyring.errors.KeyringLocked("locked")


def test_cancel_while_saving_takes_the_new_secret_back(qtbot, runner):
    keyring = PromptingKeyring()
    dialog = _dialog(qtbot, runner, CredentialStore(backend=keyring))
    _fill_serving(qtbot, dialog, "http://gpu1:8000")
    dialog.buttons.accepted.emit()
    dialog.reject()
    assert dialog.result_config() is None
    keyring.answer.set()
    qtbot.waitUntil(lambda: bool(keyring.deleted), timeout=5000)
    assert keyring.items == {}
    assert keyring.deleted == [f"place-{dialog.place_id}"]


# ---------------------------------------------------------------- secrets in URLs

SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize("url,field", [
    (f"https://ana:{SECRET}@gpu1:8000", "User name and password"),
    (f"https://{SECRET}@gpu1:8000", "User name and password"),
    *((f"https://gpu1:8000/v2?model=a&{name}={SECRET}", "Token / password field") for name in
      ("token", "access_token", "api_key", "apikey", "key", "password", "secret", "Token", "ACCESS_TOKEN",
       "ApiKey")),
])
def test_a_url_carrying_a_secret_is_refused_and_the_right_field_named(qtbot, runner, url, field):
    keyring = MemoryKeyring()
    dialog = _dialog(qtbot, runner, CredentialStore(backend=keyring))
    _fill_serving(qtbot, dialog, url)
    dialog.test_button.click()  # refused before anything is sent
    assert dialog.test_button.isEnabled() and dialog.test_result.text().startswith("Cannot test: ")
    assert "must not" in dialog.test_result.text() and SECRET not in dialog.test_result.text()
    dialog.buttons.accepted.emit()
    assert dialog.result_config() is None and dialog.isVisible() and keyring.items == {}
    text = dialog.test_result.text()
    assert field in text and "keyring" in text and SECRET not in text, text
    dialog.url.setText("https://gpu1:8000/v2?model=a")  # the secret moved to its field: accepted
    _accept(qtbot, dialog)
    assert dialog.result_config().url == "https://gpu1:8000/v2?model=a"


# ---------------------------------------------------------------- TLS and timeouts


def test_test_connection_reports_a_tls_failure_with_verification_on(qtbot, runner, tmp_path):
    dialog = _dialog(qtbot, runner, CredentialStore(backend=MemoryKeyring()))
    with https_server(tmp_path / "tls", {"/health": 200}, token="good") as url:
        _fill_serving(qtbot, dialog, url, token="good")
        assert dialog.verify_tls.isChecked() and not dialog.tls_warning.isVisible()
        dialog.test_button.click()
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=15000)
        text = dialog.test_result.text()
        assert text.startswith(f"Failed (tls): {url}/health: TLS failed: the server's certificate was not accepted")
        assert "self-signed certificate" in text
        dialog.verify_tls.setChecked(False)  # the same server, its certificate not checked
        dialog.test_button.click()
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=15000)
    text = dialog.test_result.text()
    assert text.startswith(f"Connected: {url}/health answered HTTP 200; no usable /metrics (")
    assert text.endswith("(TLS verification off: the server's certificate was not checked)")


def test_test_connection_reports_a_timeout(qtbot, runner):
    dialog = PlaceDialog(runner, CredentialStore(backend=MemoryKeyring()), probe_timeout_s=0.3)
    qtbot.addWidget(dialog)
    dialog.show()
    with silent_server() as server:
        _fill_serving(qtbot, dialog, server.url)
        dialog.test_button.click()
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=5000)
        assert server.held  # it was connected to, and never answered
    assert dialog.test_result.text() == f"Failed (timeout): {server.url}/health: timed out waiting for an answer"


def test_turning_tls_verification_off_shows_a_warning(qtbot, runner):
    dialog = _dialog(qtbot, runner, CredentialStore(backend=MemoryKeyring()))
    _fill_serving(qtbot, dialog, "https://gpu1:8000")
    assert dialog.verify_tls.isVisible() and not dialog.tls_warning.isVisible()
    qtbot.mouseClick(dialog.verify_tls, Qt.MouseButton.LeftButton, pos=dialog.verify_tls.rect().center())
    assert not dialog.verify_tls.isChecked()
    assert dialog.tls_warning.isVisible() and dialog.tls_warning.text() == TLS_OFF_WARNING
    assert "TLS verification is off" in TLS_OFF_WARNING and "not checked" in TLS_OFF_WARNING
    assert dialog.tls_warning.accessibleName() == "Warning: TLS verification is off"
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.ENGINE))  # no TLS for a local engine
    assert not dialog.tls_warning.isVisible()
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.PROMETHEUS))
    assert dialog.tls_warning.isVisible()
    dialog.verify_tls.setChecked(True)
    assert not dialog.tls_warning.isVisible()
    dialog.verify_tls.setChecked(False)
    _accept(qtbot, dialog)
    assert dialog.result_config().verify_tls is False
