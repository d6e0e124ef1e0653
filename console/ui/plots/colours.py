"""One colour per deployment, the same in every chart, table and run.

The colour comes from a fixed palette indexed by a CRC-32 of the deployment's name (stable
across runs and machines, unlike Python's salted `hash()`). The palette is Okabe-Ito's
colour-blind-safe set followed by a few distinct extras, all readable on light and dark
backgrounds.
"""

from __future__ import annotations

import zlib

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen

PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermilion
    "#B8A200",  # dark yellow
    "#7F3C8D",  # purple
    "#11A579",  # teal
    "#8C564B",  # brown
    "#E73F74",  # pink
    "#3969AC",  # dark blue
)
BREACH = "#D62728"  # SLO lines and breach marks
MARKER = "#808080"  # revision markers

# how each percentile is drawn: the tail solid, the median faint
PERCENTILE_STYLES = {"p50": Qt.PenStyle.DotLine, "p90": Qt.PenStyle.DashDotLine, "p95": Qt.PenStyle.DashLine,
                     "p99": Qt.PenStyle.SolidLine, "mean": Qt.PenStyle.DashDotDotLine}


def deployment_colour(name: str) -> QColor:
    """The deployment's colour: a palette entry chosen by the CRC-32 of its name."""
    return QColor(PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)])


def deployment_pen(name: str, style: Qt.PenStyle = Qt.PenStyle.SolidLine, width: float = 1.0) -> QPen:
    pen = QPen(deployment_colour(name))
    pen.setStyle(style)
    pen.setWidthF(width)
    pen.setCosmetic(True)
    return pen


def threshold_pen() -> QPen:
    pen = QPen(QColor(BREACH))
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setWidthF(1.5)
    pen.setCosmetic(True)
    return pen


def marker_pen() -> QPen:
    pen = QPen(QColor(MARKER))
    pen.setStyle(Qt.PenStyle.DashDotLine)
    pen.setCosmetic(True)
    return pen


def span_colour() -> QColor:
    """The shading of a rollout's failed analyses: the breach red, faint."""
    colour = QColor(BREACH)
    colour.setAlpha(40)
    return colour
