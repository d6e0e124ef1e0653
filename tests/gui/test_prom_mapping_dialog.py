"""The place dialog's label mapping for Prometheus places: shown only for them, typed values
saved in the place, empty fields meaning the defaults, bad names refused with the reason."""

from __future__ import annotations

import pytest

from console.backends.base import PlaceKind
from console.backends.credentials import CredentialStore
from console.backends.places import PlaceConfig
from console.backends.promql import PromMapping
from console.ui.dialogs.place import PlaceDialog
from tests.gui.fakes import MemoryKeyring

pytestmark = pytest.mark.gui


def _dialog(qtbot, runner, config=None):
    dialog = PlaceDialog(runner, CredentialStore(backend=MemoryKeyring()), config)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _prometheus(qtbot, dialog, url="http://prom:9090"):
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.PROMETHEUS))
    qtbot.keyClicks(dialog.name, "cluster prometheus")
    dialog.url.setText(url)


def test_mapping_is_shown_for_prometheus_places_only(qtbot, runner):
    dialog = _dialog(qtbot, runner)
    assert not dialog.prom_mapping.isVisible()
    _prometheus(qtbot, dialog)
    assert dialog.prom_mapping.isVisible()
    assert dialog.prom_mapping.edits["endpoint_label"].placeholderText() == "endpoint"
    dialog.kind.setCurrentIndex(dialog.kind.findData(PlaceKind.SERVING))
    assert not dialog.prom_mapping.isVisible()


def test_typed_mapping_is_saved_and_empty_fields_are_the_defaults(qtbot, runner):
    dialog = _dialog(qtbot, runner)
    _prometheus(qtbot, dialog)
    qtbot.keyClicks(dialog.prom_mapping.edits["endpoint_label"], "service")
    qtbot.keyClicks(dialog.prom_mapping.edits["selector"], '{namespace="prod"}')
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.buttons.accepted.emit()
    config = dialog.result_config()
    assert config is not None and config.prometheus == PromMapping(endpoint_label="service",
                                                                   selector='{namespace="prod"}')

    untouched = _dialog(qtbot, runner)
    _prometheus(qtbot, untouched)
    with qtbot.waitSignal(untouched.finished, timeout=5000):
        untouched.buttons.accepted.emit()
    assert untouched.result_config().prometheus is None  # type: ignore[union-attr]


def test_bad_names_and_selectors_are_refused_with_the_reason(qtbot, runner):
    dialog = _dialog(qtbot, runner)
    _prometheus(qtbot, dialog)
    qtbot.keyClicks(dialog.prom_mapping.edits["deployment_label"], "app.kubernetes.io/name")
    qtbot.keyClicks(dialog.prom_mapping.edits["selector"], "{job=switchboard}")
    dialog.buttons.accepted.emit()
    text = dialog.test_result.text()
    assert dialog.result_config() is None
    assert text.startswith("Deployment label: 'app.kubernetes.io/name' is not a label name")
    assert "; selector '{job=switchboard}': expected label=\"value\" (or !=, =~, !~) at 'job=switchboard'" in text
    dialog.test_button.click()  # nothing is sent while the form is wrong
    assert dialog.test_result.text().startswith("Cannot test: ")


def test_editing_shows_the_mapping_and_keeps_settings_without_a_field(qtbot, runner):
    mapping = PromMapping(deployment_label="app", rate_window_s=120)
    config = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="p", url="http://prom:9090", prometheus=mapping)
    dialog = _dialog(qtbot, runner, config)
    assert dialog.prom_mapping.edits["deployment_label"].text() == "app"
    assert dialog.prom_mapping.edits["endpoint_label"].text() == ""  # the default, shown as the placeholder
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.buttons.accepted.emit()
    assert dialog.result_config().prometheus == mapping  # type: ignore[union-attr]
