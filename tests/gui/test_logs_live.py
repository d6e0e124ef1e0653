"""The live buffer: merged in time order, bounded with a marker, filters, pause without loss;
the table paints levels, the selection and the marker row."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette

from console.domain.logparse import CRITICAL, ERROR, INFO, LogEntry
from console.ui.logs.filters import LogFilter
from console.ui.logs.live import LiveLinesModel
from console.ui.logs.livepane import LivePane
from console.ui.logs.model import CRITICAL_BACKGROUND, MARKER_BACKGROUND, MARKER_ROLE, MESSAGE, REQUEST


def entry(t: float, source: str = "a", level: int = INFO, text: str = "", rid: str = "") -> LogEntry:
    return LogEntry(t, source, level, rid, text or f"{source} at {t}")


def texts(model) -> list[str]:
    return [model.index(r, MESSAGE).data() for r in range(model.rowCount())]


def test_sources_merge_in_time_order_even_when_late(qtbot, qtmodeltester):
    model = LiveLinesModel(max_lines=1000)
    qtmodeltester.check(model)
    model.append([entry(1, "a"), entry(3, "a"), entry(5, "a")])
    model.append([entry(2, "b"), entry(4, "b"), entry(6, "b")])  # another source, a bit late
    assert texts(model) == [f"{s} at {t}" for s, t in zip("ababab", range(1, 7), strict=True)]
    assert model.sources == {"a", "b"}
    qtmodeltester.check(model)


def test_bounded_buffer_shows_a_dropped_marker(qtbot):
    model = LiveLinesModel(max_lines=100, on_disk="/state/logs/fraud-v1.log")
    for start in range(0, 1000, 50):
        model.append([entry(start + i) for i in range(50)])
    assert len(model) <= 105
    marker = model.index(0, MESSAGE)
    assert marker.data(MARKER_ROLE) is True
    assert f"{model.dropped:,} older lines dropped from view" in marker.data()
    assert "/state/logs/fraud-v1.log keeps every line" in marker.data()
    assert model.index(model.rowCount() - 1, MESSAGE).data() == "a at 999"
    assert model.dropped + len(model) == 1000


def test_filter_and_time_jump_and_request_ids(qtbot):
    model = LiveLinesModel(max_lines=1000)
    model.append([entry(t, "a" if t % 2 else "b", ERROR if t % 5 == 0 else INFO, rid=f"r{t % 3}")
                  for t in range(100)])
    model.set_filter(LogFilter(min_level=ERROR, sources=frozenset({"b"})))
    assert texts(model) == [f"b at {t}" for t in range(0, 100, 10)]
    model.append([entry(100, "b", ERROR), entry(101, "b", INFO)])  # new lines are filtered as they come
    assert texts(model)[-1] == "b at 100"
    model.set_filter(LogFilter())
    assert model.rowCount() == 102
    assert model.row_for_time(50.5) == 51
    assert len(model.rows_with_request("r1")) == 33


def test_pause_holds_lines_and_resume_shows_all(qtbot, runner):
    pane = LivePane("test:pause", "pause", runner, max_lines=10_000)
    qtbot.addWidget(pane)
    pane.push([entry(t) for t in range(10)])
    pane.set_paused(True)
    pane.held.extend(entry(t) for t in range(10, 5000))  # what tick() holds while paused
    assert pane.model.rowCount() == 10
    pane.set_paused(False)
    assert pane.model.rowCount() == 5000 and not pane.held
    pane.shutdown()


@pytest.mark.parametrize("bad", ["(", "[z-a]"])
def test_bad_filter_expression_is_reported_not_applied(qtbot, runner, bad):
    pane = LivePane("test:bad", "bad", runner)
    qtbot.addWidget(pane)
    pane.push([entry(1)])
    with qtbot.waitSignal(pane.sig_message_reported) as blocker:
        pane.apply_filter(LogFilter(text=bad, regex=True))
    assert "not a valid regular expression" in blocker.args[0]
    assert pane.model.rowCount() == 1
    pane.shutdown()


def test_table_paints_levels_the_selection_and_the_marker_row(qtbot, runner):
    pane = LivePane("test:paint", "paint", runner, max_lines=100)
    qtbot.addWidget(pane)
    pane.resize(900, 400)
    pane.show()
    qtbot.waitExposed(pane)
    pane.push([entry(t, level=CRITICAL if t == 197 else INFO) for t in range(200)])  # older lines dropped
    last = pane.model.rowCount() - 1
    pane.view.selectRow(last)
    pane.view.scrollToBottom()

    def background(row: int):  # the colour of an empty cell (no request id) of `row`, as painted
        cell = pane.view.visualRect(pane.model.index(row, REQUEST))
        image = pane.view.viewport().grab().toImage()
        return QColor(image.pixel(cell.right() - 3, cell.center().y()))

    def has_text(row: int) -> bool:  # the message cell holds pixels of another colour than its background
        cell = pane.view.visualRect(pane.model.index(row, MESSAGE))
        image = pane.view.viewport().grab().toImage()
        plain = image.pixel(cell.right() - 2, cell.center().y())
        return any(image.pixel(x, y) != plain for x in range(cell.left() + 4, cell.left() + 60)
                   for y in range(cell.top() + 2, cell.bottom() - 1))

    assert background(last - 2) == CRITICAL_BACKGROUND
    assert background(last) == pane.view.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.Highlight) \
        or background(last) == pane.view.palette().color(QPalette.ColorGroup.Inactive, QPalette.ColorRole.Highlight)
    assert background(last - 1) == pane.view.palette().color(QPalette.ColorRole.Base)
    assert has_text(last) and has_text(last - 1)
    pane.view.scrollToTop()
    assert background(0) == MARKER_BACKGROUND and has_text(0)
    pane.shutdown()
