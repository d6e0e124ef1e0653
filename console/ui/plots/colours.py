"""One colour per deployment, the same in every chart, table and run.

The deployments of one endpoint never share a colour: `deployment_colours` takes all of their
names and, in sorted-name order, gives each the palette entry a CRC-32 of its name points at
(stable across runs and machines, unlike Python's salted `hash()`), or the next one still free.
Past the palette's twelve, further colours are spread round the hue circle by the golden angle.
So a colour depends only on the endpoint's set of deployment names: every view that asks with
the same set gets the same colours. The palette is Okabe-Ito's colour-blind-safe set followed by
a few distinct extras, all readable on light and dark backgrounds.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

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


GOLDEN = 0.618033988749895


def colour_at(slot: int) -> QColor:
    """The palette's entry `slot`; past its end, hues spread by the golden angle."""
    if slot < len(PALETTE):
        return QColor(PALETTE[slot])
    return QColor.fromHsvF((0.07 + (slot - len(PALETTE)) * GOLDEN) % 1.0, 0.75, 0.8)


def deployment_colours(names: Iterable[str]) -> dict[str, QColor]:
    """A colour for each of an endpoint's deployments, no two alike: in sorted-name order, each
    takes the palette entry its name's CRC-32 points at or, if a sibling has it, the next free one."""
    taken: set[int] = set()
    found: dict[str, QColor] = {}
    for name in sorted(set(names)):
        start = zlib.crc32(name.encode("utf-8")) % len(PALETTE)
        free = [s for s in (*range(start, len(PALETTE)), *range(start)) if s not in taken]
        slot = free[0] if free else len(taken)  # the palette is used up: the next extra colour
        taken.add(slot)
        found[name] = colour_at(slot)
    return found


def deployment_colour(name: str, siblings: Iterable[str] = ()) -> QColor:
    """The deployment's colour among `siblings` (the other deployments of its endpoint)."""
    return deployment_colours([name, *siblings])[name]


def deployment_pen(name: str, style: Qt.PenStyle = Qt.PenStyle.SolidLine, width: float = 1.0,
                   colour: QColor | None = None) -> QPen:
    """A cosmetic pen in `colour` (default: the deployment's colour on its own, without siblings)."""
    pen = QPen(colour if colour is not None else deployment_colour(name))
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
