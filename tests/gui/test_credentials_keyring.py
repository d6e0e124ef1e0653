"""Credentials against the real Secret Service (gnome-keyring under dbus-run-session).

run-tests.sh runs the suite inside `dbus-run-session` with an unlocked gnome-keyring; where
no Secret Service is reachable these tests are skipped with the reason.
"""

from __future__ import annotations

import uuid

import pytest

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.dialogs.place import PlaceDialog

pytestmark = pytest.mark.gui


@pytest.fixture
def secret_service():
    store = CredentialStore(service=f"switchboard-test-{uuid.uuid4().hex[:8]}")
    reason = store.unavailable_reason()
    if reason or "secretservice" not in type(store._keyring()).__module__.lower():
        pytest.skip(f"no Secret Service here ({reason or store.backend_name()}); run under dbus-run-session")
    return store


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
