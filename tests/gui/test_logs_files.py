"""The logs dock on local files: open, filter, search, jump, request ids, export, remembered filters."""

from __future__ import annotations

import gzip
import json

import pytest
from PySide6.QtCore import QSettings, Qt

from console.domain.logparse import ERROR
from console.ui.logs import LogsDock
from console.ui.logs.filepane import FilePane
from console.ui.logs.filters import LogFilter
from console.ui.logs.model import MESSAGE, REQUEST

LINES = 3000


@pytest.fixture
def dock(qtbot, runner, tmp_path):
    reports: list[tuple[str, str]] = []
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    widget = LogsDock(runner, settings, lambda text, level: reports.append((text, level)))
    widget.reports = reports
    qtbot.addWidget(widget)
    widget.resize(1200, 600)
    widget.show()
    yield widget
    widget.shutdown()


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "app.jsonl"
    with open(path, "w") as out:
        for i in range(LINES):
            level = "error" if i % 100 == 0 else "info"
            out.write(json.dumps({"time": 1795307452.0 + i, "level": level, "msg": f"event {i}",
                                  "request_id": f"req-{i % 500:04d}"}) + "\n")
    return path


def open_indexed(qtbot, dock, path) -> FilePane:
    pane = dock.open_file(path)
    assert isinstance(pane, FilePane)
    qtbot.waitUntil(lambda: pane.indexed and not pane.busy(), timeout=10_000)
    return pane


def message(pane: FilePane, row: int) -> str:
    return pane.model.index(row, MESSAGE).data()


def test_jsonl_opens_with_levels_times_and_colours(qtbot, dock, jsonl, qtmodeltester):
    pane = open_indexed(qtbot, dock, jsonl)
    assert pane.model.rowCount() == LINES
    assert pane.model.index(0, 0).data() == "2026-11-22 00:30:52.000"
    assert pane.model.index(0, 2).data() == "error" and pane.model.index(1, 2).data() == "info"
    assert pane.model.index(0, MESSAGE).data(Qt.ItemDataRole.ForegroundRole).color().name() == "#d02020"
    assert f"{LINES:,} lines" in pane.status.text() and "json lines" in pane.status.text()
    qtmodeltester.check(pane.model)
    assert dock.open_file(jsonl) is pane  # open again: the same tab


def test_filter_by_level_and_text_then_remembered(qtbot, dock, jsonl, tmp_path):
    pane = open_indexed(qtbot, dock, jsonl)
    pane.filter_bar.set_filter(LogFilter(min_level=ERROR))
    pane._on_filter_bar_filter_changed(pane.filter_bar.current())
    qtbot.waitUntil(lambda: pane.model.rowCount() == LINES // 100 and not pane.busy())
    assert all('"error"' in message(pane, r) for r in range(pane.model.rowCount()))
    pane.filter_bar.text.setText("event 12")  # the bar's own debounce applies it
    qtbot.waitUntil(lambda: pane.model.rowCount() == 1 and not pane.busy(), timeout=5000)
    assert '"event 1200"' in message(pane, 0)
    # closing and opening again brings the filter back (remembered per source in QSettings)
    dock.close_tab(dock.tabs.indexOf(pane))
    again = open_indexed(qtbot, dock, jsonl)
    assert again.filter_bar.current().min_level == ERROR and again.filter_bar.text.text() == "event 12"
    qtbot.waitUntil(lambda: again.model.rowCount() == 1 and not again.busy())


def test_search_counts_and_steps_with_wraparound(qtbot, dock, jsonl):
    pane = open_indexed(qtbot, dock, jsonl)
    pane.search_bar.text.setText(r'"event \d*7"')
    pane.search_bar.regex.setChecked(True)
    pane.search_bar.request()
    qtbot.waitUntil(lambda: pane.search_bar.count.text() == f"{LINES // 10:,} matches")
    pane.step(1)
    assert pane.view.currentIndex().row() == 7 and pane.search_bar.count.text() == "1 of 300"
    pane.step(1)
    assert pane.view.currentIndex().row() == 17
    pane.step(-1)
    pane.step(-1)
    assert pane.view.currentIndex().row() == LINES - 3  # wrapped to the last match
    pane.search_bar.text.setText("(bad")
    pane.search_bar.request()
    qtbot.waitUntil(lambda: any("not a valid regular expression" in text for text, _level in dock.reports))


def test_jump_to_time_and_request_id_across_sources(qtbot, dock, jsonl, tmp_path):
    pane = open_indexed(qtbot, dock, jsonl)
    pane.jump_to_time(1795307452.0 + 1234.5)
    qtbot.waitUntil(lambda: pane.view.currentIndex().row() == 1235)
    other = tmp_path / "other.log"
    other.write_text("2026-11-22T00:30:53.500Z INFO request_id=req-0001 from the other service\nunrelated\n")
    open_indexed(qtbot, dock, other)
    pane_index = dock.tabs.indexOf(pane)
    dock.tabs.setCurrentIndex(pane_index)
    cell = pane.model.index(1, REQUEST)
    assert cell.data() == "req-0001"
    pane.view.scrollTo(cell)
    qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=pane.view.visualRect(cell).center())
    request = dock.pane("request:req-0001")
    assert request is not None
    qtbot.waitUntil(lambda: request.model.rowCount() == LINES // 500 + 1 and not any(
        p.busy() for p in dock.panes()), timeout=10_000)
    sources = [request.model.index(r, 1).data() for r in range(request.model.rowCount())]
    assert sources[:2] == ["app.jsonl", "other.log"]  # merged in time order, each with its source
    times = [request.model.entry_at(r).time for r in range(request.model.rowCount())]
    assert times == sorted(times)


def test_export_writes_the_filtered_view_whole(qtbot, dock, tmp_path):
    path = tmp_path / "long.log"
    path.write_bytes(b"ERROR short\n" + b"ERROR " + b"y" * 1_000_000 + b"\nINFO skipped\n")
    pane = open_indexed(qtbot, dock, path)
    assert "cut here for the view" in message(pane, 1)
    pane.apply_filter(LogFilter(min_level=ERROR))
    qtbot.waitUntil(lambda: pane.model.rowCount() == 2 and not pane.busy())
    target = tmp_path / "export.log"
    pane.export_to(target)
    qtbot.waitUntil(lambda: not pane.busy() and "exported 2 lines" in pane.status.text())
    assert target.read_bytes() == b"ERROR short\nERROR " + b"y" * 1_000_000 + b"\n"
    pane.view.selectAll()
    assert pane.selected_text().count("\n") == 1 and len(pane.selected_text()) > 1_000_000
    pane.export_to(path)  # never over the log itself
    qtbot.waitUntil(lambda: any("is the log file itself" in text for text, _l in dock.reports))


def test_awkward_files_each_say_what_is_odd(qtbot, dock, tmp_path):
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(b"".join(b"gz line %d\n" % i for i in range(50000)))[:2000])
    pane = open_indexed(qtbot, dock, cut)
    assert pane.model.rowCount() > 0 and message(pane, 0) == "gz line 0"
    assert "ends early" in pane.status.text()
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"ok\n\xff\xfe broken utf-8\ntruncated last line")
    pane = open_indexed(qtbot, dock, bad)
    assert [message(pane, r) for r in range(3)] == ["ok", "\ufffd\ufffd broken utf-8", "truncated last line"]
    assert "no line end" in pane.status.text()
    assert dock.open_file(tmp_path / "nope.log") is None
    assert any("cannot open" in text for text, _level in dock.reports)


def test_wrap_and_font_size(qtbot, dock, tmp_path):
    path = tmp_path / "wide.log"
    path.write_text(("word " * 400 + "\n") * 50)
    pane = open_indexed(qtbot, dock, path)
    single = pane.view.rowHeight(0)
    pane.wrap_action.setChecked(True)
    qtbot.waitUntil(lambda: pane.view.rowHeight(0) > 2 * single)
    pane.wrap_action.setChecked(False)
    assert pane.view.rowHeight(0) == single
    pane.font_size.setValue(16)
    assert pane.view.font().pointSize() == 16 and dock.font_size() == 16
    assert pane.view.rowHeight(0) > single


def test_every_reachable_control_has_a_name(qtbot, dock, jsonl):
    from tests.gui.test_main_window import _unnamed

    open_indexed(qtbot, dock, jsonl)
    unnamed = _unnamed(dock)
    assert unnamed == [], "; ".join(unnamed)
