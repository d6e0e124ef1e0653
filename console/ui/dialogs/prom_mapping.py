"""The place dialog's advanced section for a Prometheus server: which labels name the
endpoint and the deployment, which series belong to the place, and the metric names.

Empty fields mean the defaults (the local engine's metric and label names). The fields are
checked here (label and metric name grammar, the selector's shape); Test connection then
asks the server to parse the selector."""

from __future__ import annotations

from pydantic import ValidationError
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLineEdit, QWidget

from console.backends.promql import PromMapping

# field of PromMapping, label shown, object name
FIELDS = (
    ("endpoint_label", "Endpoint label", "promEndpointLabel"),
    ("deployment_label", "Deployment label", "promDeploymentLabel"),
    ("selector", "Series selector", "promSelector"),
    ("duration_metric", "Duration histogram", "promDurationMetric"),
    ("requests_metric", "Requests counter", "promRequestsMetric"),
    ("code_label", "Status code label", "promCodeLabel"),
    ("namespace_label", "Namespace label", "promNamespaceLabel"),
    ("cluster", "Kubernetes context", "promCluster"),
)
_DEFAULTS = PromMapping()
_EXAMPLES = {"selector": '{job="switchboard"}  (optional)',
             "namespace_label": "namespace  (optional: endpoints named namespace/endpoint)",
             "cluster": "the kubeconfig context it watches (optional: charts its endpoints)"}


class PromMappingBox(QGroupBox):
    """Advanced: the label mapping of a Prometheus place. Fields left empty take the defaults;
    settings without a field here (rate_window_s) are kept as loaded."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Label mapping (advanced)", parent)
        self.setObjectName("promMapping")
        self.setAccessibleName("Prometheus label mapping")
        self.setToolTip("How this Prometheus names endpoints and deployments; empty fields use the defaults")
        self.edits: dict[str, QLineEdit] = {}
        self._kept: dict[str, object] = {}
        form = QFormLayout(self)
        for field, label, name in FIELDS:
            edit = QLineEdit(self)
            edit.setObjectName(name)
            edit.setAccessibleName(label)
            edit.setPlaceholderText(_EXAMPLES.get(field) or str(getattr(_DEFAULTS, field)))
            form.addRow(label, edit)
            self.edits[field] = edit

    def load(self, mapping: PromMapping | None) -> None:
        self._kept = {k: v for k, v in mapping.model_dump().items() if k not in self.edits} if mapping else {}
        for field, edit in self.edits.items():
            value = getattr(mapping, field) if mapping is not None else ""
            edit.setText("" if value == getattr(_DEFAULTS, field) else str(value))

    def _values(self) -> dict[str, object]:
        typed = {field: text for field, edit in self.edits.items() if (text := edit.text().strip())}
        return {**self._kept, **typed}

    def problems(self) -> list[str]:
        try:
            PromMapping(**self._values())  # type: ignore[arg-type]
        except ValidationError as exc:
            labels = {field: label.lower() for field, label, _name in FIELDS}
            said = [(str(e["loc"][0]) if e["loc"] else "", str(e["msg"]).removeprefix("Value error, "))
                    for e in exc.errors()]
            return [msg if msg.startswith("selector ") else f"{labels.get(field, field)}: {msg}"
                    for field, msg in said]
        return []

    def mapping(self) -> PromMapping | None:
        """The mapping typed, or None when every field is empty (the defaults)."""
        mapping = PromMapping(**self._values())  # type: ignore[arg-type]
        return None if mapping == _DEFAULTS else mapping
