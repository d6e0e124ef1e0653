"""The place dialog's metrics part for serving hosts: shown for them only; Test connection
says which server the host is and lists its histograms; the one chosen (for a server the
console does not recognise) and the metrics URL are saved in the place."""

from __future__ import annotations

import pytest

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlaceConfig
from console.ui.dialogs.place import PlaceDialog
from console.ui.dialogs.serving_metrics import AUTOMATIC
from tests.gui.fakes import MemoryKeyring
from tests.recorded_host import recorded_host

pytestmark = pytest.mark.gui
UNKNOWN = (b"# TYPE app_request_seconds histogram\napp_request_seconds_bucket{le=\"0.1\"} 1\n"
           b"app_request_seconds_bucket{le=\"+Inf\"} 1\napp_request_seconds_count 1\napp_request_seconds_sum 0.05\n")


def _dialog(qtbot, runner, config=None):
    dialog = PlaceDialog(runner, CredentialStore(backend=MemoryKeyring()), config)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _serving(qtbot, dialog, url):
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    qtbot.keyClicks(dialog.name, "model box")
    dialog.url.setText(url)


def test_metrics_part_is_shown_for_serving_hosts_only(qtbot, runner):
    dialog = _dialog(qtbot, runner)
    assert not dialog.serving_metrics.isVisible()
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    assert dialog.serving_metrics.isVisible()
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.PROMETHEUS))
    assert not dialog.serving_metrics.isVisible()


def test_test_connection_recognises_the_server(qtbot, runner):
    dialog = _dialog(qtbot, runner)
    with recorded_host() as host:
        host.routes[("GET", "/v2/health/ready")] = (200, b"")
        host.metrics("triton-1.prom")
        _serving(qtbot, dialog, host.url)
        dialog.test_button.click()
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=15000)
    assert dialog.test_result.text().startswith(f"Connected: {host.url}/v2/health/ready answered HTTP 200")
    assert "/metrics of NVIDIA Triton" in dialog.test_result.text()
    assert dialog.serving_metrics.servers.text().startswith("Recognised: triton.")


def test_the_histogram_chosen_for_an_unknown_server_is_saved_with_the_metrics_url(qtbot, runner):
    dialog = _dialog(qtbot, runner)
    with recorded_host() as host:
        host.routes[("GET", "/health")] = (200, b"")
        host.routes[("GET", "/internal/metrics")] = (200, UNKNOWN)
        _serving(qtbot, dialog, host.url)
        qtbot.keyClicks(dialog.serving_metrics.metrics_url, "/internal/metrics")
        dialog.test_button.click()
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=15000)
    box = dialog.serving_metrics
    assert box.servers.text().startswith("Not a server the console recognises")
    assert [box.histogram.itemText(i) for i in range(box.histogram.count())] == [AUTOMATIC, "app_request_seconds"]
    box.histogram.setCurrentIndex(1)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.buttons.accepted.emit()
    config = dialog.result_config()
    assert config is not None
    assert (config.metrics_url, config.latency_histogram) == ("/internal/metrics", "app_request_seconds")


def test_saved_choices_are_shown_when_editing_and_bad_urls_refused(qtbot, runner):
    original = PlaceConfig(kind=PlaceKind.SERVING, name="mlserver", url="http://127.0.0.1:8080",
                           metrics_url="http://127.0.0.1:8082/metrics", latency_histogram="x_seconds")
    dialog = _dialog(qtbot, runner, original)
    assert dialog.serving_metrics.metrics_url.text() == "http://127.0.0.1:8082/metrics"
    assert dialog.serving_metrics.histogram.currentText() == "x_seconds"
    dialog.serving_metrics.metrics_url.setText("metrics")
    dialog.buttons.accepted.emit()
    assert dialog.result_config() is None
    assert "metrics URL must be a path starting with /" in dialog.test_result.text()
