"""The console's own audit log: what this user did to places that keep no audit log of their own
(Kubernetes clusters). One JSON object per line in `<config dir>/audit.jsonl`, hash-chained like the
engine's (console/domain/audit.py), written under a file lock so that two consoles of the same user
append in turn. Each event names the place (cluster context), the object, before and after.

The engine keeps its own log; its actions are not copied here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from console.backends.base import BackendError
from console.domain.audit import GENESIS, event_hash, first_broken
from console.domain.models import AuditEvent

FILE_NAME = "audit.jsonl"
LOCK_TIMEOUT_S = 5.0


class AuditLogError(BackendError):
    """The console's audit log could not be written or read (named with its path)."""


class ConsoleAuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S)

    # ------------------------------------------------------------ writing
    def append(self, *, actor: str, action: str, place: str, target: str, before: Any, after: Any,
               outcome: str, reason: str = "", endpoint: str | None = None, deployment: str | None = None,
               identity: str | None = None, when: datetime | None = None) -> AuditEvent:
        """Add one event after the last one on disk; the event as written."""
        with self._lock:
            try:
                with self._file_lock:
                    last = self._last()
                    fields: dict[str, Any] = {
                        "seq": (last["seq"] + 1) if last else 1,
                        "time": (when or datetime.now(UTC)).isoformat(), "actor": actor, "action": action,
                        "endpoint": endpoint, "deployment": deployment, "before": before, "after": after,
                        "reason": reason, "outcome": outcome, "prev_hash": last["hash"] if last else GENESIS,
                        "identity": identity, "place": place, "target": target}
                    fields = json.loads(json.dumps(fields, default=str))  # hashed as it will be read back
                    fields["hash"] = event_hash(fields)
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with self.path.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(fields, separators=(",", ":")) + "\n")
            except Timeout as exc:
                raise AuditLogError(f"the console's audit log {self.path} is locked by another process "
                                    f"(waited {LOCK_TIMEOUT_S:g} s)") from exc
            except OSError as exc:
                raise AuditLogError(f"cannot write the console's audit log {self.path}: {exc}") from exc
        return AuditEvent.model_validate(fields)

    def _last(self) -> dict[str, Any] | None:
        last = None
        for last in self._rows():  # noqa: B007  # the file is small: bounded by what one user does
            pass
        return last

    # ------------------------------------------------------------ reading
    def _rows(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError as exc:
                        raise AuditLogError(f"{self.path} line {number} is not JSON ({exc}); the log was edited "
                                            "or cut: nothing is appended until it is repaired") from exc
                    if not isinstance(row, dict) or "seq" not in row or "hash" not in row:
                        raise AuditLogError(f"{self.path} line {number} is not an audit event")
                    yield row
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AuditLogError(f"cannot read the console's audit log {self.path}: {exc}") from exc

    def _read_all(self) -> list[dict[str, Any]]:
        """Every row, read under the file lock (another console's line is never seen half written)."""
        with self._lock:
            try:
                with self._file_lock:
                    return list(self._rows())
            except Timeout as exc:
                raise AuditLogError(f"the console's audit log {self.path} is locked by another process "
                                    f"(waited {LOCK_TIMEOUT_S:g} s)") from exc

    def events(self, since: int = 0, place: str | None = None) -> list[AuditEvent]:
        """Events after sequence number `since`, of `place` when given, oldest first."""
        return [AuditEvent.model_validate(r) for r in self._read_all()
                if r["seq"] > since and (place is None or r.get("place") == place)]

    def verify(self) -> tuple[int, str] | None:
        """(seq, why) of the first event that breaks the hash chain, or None when it is whole."""
        return first_broken(self._read_all())
