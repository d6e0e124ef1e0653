"""Credentials against the real Secret Service (gnome-keyring under dbus-run-session).

run-tests.sh runs the suite inside `dbus-run-session` with an unlocked gnome-keyring. Where
no Secret Service is reachable these tests are skipped with the reason, unless
SWITCHBOARD_REQUIRE_KEYRING=1 (as in CI): then they fail, so a CI whose keyring broke cannot
pass by skipping them.
"""

from __future__ import annotations

import os
import uuid

import keyring.backends.fail
import pytest

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.dialogs.place import PlaceDialog

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


def test_token_saved_from_dialog_is_in_the_keyring_and_never_in_the_config_dir(qtbot, runner, tmp_path,
                                                                               secret_service):
    token = f"tok-{uuid.uuid4().hex}"
    dialog = PlaceDialog(runner, secret_service)
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    dialog.name.setText("triton")
    dialog.url.setText("http://triton:8000")
    dialog.auth.setCurrentIndex(dialog.auth.findData("bearer"))
    dialog.secret.setText(token)
    with qtbot.waitSignal(dialog.accepted, timeout=15000):  # saved on a worker
        dialog.buttons.accepted.emit()
    config = dialog.result_config()
    assert config is not None and config.secret_ref
    config_dir = tmp_path / "config"
    PlacesStore(config_dir).save([config])
    try:
        assert CredentialStore(service=secret_service.service).get(config.secret_ref) == token
        files = [p for p in config_dir.rglob("*") if p.is_file()]
        assert files, "the place config was written"
        for path in files:
            assert token.encode() not in path.read_bytes(), path
        assert PlacesStore(config_dir).load()[0].secret_ref == config.secret_ref
    finally:
        secret_service.delete(config.secret_ref)
    assert secret_service.get(config.secret_ref) is None



def test_require_keyring_turns_a_missing_secret_service_into_a_failure(monkeypatch):
    """The switch itself: with no keyring, a skip by default and a failure when required."""
    monkeypatch.setattr(CredentialStore, "_keyring", lambda self: keyring.backends.fail.Keyring())
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"set {REQUIRE}=1 to make this a failure"):
        require_secret_service()
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE}=1 but no Secret Service reachable: no OS keyring"):
        require_secret_service()
