"""Credentials against the real Secret Service (gnome-keyring under dbus-run-session).

run-tests.sh runs the suite inside `dbus-run-session` with an unlocked gnome-keyring. Where
no Secret Service is reachable these tests are skipped with the reason, unless
SWITCHBOARD_REQUIRE_KEYRING=1 (as in CI): then they fail, so a CI whose keyring broke cannot
pass by skipping them.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.httpfixtures import http_server

pytestmark = pytest.mark.gui


REQUIRE = "SWITCHBOARD_REQUIRE_KEYRING"


def no_secret_service(store: CredentialStore) -> str | None:
    """Why `store` does not reach a Secret Service, or None when it does."""
    reason = store.unavailable_reason()
    if reason:
        return reason
    if "secretservice" not in type(store._keyring()).__module__.lower():
        return f"the keyring is {store.backend_name()}, not the Secret Service"
    return None


def require_secret_service() -> CredentialStore:
    """A store on the Secret Service, or skip (fail when SWITCHBOARD_REQUIRE_KEYRING=1)."""
    store = CredentialStore(service=f"switchboard-test-{uuid.uuid4().hex[:8]}")
    problem = no_secret_service(store)
    if problem:
        message = (f"no Secret Service reachable: {problem}. Run under dbus-run-session with an unlocked "
                   f"gnome-keyring, as run-tests.sh does")
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {message}", pytrace=False)
        pytest.skip(f"{message} (set {REQUIRE}=1 to make this a failure)")
    return store


@pytest.fixture
def secret_service() -> CredentialStore:
    return require_secret_service()


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Every directory the console or a keyring library could write to, inside tmp_path: a
    secret written anywhere on disk by mistake lands where the tests search."""
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = tmp_path / name.lower()
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    return tmp_path


def _open_console(qtbot, config_dir, credentials):
    """The real composition (as console/ui/run.py builds it): Console with the default backends,
    places.json and console.ini in `config_dir`, and the main window."""
    runner = TaskRunner(max_threads=4)
    console = Console(runner, ErrorSink(), credentials, PlacesStore(config_dir))
    window = MainWindow(console, QSettings(str(config_dir / "console.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    return console, window


def _close_console(console, window):
    window.close()  # writes console.ini
    assert console.shutdown(timeout_s=5.0) and console.runner.active_threads() == 0


def _add_place_through_the_window(qtbot, window, url, token):
    """Place → Add place, filled in as a person would, then OK. Returns the dialog (still open
    when the keyring refused)."""
    window.window_actions["add_place"].trigger()
    dialog = window.place_flows.dialog
    assert dialog is not None and dialog.isVisible()
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    qtbot.keyClicks(dialog.name, "triton")
    qtbot.keyClicks(dialog.url, url)
    dialog.auth.setCurrentIndex(dialog.auth.findData("bearer"))
    qtbot.keyClicks(dialog.secret, token)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    return dialog


def _files_holding(root: Path, secret: str) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files, f"nothing at all under {root}"
    return [p for p in files if secret.encode() in p.read_bytes()]


def test_token_saved_from_the_dialog_is_in_the_keyring_and_nowhere_on_disk(qtbot, sandbox, secret_service):
    token = f"tok-{uuid.uuid4().hex}"
    config_dir = sandbox / "config"
    console, window = _open_console(qtbot, config_dir, secret_service)
    ref = None
    try:
        with http_server({"/health": 200}, token=token) as url:
            dialog = _add_place_through_the_window(qtbot, window, url, token)
            with qtbot.waitSignal(dialog.finished, timeout=15000):  # the keyring answers on a worker
                pass
            (place,) = [p for p in console.places_model.places() if p.kind == PlaceKind.SERVING]
            ref = place.secret_ref
            assert ref and place.url == url and place.auth == "bearer"
            # in the real Secret Service, asked directly (not through the console's store)
            assert keyring.get_keyring().get_password(secret_service.service, ref) == token
            assert not secret_service.in_memory(ref)
            # the place reads its token from the keyring: the server answers it
            qtbot.waitUntil(lambda: console.places_model.health(place.id).state == "connected", timeout=15000)
        _close_console(console, window)
        assert {p.name for p in config_dir.iterdir()} >= {"places.json", "console.ini"}
        assert json.loads((config_dir / "places.json").read_text())["places"][0]["secret_ref"] == ref
        assert _files_holding(config_dir, token) == []
        assert _files_holding(sandbox, token) == []
    finally:
        if ref:
            secret_service.delete(ref)
    assert keyring.get_keyring().get_password(secret_service.service, ref) is None


def test_without_a_keyring_the_secret_is_offered_memory_and_never_written(qtbot, sandbox):
    token = f"tok-{uuid.uuid4().hex}"
    config_dir = sandbox / "config"
    no_keyring = keyring.backends.fail.Keyring()
    credentials = CredentialStore(backend=no_keyring)
    console, window = _open_console(qtbot, config_dir, credentials)
    with http_server({"/health": 200}, token=token) as url:
        dialog = _add_place_through_the_window(qtbot, window, url, token)
        qtbot.waitUntil(dialog.memory_button.isVisible, timeout=5000)  # the save found no keyring
        message = dialog.keyring_message.text()
        assert message.startswith("No usable OS keyring: no OS keyring is available")
        assert "never written to disk in plaintext" in message and "keep it in memory" in message
        assert dialog.isVisible() and console.places_model.places() == []  # nothing added yet
        with qtbot.waitSignal(dialog.finished, timeout=5000):
            qtbot.mouseClick(dialog.memory_button, Qt.MouseButton.LeftButton)
        (place,) = console.places_model.places()
        assert credentials.in_memory(place.secret_ref) and credentials.get(place.secret_ref) == token
        qtbot.waitUntil(lambda: console.places_model.health(place.id).state == "connected", timeout=15000)
    _close_console(console, window)
    assert json.loads((config_dir / "places.json").read_text())["places"][0]["secret_ref"] == place.secret_ref
    assert _files_holding(sandbox, token) == []
    # in memory only: the next run of the console knows the place, not its secret
    again = PlacesStore(config_dir).load()
    assert [p.id for p in again] == [place.id]
    assert CredentialStore(backend=no_keyring).get(place.secret_ref) is None


def test_require_keyring_turns_a_missing_secret_service_into_a_failure(monkeypatch):
    """The switch itself: with no keyring, a skip by default and a failure when required."""
    monkeypatch.setattr(CredentialStore, "_keyring", lambda self: keyring.backends.fail.Keyring())
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"set {REQUIRE}=1 to make this a failure"):
        require_secret_service()
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE}=1 but no Secret Service reachable: no OS keyring"):
        require_secret_service()
