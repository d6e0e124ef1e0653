"""The keyring's slow calls on TaskRunner workers, their results as signals.

Any keyring call may wait for the person (an unlock prompt of a locked Secret Service or
Keychain), so none runs on the GUI thread: looking for a usable keyring, saving a secret
and deleting one all go through here.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from console.backends.credentials import CredentialStore
from console.ui.tasks import TaskRunner


@dataclass
class _Save:
    ref: str
    task: int = 0
    abandoned: bool = False
    take_back: bool = False


class KeyringTasks(QObject):
    sig_keyring_checked = Signal(object)  # why there is no usable keyring, or None
    sig_secret_saved = Signal(str)  # ref
    sig_secret_save_failed = Signal(str, object)  # ref, exception (KeyringUnavailable: no usable keyring)

    def __init__(self, runner: TaskRunner, credentials: CredentialStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._credentials = credentials
        self._check_task = 0
        self._save: _Save | None = None

    def check(self) -> None:
        """Look for a usable keyring (once at a time); answers sig_keyring_checked."""
        if self._check_task:
            return
        self._check_task = self._runner.submit(
            self._credentials.unavailable_reason, on_done=self._on_checked,
            on_error=lambda error: self._on_checked(str(error)), name="look for the OS keyring")

    def _on_checked(self, reason: str | None) -> None:
        self._check_task = 0
        self.sig_keyring_checked.emit(reason)

    def cancel_check(self) -> None:
        if self._check_task:
            self._runner.cancel(self._check_task)
            self._check_task = 0

    def saving(self) -> bool:
        return self._save is not None

    def save(self, ref: str, secret: str) -> None:
        """Store `secret` under `ref`; answers sig_secret_saved or sig_secret_save_failed."""
        save = self._save = _Save(ref)
        runner, credentials = self._runner, self._credentials

        # The callbacks look at `save` first: once abandoned they touch no Qt object (the
        # dialog that owned this may be gone), they only take the secret back.
        def done(_none: object) -> None:
            if save.abandoned:
                if save.take_back:
                    runner.submit(credentials.delete, ref, name="delete an abandoned secret")
                return
            self._save = None
            self.sig_secret_saved.emit(ref)

        def failed(error: BaseException) -> None:
            if save.abandoned:
                return
            self._save = None
            self.sig_secret_save_failed.emit(ref, error)

        save.task = runner.submit(credentials.save, ref, secret, on_done=done, on_error=failed,
                                  name="save the secret to the keyring")

    def abandon(self, take_back: bool) -> None:
        """No more answers. A save still in flight finishes; with `take_back` its secret is
        then deleted again (nothing refers to it)."""
        self.cancel_check()
        if self._save is not None:
            self._save.abandoned = True
            self._save.take_back = take_back
            self._save = None
