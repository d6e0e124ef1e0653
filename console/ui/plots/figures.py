"""The four charts of an endpoint: what each draws from the TelemetryStore.

- Latency: p50/p95/p99 per deployment (the person picks which), the SLO's latency threshold.
- Traffic: requests per second per deployment, or the observed share of the endpoint's live
  requests against the target weight (a step line from the revisions).
- Errors: 5xx (and, one click away, 4xx) per second per deployment, or 5xx as a percent of
  requests with the SLO's error-rate threshold.
- Saturation: GPU utilisation and memory per GPU and deployment, replica CPU and memory, and the
  KV cache and queue depth of LLM servers — whichever the source reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QCheckBox, QWidget

from console.domain.models import EndpointStatus
from console.domain.series import SeriesKey, TelemetryStore, Window, gpu_figure, revision_steps
from console.ui.plots.chart import Chart, Curve, plain
from console.ui.plots.colours import PERCENTILE_STYLES, deployment_colours, deployment_pen

MIRROR_ALPHA = 150


@dataclass
class View:
    """What every chart draws from at one redraw."""

    store: TelemetryStore
    place_id: str
    name: str  # the endpoint's name
    endpoint: EndpointStatus | None
    window: Window
    start: float
    now: float
    changes: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (revision time, traffic)

    def keys(self, mirror: bool = True) -> list[SeriesKey]:
        return [k for k in self.store.keys(self.place_id, self.name) if mirror or not k.mirror]

    @cached_property
    def colours(self) -> dict[str, QColor]:
        """Each deployment's colour among all the endpoint's deployments (no two alike)."""
        names = {k.deployment for k in self.store.keys(self.place_id, self.name)}
        names.update(d for _time, traffic in self.changes for d in traffic)
        if self.endpoint is not None:
            names.update(d.name for d in self.endpoint.deployments)
            names.update(self.endpoint.traffic)
        return deployment_colours(names)

    def pen(self, deployment: str, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
        return deployment_pen(deployment, style, colour=self.colours.get(deployment))


def _pen(view: View, key: SeriesKey, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = view.pen(key.deployment, style)
    if key.mirror:
        colour = pen.color()
        colour.setAlpha(MIRROR_ALPHA)
        pen.setColor(colour)
    return pen


def _label(key: SeriesKey, figure: str) -> str:
    return f"{figure} mirror" if key.mirror else figure


def _bytes(value: float) -> str:
    return str(pg.siFormat(value, precision=3, suffix="B"))


class LatencyChart(Chart):
    SHOWN = ("p50", "p95", "p99")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Latency", "latencyChart", "latency (ms)", parent=parent)
        self.fmt = lambda v: plain(v, " ms")
        self.boxes: dict[str, QCheckBox] = {}
        for position, name in enumerate(self.SHOWN):
            box = QCheckBox(name, self)
            box.setObjectName(f"latency_{name}")
            box.setAccessibleName(f"Show {name} latency")
            box.setToolTip({"p50": "dotted", "p95": "dashed", "p99": "solid"}[name] + " line")
            box.setChecked(name != "p50")  # the tail by default: what SLOs judge
            box.toggled.connect(lambda _on: self.sig_mode_changed.emit("percentiles"))
            self.header.insertWidget(1 + position, box)
            self.boxes[name] = box

    def percentiles(self) -> list[str]:
        return [name for name, box in self.boxes.items() if box.isChecked()]

    def refresh(self, view: View) -> None:
        chosen = self.percentiles()
        curves = []
        for key in view.keys():
            # sources with only a sum and a count (MLServer's per-model figures) give a mean
            figures = [*chosen, "latency_mean"] if view.store.has_figure(key, "latency_mean") else chosen
            values = view.store.read(key, figures, view.window)
            for name in figures:
                label = "mean" if name == "latency_mean" else name
                curves.append(Curve(f"{key.deployment}/{key.mirror}/{label}", key.deployment, _label(key, label),
                                    _pen(view, key, PERCENTILE_STYLES[label]), view.window.x, values[name]))
        self.set_curves(curves)
        slo = view.endpoint.slo if view.endpoint else None
        if slo is not None and slo.latency_ms is not None:
            self.set_threshold(slo.latency_ms, f"SLO {slo.percentile} {slo.latency_ms:g} ms")
        else:
            self.set_threshold(None)


class TrafficChart(Chart):
    RATE, SHARE = "Requests per second", "Share vs target weight (%)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Traffic", "trafficChart", "requests/s", (self.RATE, self.SHARE), parent)

    def refresh(self, view: View) -> None:
        curves = []
        if self.mode.currentText() == self.RATE:
            self.set_y_label("requests/s")
            self.fmt = lambda v: plain(v, "/s")
            for key in view.keys():
                rate = view.store.read(key, ("rate",), view.window)["rate"]
                curves.append(Curve(f"{key.deployment}/{key.mirror}/rate", key.deployment, _label(key, "req/s"),
                                    _pen(view, key), view.window.x, rate))
        else:
            self.set_y_label("share of live requests (%)")
            self.fmt = lambda v: plain(v, " %")
            shares = view.store.share(view.place_id, view.name, view.window)
            changes = view.changes or ([(view.start, view.endpoint.traffic)] if view.endpoint else [])
            names = sorted(set(shares) | {d for _, traffic in changes for d in traffic})
            for name in names:
                if name in shares:
                    curves.append(Curve(f"{name}/share", name, "share", view.pen(name), view.window.x,
                                        shares[name]))
                xs, ys = revision_steps(changes, name, view.now)
                curves.append(Curve(f"{name}/target", name, "target", view.pen(name, Qt.PenStyle.DashLine),
                                    xs, ys))
        self.set_curves(curves)


class ErrorsChart(Chart):
    RATE, PERCENT = "Errors per second", "5xx as % of requests"

    STYLES = {"5xx": Qt.PenStyle.SolidLine, "4xx": Qt.PenStyle.DashLine}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Errors", "errorsChart", "errors/s", (self.RATE, self.PERCENT), parent)
        self.boxes: dict[str, QCheckBox] = {}
        for position, name in enumerate(self.STYLES):
            box = QCheckBox(name, self)
            box.setObjectName(f"errors_{name}")
            box.setAccessibleName(f"Show {name} errors per second")
            box.setToolTip({"5xx": "solid line: server errors", "4xx": "dashed line: client errors"}[name])
            box.setChecked(name == "5xx")  # server errors by default: what SLOs judge
            box.toggled.connect(lambda _on: self.sig_mode_changed.emit("figures"))
            self.header.insertWidget(2 + position, box)
            self.boxes[name] = box

    def _on_mode_text_changed(self, text: str) -> None:
        for box in self.boxes.values():  # the boxes choose among the rates only
            box.setVisible(text == self.RATE)
        super()._on_mode_text_changed(text)

    def figures(self) -> list[str]:
        """The error classes drawn per second ('5xx', '4xx'), as the boxes say."""
        return [name for name, box in self.boxes.items() if box.isChecked()]

    def refresh(self, view: View) -> None:
        curves = []
        slo = view.endpoint.slo if view.endpoint else None
        if self.mode.currentText() == self.RATE:
            self.set_y_label("errors/s")
            self.fmt = lambda v: plain(v, "/s")
            chosen = self.figures()
            for key in view.keys():
                values = view.store.read(key, [f"rate_{f}" for f in chosen], view.window)
                for figure in chosen:
                    style = self.STYLES[figure]
                    curves.append(Curve(f"{key.deployment}/{key.mirror}/{figure}", key.deployment,
                                        _label(key, f"{figure}/s"), _pen(view, key, style), view.window.x,
                                        values[f"rate_{figure}"]))
            self.set_threshold(None)  # the SLO is a percent of requests, not a rate
        else:
            self.set_y_label("5xx (% of requests)")
            self.fmt = lambda v: plain(v, " %")
            for key in view.keys():
                percent = view.store.read(key, ("error_percent",), view.window)["error_percent"]
                curves.append(Curve(f"{key.deployment}/{key.mirror}/5xx%", key.deployment, _label(key, "5xx %"),
                                    _pen(view, key), view.window.x, percent))
            if slo is not None and slo.error_rate_percent is not None:
                self.set_threshold(slo.error_rate_percent, f"SLO 5xx {slo.error_rate_percent:g} %")
            else:
                self.set_threshold(None)
        self.set_curves(curves)


NO_GPU = "No GPU at this place"


class SaturationChart(Chart):
    GPU_UTIL, GPU_MEMORY, CPU, MEMORY, KV, QUEUE = (
        "GPU utilisation (%)", "GPU memory", "Replica CPU (%)", "Replica memory", "KV cache (%)", "Queue depth")
    # mode: (figures, their legend labels, y-axis label)
    GAUGES = {
        CPU: (("cpu_percent",), ("CPU",), "CPU (%)"),
        MEMORY: (("rss_bytes",), ("RSS",), "memory"),
        KV: (("kv_cache_percent",), ("KV cache",), "KV cache (%)"),
        QUEUE: (("requests_running", "requests_waiting"), ("running", "waiting"), "requests"),
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        modes = (self.GPU_UTIL, self.GPU_MEMORY, self.CPU, self.MEMORY, self.KV, self.QUEUE)
        super().__init__("Saturation", "saturationChart", "GPU (%)", modes, parent)
        self.chosen = False  # whether the person picked a mode (else it follows what the source has)

    def _on_mode_text_changed(self, text: str) -> None:
        self.chosen = True  # signals are blocked while the mode follows the source
        super()._on_mode_text_changed(text)

    def refresh(self, view: View) -> None:
        keys = view.keys(mirror=False)
        has_gpus = view.store.has_gpus(view.place_id, view.name)
        if not self.chosen:
            wanted = self.GPU_UTIL if has_gpus else self.CPU
            if self.mode.currentText() != wanted:
                self.mode.blockSignals(True)
                self.mode.setCurrentText(wanted)
                self.mode.blockSignals(False)
        mode = self.mode.currentText()
        notes = [NO_GPU] if keys and not has_gpus else []
        curves: list[Curve] = []
        styles = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
        if mode in (self.GPU_UTIL, self.GPU_MEMORY):
            field = "util" if mode == self.GPU_UTIL else "memory"
            self.set_y_label("GPU (%)" if field == "util" else "GPU memory", "" if field == "util" else "B")
            self.fmt = (lambda v: plain(v, " %")) if field == "util" else _bytes
            for key in keys:
                count = view.store.gpu_count(key)
                gpus = [gpu_figure(i, field) for i in range(count)]
                values = view.store.read(key, gpus, view.window)
                for index, figure in enumerate(gpus):
                    curves.append(Curve(f"{key.deployment}/{figure}", key.deployment, f"GPU{index}",
                                        view.pen(key.deployment, styles[index % len(styles)]),
                                        view.window.x, values[figure]))
        else:
            figures, labels, y_label = self.GAUGES[mode]
            self.set_y_label(y_label, "B" if mode == self.MEMORY else "")
            self.fmt = _bytes if mode == self.MEMORY else (lambda v: plain(v, " %")) if "%" in y_label else plain
            shown = [k for k in keys if any(view.store.has_figure(k, f) for f in figures)]
            if keys and not shown:
                notes.append(f"No {mode.split(' (')[0].lower()} figures from this source")
            for key in shown:
                host = " (host)" if set(figures) & view.store.per_host(key) else ""
                values = view.store.read(key, figures, view.window)
                for index, (figure, label) in enumerate(zip(figures, labels, strict=True)):
                    curves.append(Curve(f"{key.deployment}/{figure}", key.deployment, label + host,
                                        view.pen(key.deployment, styles[index]), view.window.x,
                                        values[figure]))
        self.set_note(" · ".join(notes))
        self.set_curves(curves)
