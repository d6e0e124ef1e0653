"""Exporting a chart (PNG, CSV) and toggling curves from its legend with the mouse."""

from __future__ import annotations

import csv
from datetime import datetime

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from console.ui.plots.colours import PALETTE, deployment_colour, deployment_colours
from console.ui.views.endpoint import EndpointView
from tests.gui.plots_helpers import PLACE, T0, Clock, batch, endpoint, feed, make_panel, sample

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_export_png_writes_a_valid_image(qtbot, tmp_path):
    panel = make_panel(qtbot, Clock(T0 + 60))
    feed(panel, T0, T0 + 60)
    panel.redraw()
    path = tmp_path / "latency.png"
    panel.latency.export_png(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    image = QImage(str(path))
    assert not image.isNull() and image.width() >= 320


def test_export_csv_writes_the_visible_curves(qtbot, tmp_path):
    panel = make_panel(qtbot, Clock(T0 + 60))
    feed(panel, T0, T0 + 60)
    panel.redraw()
    panel.traffic.set_deployment_visible("fraud-v2", False)
    path = tmp_path / "traffic.csv"
    panel.traffic.export_csv(str(path))
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time", "fraud-v1 req/s"]  # fraud-v2 is hidden: not exported
    assert len(rows) == 61
    last = rows[-1]
    assert datetime.fromisoformat(last[0]).timestamp() == T0 + 60 and float(last[1]) == 90.0


def test_export_failure_is_an_oserror_naming_the_path(qtbot, tmp_path):
    panel = make_panel(qtbot, Clock(T0 + 5))
    missing = tmp_path / "no-such-dir" / "x.csv"
    try:
        panel.errors.export_csv(str(missing))
    except OSError as exc:
        assert "no-such-dir" in str(exc)
    else:
        raise AssertionError("writing into a missing folder succeeded")


def test_clicking_a_legend_entry_hides_and_shows_the_deployment(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 30))
    feed(panel, T0, T0 + 30)
    panel.redraw()
    chart = panel.latency
    sample = next(s for s, label in chart.legend.items if label.text == "fraud-v2")
    view = chart.plot
    centre = view.mapFromScene(sample.mapToScene(sample.boundingRect().center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre.x(), centre.y()))
    assert not chart.curves["fraud-v2/False/p95"].isVisible()
    assert not chart.curves["fraud-v2/False/p99"].isVisible()
    assert chart.curves["fraud-v1/False/p95"].isVisible()
    panel.redraw()  # stays hidden across redraws
    assert not chart.curves["fraud-v2/False/p99"].isVisible()
    assert [c.name for c, _ in chart.values_at(T0 + 20) if c.deployment == "fraud-v2"] == []
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre.x(), centre.y()))
    assert chart.curves["fraud-v2/False/p99"].isVisible()


def test_deployment_colours_are_stable_and_from_the_palette():
    assert deployment_colour("fraud-v1").name() == deployment_colour("fraud-v1").name()
    assert deployment_colour("fraud-v1").name().upper() in PALETTE
    names = [f"model-{i}" for i in range(40)]
    assert len({deployment_colour(n).name() for n in names}) >= 8  # spread over the palette


def test_deployments_of_one_endpoint_never_share_a_colour():
    demo = ["fraud-v1", "fraud-v2", "fraud-v3"]
    assert deployment_colour("fraud-v1") == deployment_colour("fraud-v3")  # alone, their names collide
    colours = deployment_colours(demo)
    assert len({c.name() for c in colours.values()}) == 3
    assert colours == deployment_colours(list(reversed(demo)))  # the order asked in does not matter
    assert colours["fraud-v1"].name().upper() in PALETTE
    many = [f"ranker-{i}" for i in range(20)]  # more than the palette's twelve
    assert len({c.name() for c in deployment_colours(many).values()}) == 20
    assert deployment_colour("ranker-7", many) == deployment_colours(many)["ranker-7"]


def test_a_deployment_has_one_colour_in_every_chart_and_the_readout(qtbot):
    clock = Clock(T0 + 30)
    panel = make_panel(qtbot, clock)  # the endpoint has fraud-v1, fraud-v2 and fraud-v3
    for t in range(1, 31):
        panel.add_batch(batch(T0 + t, (sample(T0 + t, "fraud-v1"), sample(T0 + t, "fraud-v3"))))
    panel.redraw()
    expected = deployment_colours(["fraud-v1", "fraud-v2", "fraud-v3"])
    for chart in panel.charts:
        for curve in chart.data.values():
            assert chart.curves[curve.key].opts["pen"].color().name() == expected[curve.deployment].name()
    v1, v3 = (panel.traffic.curves[f"{d}/False/rate"].opts["pen"].color() for d in ("fraud-v1", "fraud-v3"))
    assert v1 != v3
    panel.traffic.show_values_at(T0 + 20)
    assert f'color:{v3.name()}">fraud-v3 req/s' in panel.traffic.readout.text()


def test_the_endpoint_view_shows_the_charts_of_its_endpoint(qtbot):
    view = EndpointView()
    qtbot.addWidget(view)
    view.show()
    view.show_endpoint(PLACE, endpoint())
    assert view.charts.isVisible() and view.charts.endpoint_name == "fraud"
    view.show_endpoint("", None)
    assert view.charts.endpoint_name == ""
