"""Chart: one panel of the endpoint's charts — a pyqtgraph plot with a time axis, a legend per
deployment (click an entry to hide or show that deployment's curves), a crosshair that reads
every visible curve at the cursor, revision markers, an optional threshold line, a mode
selector, and export as PNG or CSV.

A chart keeps its PlotDataItems and reuses them: `set_curves` only calls `setData` on the ones
it has, and adds or removes items when the set of curves changes (another endpoint or mode).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.ui.plots import export
from console.ui.plots.colours import BREACH, MARKER, marker_pen, span_colour, threshold_pen

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Curve:
    """One line: `key` is unique in its chart; `name` reads '<deployment> <label>'."""

    key: str
    deployment: str
    label: str
    pen: QPen
    x: FloatArray
    y: FloatArray

    @property
    def name(self) -> str:
        return f"{self.deployment} {self.label}".strip()


# NaN (no sample) breaks a line; "auto" draws a curve without any NaN the faster way
CONNECT = "auto"


class ViewBounded(pg.PlotCurveItem):  # type: ignore[misc]  # pyqtgraph has no type hints
    """A curve whose bounds are its view box's visible rectangle.

    The view box clips what its curves paint to that rectangle anyway. pyqtgraph's own bounds are
    the data's NaN-aware minimum and maximum plus a pen's width in pixels, computed afresh each
    time the data or the view changes: twice a frame per curve on a chart that scrolls every
    second, about a fifth of its paint."""

    def boundingRect(self) -> QRectF:
        view = self.getViewBox()
        rect: QRectF = view.viewRect() if view is not None else super().boundingRect()
        return rect


def new_item(pen: QPen) -> pg.PlotDataItem:
    """A curve as every chart draws one: peak downsampling and clip-to-view on, bounds from the view."""
    item = pg.PlotDataItem(pen=pen, connect=CONNECT)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    stock, item.curve = item.curve, ViewBounded()  # before the item has data or a scene
    stock.sigClicked.disconnect(item.sigClicked)
    stock.setParentItem(None)
    item.curve.setParentItem(item)
    item.curve.sigClicked.connect(item.sigClicked)
    return item


def plain(value: float, suffix: str = "") -> str:
    return f"{value:.3g}{suffix}"


class Chart(QWidget):
    sig_mode_changed = Signal(str)
    sig_export_finished = Signal(str, str)  # the sentence, its level ("info" or "error")

    def __init__(self, title: str, name: str, y_label: str, modes: Sequence[str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setAccessibleName(f"{title} chart")
        self.title = title
        self.fmt: Callable[[float], str] = plain
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.data: dict[str, Curve] = {}
        self.hidden: set[str] = set()  # deployments the person hid from the legend
        self.breached: set[str] = set()
        self._legend_items: dict[str, pg.PlotDataItem] = {}
        self._markers: list[pg.InfiniteLine] = []
        self._marker_key: tuple[tuple[float, str], ...] = ()
        self._spans: list[pg.LinearRegionItem] = []
        self._span_key: tuple[tuple[float, float], ...] = ()

        heading = QLabel(f"<b>{title}</b>", self)
        self.header = QHBoxLayout()
        self.header.setContentsMargins(0, 0, 0, 0)
        self.header.addWidget(heading)
        self.mode = QComboBox(self)
        self.mode.setObjectName(f"{name}Mode")
        self.mode.setAccessibleName(f"{title}: figure shown")
        self.mode.addItems(list(modes))
        self.mode.setVisible(bool(modes))
        self.mode.currentTextChanged.connect(self._on_mode_text_changed)
        self.header.addWidget(self.mode)
        self.header.addStretch(1)
        self.export_button = QToolButton(self)
        self.export_button.setObjectName(f"{name}Export")
        self.export_button.setText("Export")
        self.export_button.setAccessibleName(f"Export the {title.lower()} chart")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Save chart as PNG…", lambda: self._ask_export("png"))
        menu.addAction("Save data as CSV…", lambda: self._ask_export("csv"))
        self.export_button.setMenu(menu)
        self.header.addWidget(self.export_button)

        self.note = QLabel("", self)
        self.note.setObjectName(f"{name}Note")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setVisible(False)
        self.plot = pg.PlotWidget(self, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.plot.setObjectName(f"{name}Plot")
        self.plot.setAccessibleName(f"{title} plot")
        self.plot.viewport().setAccessibleName(f"{title} plot area")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.disableAutoRange()
        self._y_label = ("", "")
        self.set_y_label(y_label)
        self.legend = self.plot.addLegend(offset=(4, 4), colCount=3, brush=pg.mkBrush(128, 128, 128, 40))
        # painted once into a pixmap, not at every redraw of the curves under it
        self.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.threshold = pg.InfiniteLine(angle=0, pen=threshold_pen(), movable=False, label="",
                                         labelOpts={"position": 0.05, "color": BREACH, "anchors": [(0, 1), (0, 1)]})
        self.threshold.setVisible(False)
        self.plot.addItem(self.threshold, ignoreBounds=True)
        self.crosshair = pg.InfiniteLine(angle=90, pen=pg.mkPen(MARKER), movable=False)
        self.crosshair.setVisible(False)
        self.plot.addItem(self.crosshair, ignoreBounds=True)
        self.readout = QLabel("", self)
        self.readout.setObjectName(f"{name}Readout")
        self.readout.setAccessibleName(f"{title}: values at the cursor")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.plot.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(self.header)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.readout)

    def _on_mode_text_changed(self, text: str) -> None:
        self.sig_mode_changed.emit(text)

    # ------------------------------------------------------------ drawing
    def is_showing(self) -> bool:
        return self.isVisible() and self.plot.height() > 0 and self.plot.width() > 0

    def set_curves(self, curves: Sequence[Curve]) -> None:
        """Show exactly these curves: existing items get `setData`, new ones are added, gone ones removed."""
        wanted = {c.key for c in curves}
        for key in [k for k in self.curves if k not in wanted]:
            self.plot.removeItem(self.curves.pop(key))
            self.data.pop(key, None)
        for curve in curves:
            item = self.curves.get(curve.key)
            if item is None:
                item = self.curves[curve.key] = new_item(curve.pen)
                item.setVisible(curve.deployment not in self.hidden)
                self.plot.addItem(item)
            elif curve.pen != item.opts["pen"]:  # another deployment came: the colours were dealt anew
                item.setPen(curve.pen)
                self._legend_items.clear()
            item.setData(curve.x, curve.y, connect=CONNECT)
            self.data[curve.key] = curve
        self._sync_legend()

    def set_range(self, start: float, end: float) -> None:
        """Show [start, end] and a y range from 0 (or below) to the highest visible value or threshold."""
        self.plot.setXRange(start, end, padding=0)
        low, high = 0.0, 0.0
        for key, curve in self.data.items():
            if not len(curve.y) or not self.curves[key].isVisible():
                continue
            y = curve.y if curve.x[0] >= start else curve.y[curve.x >= start]
            if y.size:
                top, bottom = float(np.fmax.reduce(y)), float(np.fmin.reduce(y))  # NaN only if all are
                if top == top:
                    low, high = min(low, bottom), max(high, top)
        if self.threshold.isVisible():
            high = max(high, float(self.threshold.value()))
        self.plot.setYRange(low, high * 1.08 if high > 0 else 1.0, padding=0)
        # the view's transform now, not as Qt paints: its curves and lines would then ask for
        # a second paint of the whole plot
        self.plot.getPlotItem().vb.updateMatrix()

    def set_y_label(self, text: str, units: str = "") -> None:
        """Label the y axis; unchanged labels are not set again (that would lay the plot out anew)."""
        if (text, units) != self._y_label:
            self._y_label = (text, units)
            self.plot.setLabel("left", text, units=units)

    def set_threshold(self, value: float | None, label: str = "") -> None:
        self.threshold.setVisible(value is not None)
        if value is not None:
            self.threshold.setValue(value)
            self.threshold.label.setFormat(label.replace("{", "{{").replace("}", "}}"))

    def set_markers(self, markers: Sequence[tuple[float, str]]) -> None:
        """Vertical lines at each (time, label); unchanged markers are kept."""
        key = tuple(markers)
        if key == self._marker_key:
            return
        self._marker_key = key
        for line in self._markers:
            self.plot.removeItem(line)
        self._markers = []
        for time, text in markers:
            line = pg.InfiniteLine(pos=time, angle=90, pen=marker_pen(), movable=False,
                                   label=text.replace("{", "{{").replace("}", "}}"),
                                   labelOpts={"position": 0.92, "color": MARKER, "rotateAxis": (1, 0),
                                              "anchors": [(0, 0), (0, 0)]})
            self.plot.addItem(line, ignoreBounds=True)
            self._markers.append(line)

    @property
    def markers(self) -> list[pg.InfiniteLine]:
        return list(self._markers)

    def set_spans(self, spans: Sequence[tuple[float, float]]) -> None:
        """Shaded time spans (a rollout's failed analyses); unchanged spans are kept."""
        key = tuple(spans)
        if key == self._span_key:
            return
        self._span_key = key
        for region in self._spans:
            self.plot.removeItem(region)
        self._spans = []
        for start, end in spans:
            region = pg.LinearRegionItem(values=(start, end), movable=False, brush=pg.mkBrush(span_colour()),
                                         pen=pg.mkPen(None))
            region.setZValue(-10)
            self.plot.addItem(region, ignoreBounds=True)
            self._spans.append(region)

    @property
    def spans(self) -> list[tuple[float, float]]:
        return list(self._span_key)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_breached(self, deployments: set[str]) -> None:
        if deployments != self.breached:
            self.breached = set(deployments)
            self._legend_items.clear()  # relabel
            self._sync_legend()

    # ------------------------------------------------------------ legend
    def _sync_legend(self) -> None:
        """One legend entry per deployment, drawn with its first curve; clicking it toggles them all."""
        first: dict[str, pg.PlotDataItem] = {}
        for key, curve in self.data.items():
            first.setdefault(curve.deployment, self.curves[key])
        if first == self._legend_items:
            return
        self.legend.clear()
        self._legend_items = first
        for deployment in sorted(first):
            label = deployment
            if deployment in self.breached:
                label = f'<span style="color:{BREACH}">⚠ {deployment}</span>'
            self.legend.addItem(first[deployment], label)
            sample = self.legend.items[-1][0]
            sample.sigClicked.connect(lambda item, name=deployment: self._on_legend_clicked(name, item))

    def _on_legend_clicked(self, deployment: str, item: pg.PlotDataItem) -> None:
        self.set_deployment_visible(deployment, item.isVisible())

    def set_deployment_visible(self, deployment: str, visible: bool) -> None:
        if visible:
            self.hidden.discard(deployment)
        else:
            self.hidden.add(deployment)
        for key, curve in self.data.items():
            if curve.deployment == deployment:
                self.curves[key].setVisible(visible)
        for sample, _label in self.legend.items:
            sample.update()

    def legend_names(self) -> list[str]:
        return [label.text for _sample, label in self.legend.items]

    # ------------------------------------------------------------ crosshair
    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        box = self.plot.getPlotItem().vb
        if not box.sceneBoundingRect().contains(pos):
            self.crosshair.setVisible(False)
            return
        x = box.mapSceneToView(pos).x()
        self.show_values_at(x)

    def show_values_at(self, x: float) -> None:
        self.crosshair.setValue(x)
        self.crosshair.setVisible(True)
        parts = [f'<span style="color:{c.pen.color().name()}">{c.name}</span> {self.fmt(v)}'
                 for c, v in self.values_at(x)]
        stamp = export.time_text(x, local=True)
        self.readout.setText(f"{stamp} · " + " · ".join(parts) if parts else stamp)

    def values_at(self, x: float) -> list[tuple[Curve, float]]:
        """The nearest value of every visible curve at time `x` (curves without one are left out)."""
        found = []
        for key, curve in self.data.items():
            if not self.curves[key].isVisible() or not len(curve.x):
                continue
            index = int(np.clip(np.searchsorted(curve.x, x), 0, len(curve.x) - 1))
            if index > 0 and abs(curve.x[index - 1] - x) < abs(curve.x[index] - x):
                index -= 1
            value = float(curve.y[index])
            if not np.isnan(value):
                found.append((curve, value))
        return found

    # ------------------------------------------------------------ export
    def visible_curves(self) -> list[Curve]:
        return [c for key, c in self.data.items() if self.curves[key].isVisible()]

    def export_png(self, path: str) -> None:
        export.write_png(self.plot.getPlotItem(), path)

    def export_csv(self, path: str) -> None:
        export.write_csv(self.visible_curves(), path)

    def _ask_export(self, kind: str) -> None:
        path = export.ask_path(self, self.title, kind)
        if not path:
            return
        try:
            self.export_png(path) if kind == "png" else self.export_csv(path)
        except OSError as exc:
            self.sig_export_finished.emit(f"could not save the {self.title.lower()} chart to {path}: {exc}", "error")
        else:
            self.sig_export_finished.emit(f"saved the {self.title.lower()} chart to {path}", "info")
