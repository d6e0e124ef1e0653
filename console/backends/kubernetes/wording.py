"""What the console says a cluster change came to (no Kubernetes client import: the GUI shows these
before any context is connected)."""

CONFIRMED = "applied: every parent gateway accepted the new generation"
NOT_CONFIRMED = "accepted by the API server, data plane not confirmed"
