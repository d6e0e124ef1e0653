"""The rollout strip against a real engine under real demo traffic: a plan previewed (and a bad
one refused before and by the engine), started from the console, its progress shown on the strip
and the charts, paused and resumed, its gate approved to success; another aborted, which puts the
split back on the baseline. Every action is confirmed first and says what it does to the split."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gui.release_window import demo_traffic, messages, release_window, show_endpoint
from tests.harness import ROOT, RunningEngine, running_demo

pytestmark = [pytest.mark.gui, pytest.mark.integration]
CANARY = ROOT / "resources" / "demo" / "canary.yaml"
GATED = """\
kind: Rollout
endpoint: fraud
candidate: fraud-v3
steps: [{weight: 10, gate: true}, 100]
bake_s: 1
analysis: {latency_ms: 2000, error_rate_percent: 5, window_s: 10, interval_s: 0.5, min_requests: 3}
"""
SLOW = """\
kind: Rollout
endpoint: fraud
candidate: fraud-v3
baseline: fraud-v1
steps: [10, 50, 100]
bake_s: 600
analysis: {latency_ms: 2000, window_s: 10, interval_s: 1, min_requests: 3}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with running_demo(tmp_path_factory.mktemp("ui-rollout")) as running, demo_traffic(running.state_dir):
        yield running


@pytest.fixture
def window(engine, tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    with release_window(engine.state_dir, tmp_path, qtbot) as made:
        show_endpoint(made, qtbot)
        yield made


def split(engine: RunningEngine) -> dict[str, int]:
    with engine.client() as client:
        return dict(client.endpoint("fraud")["traffic"])


def plan_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return str(path)


def confirm(window, qtbot, action: str, reason: str = "") -> str:
    """Ask for `action` from the strip's button, read the confirmation, confirm it; its text."""
    button = window.endpoint_view.rollout_strip.buttons[action]
    qtbot.waitUntil(button.isEnabled, timeout=30_000)
    button.click()
    dialog = window.rollouts.confirm
    assert dialog is not None and dialog.isVisible() and dialog.action == action
    text = dialog.text.text()
    dialog.reason.setText(reason)
    with qtbot.waitSignal(window.rollouts.sig_action_finished, timeout=15_000) as done:
        dialog.ok_button.click()
    assert isinstance(done.args[1], dict), done.args[1]
    return text


def strip_says(window, qtbot, words: str, timeout: int = 30_000) -> str:
    strip = window.endpoint_view.rollout_strip
    qtbot.waitUntil(lambda: words in strip.text(), timeout=timeout)
    return strip.text()


def test_the_demo_plan_is_previewed_and_bad_plans_are_refused(window, qtbot, tmp_path):
    strip = window.endpoint_view.rollout_strip
    assert strip.start_button.isVisible() and "has no rollout" in strip.text()
    dialog = window.start_rollout(str(CANARY))
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=5000)
    preview = dialog.preview.toPlainText()
    for expected in ("fraud-v3", "fraud-v1", "10% (30 s) → 25% (30 s) → 50% (30 s, gate) → 100% (30 s)",
                     "p95 ≤ 100 ms", "5xx ≤ 1%", "2 failed in a row roll back"):
        assert expected in preview, preview
    assert dialog.problems.text() == "" and dialog.start_button.isEnabled()
    dialog.set_text("endpoint: fraud\ncandidate: fraud-v9\nsteps: [10, 5]\n", "bad.yaml")
    assert "steps must rise strictly" in dialog.problems.text() and not dialog.start_button.isEnabled()
    dialog.set_text(SLOW.replace("fraud-v3", "fraud-v7"), "typo.yaml")
    assert "candidate: 'fraud-v7' is not a deployment of endpoint 'fraud'" in dialog.problems.text()
    dialog.reject()
    # the same dialog from the command palette
    (entry,) = [e for e in window.palette_entries() if e.title == "start rollout from plan…" and e.subject == "fraud"]
    entry.run()
    assert window.rollouts.plan_dialog is not None and window.rollouts.plan_dialog.isVisible()
    window.rollouts.plan_dialog.reject()


def test_a_rollout_from_the_console_pauses_resumes_and_passes_its_gate(engine, window, qtbot, tmp_path):
    dialog = window.start_rollout(plan_file(tmp_path, GATED))
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)
    dialog.reason.setText("release v3")
    with qtbot.waitSignal(dialog.sig_rollout_started, timeout=15_000):
        dialog.start_button.click()
    assert split(engine) == {"fraud-v3": 10, "fraud-v1": 90}
    text = strip_says(window, qtbot, "step 1 of 2")
    assert "fraud-v3 over fraud-v1" in text and "[10% (gate)]" in text
    strip = window.endpoint_view.rollout_strip
    assert not strip.start_button.isVisible()
    # the charts mark the step
    charts = window.endpoint_view.charts
    qtbot.waitUntil(lambda: any("step 1: 10% → fraud-v3" in m.label.format for m in charts.latency.markers),
                    timeout=10_000)

    said = confirm(window, qtbot, "pause", "checking dashboards")
    assert "The split stays fraud-v1 90%, fraud-v3 10%" in said
    text = strip_says(window, qtbot, "paused by hand")
    assert "checking dashboards" in text
    assert strip.buttons["resume"].isEnabled() and not strip.buttons["approve"].isEnabled()
    assert not strip.buttons["pause"].isEnabled()
    confirm(window, qtbot, "resume")
    strip_says(window, qtbot, "waiting for approval at step 1 of 2")
    assert "pass" in strip.analysis.text()
    assert strip.buttons["approve"].isEnabled() and not strip.buttons["resume"].isEnabled()
    said = confirm(window, qtbot, "approve", "looks good")
    assert "The next step sets the split to fraud-v3 100%" in said
    strip_says(window, qtbot, "succeeded")
    assert split(engine) == {"fraud-v3": 100}
    assert strip.start_button.isVisible() and not strip.buttons["abort"].isVisible()
    assert any(m.startswith("fraud: rollout") and "started: progressing at step 1 of 2" in m for m in messages(window))


def test_abort_says_what_it_does_and_puts_the_split_on_the_baseline(engine, window, qtbot, tmp_path):
    dialog = window.start_rollout(plan_file(tmp_path, SLOW))
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=5000)
    with qtbot.waitSignal(dialog.sig_rollout_started, timeout=15_000):
        dialog.start_button.click()
    strip_says(window, qtbot, "progressing at step 1 of 3")
    # a second start is refused by the engine, in its words
    again = window.start_rollout(plan_file(tmp_path, SLOW))
    qtbot.waitUntil(lambda: again.start_button.isEnabled(), timeout=5000)
    again.start_button.click()
    qtbot.waitUntil(lambda: "the engine refused it" in again.problems.text(), timeout=10_000)
    assert "already has rollout" in again.problems.text()
    again.reject()
    said = confirm(window, qtbot, "abort", "wrong build")
    assert "The split becomes fraud-v1 100%. fraud-v3 keeps running with no live traffic" in said
    text = strip_says(window, qtbot, "aborted")
    assert "aborted by" in text and "wrong build" in text
    assert split(engine) == {"fraud-v1": 100}
    assert any("rollout" in m and "aborted" in m for m in messages(window))
