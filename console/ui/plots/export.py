"""Export a chart: the plot as PNG (pyqtgraph's ImageExporter) and its visible curves as CSV.

The CSV has one row per time any visible curve has a point: `time` (ISO 8601, UTC), then one
column per curve named '<deployment> <figure>'; a cell is empty where that curve has no value.
Both are small files written when the person asks, on the GUI thread (the PNG must be rendered
there anyway).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtWidgets import QFileDialog, QWidget

if TYPE_CHECKING:
    from console.ui.plots.chart import Curve


def time_text(epoch: float, local: bool = False) -> str:
    if not math.isfinite(epoch):
        return ""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.astimezone().strftime("%H:%M:%S") if local else moment.isoformat()


def write_png(item: pg.PlotItem, path: str) -> None:
    exporter = pyqtgraph.exporters.ImageExporter(item)
    width = max(int(item.sceneBoundingRect().width()), 320)
    exporter.parameters()["width"] = width * 2  # crisper than the screen
    image = exporter.export(toBytes=True)
    if image is None or image.isNull() or not image.save(path, "PNG"):
        raise OSError(f"Qt could not write a PNG image to {path}")


def write_csv(curves: Sequence[Curve], path: str) -> None:
    columns: list[dict[float, float]] = []
    times: set[float] = set()
    for curve in curves:
        values = {float(x): float(y) for x, y in zip(curve.x, curve.y, strict=True) if not math.isnan(y)}
        columns.append(values)
        times.update(values)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", *(curve.name for curve in curves)])
        for time in sorted(times):
            writer.writerow([time_text(time), *(_cell(column.get(time)) for column in columns)])


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def ask_path(parent: QWidget, title: str, kind: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    suggested = f"{title.lower().replace(' ', '-')}-{stamp}.{kind}"
    caption = f"Save the {title.lower()} chart as {kind.upper()}"
    path, _filter = QFileDialog.getSaveFileName(parent, caption, suggested, f"{kind.upper()} (*.{kind})")
    return str(path)
