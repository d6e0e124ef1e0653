"""In-process stand-ins for backends, so widget tests need no engine."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from console.backends.base import InventorySnapshot, PlaceKind, ProbeResult, Unreachable
from console.backends.places import PlaceConfig
from console.domain.models import AuditEvent, Revision
from tests.gui.factories import audit_events, demo_snapshot, revisions


class FakeBackend:
    """Answers with `snapshot` (re-stamped at each read); `fail` raises; `gate` blocks until set."""

    freshness_s = 10.0

    def __init__(self, place_id: str, snapshot: InventorySnapshot | None = None) -> None:
        self.place_id = place_id
        self.snapshot = snapshot or demo_snapshot(place_id)
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None
        self.reads = 0
        self.closed = False
        self.revision_list: list[Revision] = revisions()
        self.events: list[AuditEvent] = audit_events()
        self.probe_result = ProbeResult(True, "fake answered")
        self.probes = 0

    def probe(self) -> ProbeResult:
        self.probes += 1
        return self.probe_result

    def inventory(self) -> InventorySnapshot:
        if self.gate is not None:
            self.gate.wait(30)
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        return replace(self.snapshot, place_id=self.place_id, read_at=time.time())

    def revisions(self, endpoint: str) -> list[Revision]:
        return [r for r in self.revision_list if r.endpoint == endpoint]

    def audit(self, since: int = 0) -> list[AuditEvent]:
        return [e for e in self.events if e.seq > since]

    def close(self) -> None:
        self.closed = True


class FakeFactory:
    """Backend factory for Console: one FakeBackend per place id, created on demand."""

    def __init__(self) -> None:
        self.backends: dict[str, FakeBackend] = {}

    def __call__(self, config: PlaceConfig) -> FakeBackend:
        backend = self.backends.get(config.id) or FakeBackend(config.id)
        self.backends[config.id] = backend
        return backend


def refused(place: str = "http://127.0.0.1:9") -> Unreachable:
    return Unreachable(f"{place}: connection refused (nothing listening)", kind="refused")


class MemoryKeyring:
    """A keyring backend object with the keyring API, kept in memory (for widget tests)."""

    priority = 5
    name = "memory (tests)"

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, user: str, secret: str) -> None:
        self.items[(service, user)] = secret

    def get_password(self, service: str, user: str) -> str | None:
        return self.items.get((service, user))

    def delete_password(self, service: str, user: str) -> None:
        self.items.pop((service, user), None)


class PromptingKeyring(MemoryKeyring):
    """A keyring whose calls wait like an unlock prompt (until `answer` is set) and note the
    thread they ran on."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__()
        self.answer = threading.Event()
        self.threads: list[threading.Thread] = []
        self.fail = fail
        self.deleted: list[str] = []

    @property
    def priority(self):
        self.threads.append(threading.current_thread())
        return 5

    def set_password(self, service, user, secret):
        self.threads.append(threading.current_thread())
        self.answer.wait(30)
        if self.fail is not None:
            raise self.fail
        super().set_password(service, user, secret)

    def delete_password(self, service, user):
        self.threads.append(threading.current_thread())
        self.deleted.append(user)
        super().delete_password(service, user)


def start_window(env, gate=None):
    """A shown main window on the local engine place of env (a FakeBackend), reading it."""
    console, window = env["make"]()
    if gate is not None:
        env["factory"].backends[env["place_id"]] = backend = env["factory"](PlaceConfig(
            id=env["place_id"], kind=PlaceKind.ENGINE, name="x", state_dir=str(env["state_dir"])))
        backend.gate = gate
    window.show()
    console.load(env["state_dir"])
    window._on_console_places_changed()
    console.monitors[env["place_id"]].start()
    return console, window
