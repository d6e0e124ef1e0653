"""After a cluster action was accepted: wait (on a GUI timer, reading the place's watch cache, no
I/O) until the place shows the change, then say exactly what it is now. Also what a conflicting
object is now, for the conflict notice."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

VERIFY_TIMEOUT_S = 20.0
CACHE_KEY = {"Deployment": "deployments.apps", "Rollout": "rollouts.argoproj.io"}
REVISION = "deployment.kubernetes.io/revision"


def _images(obj: dict[str, Any]) -> tuple[str, ...]:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return tuple(str(c.get("image", "")) for c in containers)


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _newer_or_same(seen: str, wanted: str) -> bool:
    if seen == wanted:
        return True
    try:
        return int(seen) >= int(wanted)
    except ValueError:
        return False


def conflict_now(plan: Any, current: Any) -> list[tuple[str, str]]:
    """The object as it is now (from the 409's read), in the words of the preview."""
    if not isinstance(current, dict):
        return [("state", "unknown (it could not be read again)")]
    meta = current.get("metadata") or {}
    if plan.target.kind == "Deployment":
        paused = " (paused)" if (current.get("spec") or {}).get("paused") else ""
        return [("revision", f"{_revision(current)}{paused}"), ("images", ", ".join(_images(current)) or "—"),
                ("resourceVersion", str(meta.get("resourceVersion", "")))]
    from console.ui.cluster.calls import rollout_state

    state = rollout_state(current)
    return [("phase", state["Phase"]), ("step", state["Step"]), ("canary weight", state["Canary weight"]),
            ("images", ", ".join(_images(current)) or "—"), ("resourceVersion", str(meta.get("resourceVersion", "")))]


class Verification(QObject):
    sig_verified = Signal(object, str, str)  # self, the outcome sentence, level

    def __init__(self, backend: Any, plan: Any, record: Any, audit: str, parent: QObject | None = None,
                 timeout_s: float = VERIFY_TIMEOUT_S) -> None:
        super().__init__(parent)
        self.backend, self.plan, self.record, self.audit = backend, plan, record, audit
        self._deadline = time.monotonic() + timeout_s
        self._timeout_s = timeout_s
        self._timer = QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        if self.plan.target.kind not in CACHE_KEY or self.backend is None:
            self._finish(f"{self._done_words()}: {self.record.confirmation}; {self.audit}", "info")
            return
        self._timer.start()
        self._on_timer_timeout()

    def stop(self) -> None:
        self._timer.stop()

    def _done_words(self) -> str:
        t = self.plan.target
        return {"deployment-rollback": f"Rolled back {t.what}", "argo-abort": f"Aborted {t.what}",
                "argo-promote": f"Promoted {t.what}", "argo-promote-full": f"Promoted {t.what} fully",
                "argo-undo": f"Undid the last rollout of {t.what}",
                "flagger-rollback": f"Rolling back {t.what}"}[self.plan.spec.id]

    def _on_timer_timeout(self) -> None:
        t = self.plan.target
        cached = self.backend.cached(CACHE_KEY[t.kind], t.namespace, t.name)
        text = self._shown(cached) if isinstance(cached, dict) else None
        if text is not None:
            self._finish(text, "info")
        elif time.monotonic() > self._deadline:
            self._finish(f"{self._done_words()}: {self.record.confirmation}, but the place has not shown the change "
                         f"within {self._timeout_s:.0f} s (not confirmed); {self.audit}", "warning")

    def _shown(self, obj: dict[str, Any]) -> str | None:
        """The outcome sentence once the place's watch shows the change; None until then."""
        if self.plan.spec.id == "deployment-rollback":
            preview = self.plan.payload
            revision = _revision(obj)
            if revision <= preview.before.revision or _images(obj) != preview.after.images:
                return None
            return (f"{self._done_words()}: now revision {revision} ({', '.join(preview.after.images)}, model "
                    f"{preview.after.model_version or '?'}), the pod template of revision {preview.after.revision}; "
                    f"was revision {preview.before.revision} ({', '.join(preview.before.images)}); "
                    f"{self.record.confirmation}; {self.audit}")
        rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        if not _newer_or_same(rv, self.record.resource_version):
            return None
        from console.ui.cluster.calls import rollout_state

        state = rollout_state(obj)
        images = f", images {', '.join(_images(obj))}" if self.plan.spec.id == "argo-undo" else ""
        return (f"{self._done_words()}: now phase {state['Phase']}, step {state['Step']}, canary weight "
                f"{state['Canary weight']}, abort {state['status.abort']}, paused {state['spec.paused']}{images}; "
                f"{self.record.confirmation}; {self.audit}")

    def _finish(self, text: str, level: str) -> None:
        self._timer.stop()
        self.sig_verified.emit(self, text, level)
