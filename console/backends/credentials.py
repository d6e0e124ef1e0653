"""Secrets (tokens, passwords) in the OS keyring; the only importer of `keyring`.

The configuration holds references (`ref`), never secrets. With no usable keyring the
console says so; the person may keep a secret in memory until the console quits. There is
no plaintext fallback: plaintext and "fail" keyring backends count as no keyring.
"""

from __future__ import annotations

import threading
from typing import Any

import keyring
import keyring.errors

from console.backends.base import BackendError

SERVICE = "switchboard"


class KeyringUnavailable(BackendError):
    """No usable OS keyring (no Secret Service, locked, or only a plaintext backend)."""


def _unusable_reason(backend: Any) -> str | None:
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    lowered = name.lower()
    if "fail" in lowered or "null" in lowered:
        return f"no OS keyring is available ({name})"
    if "plaintext" in lowered or "keyrings.alt" in lowered:
        return f"the only keyring is a plaintext file ({name}); Switchboard does not store secrets in plaintext"
    try:
        priority = float(backend.priority)
    except Exception as exc:  # keyring backends raise from `priority` when they cannot work here
        return f"the keyring backend {name} is not usable here: {exc}"
    if priority <= 0:
        return f"the keyring backend {name} is not usable here"
    children = getattr(backend, "backends", None)
    if children is not None and not children:
        return "no OS keyring is available (no backend found)"
    return None


class CredentialStore:
    """Save, read and delete secrets by reference."""

    def __init__(self, service: str = SERVICE, backend: Any = None) -> None:
        self.service = service
        self._backend = backend
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()

    def _keyring(self) -> Any:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def unavailable_reason(self) -> str | None:
        """None when the keyring can be used, else the sentence that explains why not."""
        return _unusable_reason(self._keyring())

    def backend_name(self) -> str:
        kr = self._keyring()
        return getattr(kr, "name", type(kr).__name__)

    def save(self, ref: str, secret: str) -> None:
        """Store in the keyring. Raises KeyringUnavailable; never writes anywhere else."""
        reason = self.unavailable_reason()
        if reason:
            raise KeyringUnavailable(reason)
        try:
            self._keyring().set_password(self.service, ref, secret)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(f"the keyring refused to store the secret: {exc}") from exc
        with self._lock:
            self._memory.pop(ref, None)

    def keep_in_memory(self, ref: str, secret: str) -> None:
        """Hold a secret for this session only (the person chose this with no keyring)."""
        with self._lock:
            self._memory[ref] = secret

    def in_memory(self, ref: str) -> bool:
        with self._lock:
            return ref in self._memory

    def get(self, ref: str) -> str | None:
        with self._lock:
            if ref in self._memory:
                return self._memory[ref]
        if self.unavailable_reason():
            return None
        try:
            value = self._keyring().get_password(self.service, ref)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(f"the keyring could not be read: {exc}") from exc
        return None if value is None else str(value)

    def delete(self, ref: str) -> None:
        with self._lock:
            self._memory.pop(ref, None)
        if self.unavailable_reason():
            return
        try:
            self._keyring().delete_password(self.service, ref)
        except keyring.errors.PasswordDeleteError:
            pass  # nothing stored under `ref`: already gone is what was asked for
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(f"the keyring could not delete the secret: {exc}") from exc
