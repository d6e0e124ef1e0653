"""What the console says a cluster change came to (no Kubernetes client import: the GUI shows these
before any context is connected)."""

from console.backends.base import BackendError, Conflict, Forbidden, NotSupported

CONFIRMED = "applied: every parent gateway accepted the new generation"
NOT_CONFIRMED = "accepted by the API server, data plane not confirmed"


def failure_outcome(error: BackendError) -> str:
    """The audit log's outcome of a change that did not happen, the same for every cluster action."""
    if isinstance(error, Conflict):
        return f"conflict: {error}"
    if isinstance(error, Forbidden | NotSupported):
        return f"refused: {error}"
    return f"failed: {error}"
