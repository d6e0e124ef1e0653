"""LogTable: the log lines' QTableView, painting its rows in one Python call.

With lines arriving at 10,000 a second every repaint shows new rows. Qt's own painting asks the
model for each cell's index, flags and seven roles: some 1,500 calls from C++ into Python a
repaint, each taking the GIL back from the thread reading the stream. This view paints the rows
itself from the model's row looks (texts, colours, bold), holding the GIL throughout,
and draws each cell's text clipped to its column. Wrapped rows (uneven heights) and views with
another model are painted by Qt as usual; everything else (selection, scrolling, clicks,
keyboard, headers) is QTableView's.
"""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem, QTableView, QWidget

from console.ui.logs.model import (
    COLUMNS,
    MARKER_BACKGROUND,
    MARKER_FOREGROUND,
    MESSAGE,
    REQUEST,
    LogLinesModel,
    RowLook,
)

_PAD = 4  # pixels left of a cell's text, as Qt's delegate leaves
_NARROWEST = 2  # pixels: no glyph is narrower, so a cell shows at most width / 2 characters


class LogTable(QTableView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bold = QFont()

    def paintEvent(self, event: QPaintEvent) -> None:
        model = self.model()
        if self.wordWrap() or not isinstance(model, LogLinesModel) or not model.rowCount():
            super().paintEvent(event)
            return
        area = event.rect()
        first = self.rowAt(area.top())
        if first < 0:
            return  # below the last row: nothing but the background Qt has filled
        last = self.rowAt(area.bottom())
        last = model.rowCount() - 1 if last < 0 else last
        header = self.verticalHeader()
        columns = [(column, self.columnViewportPosition(column), self.columnWidth(column))
                   for column in range(len(COLUMNS)) if not self.isColumnHidden(column)]
        right = max((x + w for _c, x, w in columns), default=0)
        palette = self.palette()
        group = QPalette.ColorGroup.Active if self.isActiveWindow() else QPalette.ColorGroup.Inactive
        text_colour = palette.color(group, QPalette.ColorRole.Text)
        selected_colour = palette.color(group, QPalette.ColorRole.HighlightedText)
        highlight = palette.brush(group, QPalette.ColorRole.Highlight)
        chosen = self.selectionModel()
        # selected row spans, asked once (isRowSelected per row calls the model back for every cell)
        spans: list[tuple[int, int]] = []
        if chosen is not None:
            selection = chosen.selection()
            spans = [(part.top(), part.bottom()) for part in map(selection.at, range(selection.count()))]
        font = self.font()
        if self._bold.pointSizeF() != font.pointSizeF() or self._bold.family() != font.family():
            self._bold = QFont(font)
            self._bold.setBold(True)
        metrics = self.fontMetrics()
        ascent, text_height = metrics.ascent(), metrics.height()

        rows: list[tuple[int, int, RowLook | None, bool]] = []  # y, height, look (None: the marker row), selected
        painter = QPainter(self.viewport())
        for row in range(first, last + 1):
            y, height = header.sectionViewportPosition(row), header.sectionSize(row)
            selected = any(top <= row <= bottom for top, bottom in spans)
            look = model.row_look(row)
            background = highlight if selected else (MARKER_BACKGROUND if look is None else look[3])
            if background is not None:
                painter.fillRect(QRect(0, y, right, height), background)
            rows.append((y, height, look, selected))
        for column, x, width in columns:
            painter.setClipRect(QRect(x, area.top(), width - 1, area.height()))
            limit = width // _NARROWEST + 1
            pen: QColor | None = None
            bold = False
            for y, height, look, selected in rows:
                if look is None:  # the marker row: its text in the message column
                    text = model.marker_text() if column == MESSAGE else ""
                    colour = selected_colour if selected else MARKER_FOREGROUND
                    want_bold = False
                else:
                    text = look[0][column]
                    colour = (selected_colour if selected else look[2] if column == REQUEST and look[2] is not None
                              else text_colour if look[1] is None else look[1])
                    want_bold = look[4]
                if not text:
                    continue
                if colour is not pen:
                    painter.setPen(colour)
                    pen = colour
                if want_bold != bold:
                    painter.setFont(self._bold if want_bold else font)
                    bold = want_bold
                painter.drawText(x + _PAD, y + (height - text_height) // 2 + ascent, text[:limit])
            if bold:
                painter.setFont(font)
        painter.setClipping(False)
        if self.showGrid():
            self._paint_grid(painter, [(y, height) for y, height, _look, _selected in rows], columns, right)
        painter.end()

    def _paint_grid(self, painter: QPainter, rows: list[tuple[int, int]], columns: list[tuple[int, int, int]],
                    right: int) -> None:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        grid = QColor.fromRgba(self.style().styleHint(QStyle.StyleHint.SH_Table_GridLineColor, option, self)
                               & 0xFFFFFFFF)
        top, bottom = rows[0][0], rows[-1][0] + rows[-1][1]
        for y, height in rows:  # thin rectangles: cheaper than lines
            painter.fillRect(QRect(0, y + height - 1, right, 1), grid)
        for _column, x, width in columns:
            painter.fillRect(QRect(x + width - 1, top, 1, bottom - top), grid)
