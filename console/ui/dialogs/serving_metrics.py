"""The place dialog's part for serving hosts: where /metrics is (MLServer serves it on its
own port), and which histogram to chart as the latency when the server is not recognised.
"Test connection" fills the histogram list with what the host's /metrics offers."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QWidget

from console.backends.base import ProbeResult, url_secret_problems
from console.backends.places import PlaceConfig

AUTOMATIC = "(recognised servers: automatic)"


class ServingMetricsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Metrics", parent)
        self.setObjectName("servingMetrics")
        self.setAccessibleName("Serving host metrics")
        self.metrics_url = QLineEdit(self)
        self.metrics_url.setPlaceholderText("/metrics (or a full URL, e.g. http://host:8082/metrics for MLServer)")
        self.histogram = QComboBox(self)
        self.histogram.setEditable(True)
        self.histogram.addItem(AUTOMATIC, None)
        self.servers = QLabel("Test connection to see which server this is and the histograms it offers.", self)
        self.servers.setWordWrap(True)
        for widget, name, accessible in (
                (self.metrics_url, "servingMetricsUrl", "Metrics URL"),
                (self.histogram, "servingLatencyHistogram", "Latency histogram"),
                (self.servers, "servingRecognised", "Recognised server")):
            widget.setObjectName(name)
            widget.setAccessibleName(accessible)
        typed = self.histogram.lineEdit()  # the editable combo's own line edit: named too
        if typed is not None:
            typed.setObjectName("servingLatencyHistogramName")
            typed.setAccessibleName("Latency histogram name")
        form = QFormLayout(self)
        form.addRow("Metrics at", self.metrics_url)
        form.addRow("Latency histogram", self.histogram)
        form.addRow("", self.servers)

    def load(self, config: PlaceConfig) -> None:
        self.metrics_url.setText(config.metrics_url or "")
        self._choose(config.latency_histogram)

    def _choose(self, name: str | None) -> None:
        if not name:
            self.histogram.setCurrentIndex(0)
            return
        if self.histogram.findText(name) < 0:
            self.histogram.addItem(name, name)
        self.histogram.setCurrentIndex(self.histogram.findText(name))

    def values(self) -> dict[str, Any]:
        """The PlaceConfig fields this box sets."""
        text = self.histogram.currentText().strip()
        return {"metrics_url": self.metrics_url.text().strip() or None,
                "latency_histogram": None if text in ("", AUTOMATIC) else text}

    def problems(self) -> list[str]:
        url = self.metrics_url.text().strip()
        if url.startswith(("http://", "https://")):
            return [f"metrics URL: {p}" for p in url_secret_problems(url)]
        if url and not url.startswith("/"):
            return ["the metrics URL must be a path starting with / or a full http(s):// URL"]
        return []

    def show_probe(self, result: ProbeResult) -> None:
        """What a connection test found: the servers recognised and the histograms offered."""
        histograms = result.detail.get("histograms") or []
        chosen = self.values()["latency_histogram"]
        self.histogram.clear()
        self.histogram.addItem(AUTOMATIC, None)
        for name in histograms:
            self.histogram.addItem(name, name)
        self._choose(chosen)
        servers = result.detail.get("servers")
        if servers:
            self.servers.setText("Recognised: " + ", ".join(servers) + ". Its figures are charted automatically.")
        elif histograms:
            self.servers.setText("Not a server the console recognises: choose the histogram to chart as its latency.")
        elif result.ok:
            self.servers.setText("No histogram found in its /metrics.")
