"""THE DRILL, through the console: demo traffic running, a fraud-v3 canary at 10% started from the
console's "Start rollout from plan…", latency injected into fraud-v3 (its spec re-applied with
DEMO_LATENCY_MS=300, a rolling replace), and the engine rolls back on its own within 10 s of the
breach becoming sustained. The console shows it: the rollout strip says rolled back, the charts
mark it and shade the failed analyses, a warning is reported; the audit log verifies; and the
release record exported from the console lists the rollback."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import datetime

import pytest
import yaml

from tests.gui.release_window import demo_traffic, messages, release_window, show_endpoint
from tests.harness import DEMO, running_demo

pytestmark = [pytest.mark.integration, pytest.mark.gui]
V1, V3 = "fraud-v1", "fraud-v3"
DRILL = (DEMO.parent / "drill.yaml").read_text()


def _time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_the_drill_from_the_console(tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    plan = tmp_path / "drill.yaml"
    plan.write_text(DRILL)
    with running_demo(tmp_path / "engine") as engine, demo_traffic(engine.state_dir, rps=50), \
            release_window(engine.state_dir, tmp_path, qtbot) as window:
        show_endpoint(window, qtbot)
        strip, charts = window.endpoint_view.rollout_strip, window.endpoint_view.charts

        # the canary at 10%, started from the console
        dialog = window.start_rollout(str(plan))
        qtbot.waitUntil(dialog.start_button.isEnabled, timeout=5000)
        assert "p95 ≤ 100 ms" in dialog.preview.toPlainText()  # the endpoint's SLO as thresholds
        dialog.reason.setText("drill")
        with qtbot.waitSignal(dialog.sig_rollout_started, timeout=15_000) as started:
            dialog.start_button.click()
        rid = started.args[0]["id"]
        with engine.client("drill@test") as client:
            assert client.endpoint("fraud")["traffic"] == {V3: 10, V1: 90}
        qtbot.waitUntil(lambda: "progressing at step 1 of 4" in strip.text() and ": pass" in strip.text(),
                        timeout=60_000)

        # latency injected into fraud-v3
        docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d]
        (v3,) = [d for d in docs if d.get("name") == V3]
        v3["env"]["DEMO_LATENCY_MS"] = "300"
        with engine.client("drill@test") as client:
            client.apply_yaml(yaml.safe_dump(v3), DEMO.parent)

        # the engine rolls back on its own; the console shows it
        qtbot.waitUntil(lambda: "rolled-back" in strip.text(), timeout=90_000)
        text = strip.text()
        assert "rolled back: 2 consecutive failed analyses" in text and "100% back to fraud-v1" in text
        assert ": fail" in text and "> 100 ms" in text
        assert not strip.buttons["abort"].isVisible() and strip.start_button.isVisible()
        charts.set_window(300)
        qtbot.waitUntil(lambda: any(m.label.format == f"ROLLED BACK: 100% → {V1}" for m in charts.latency.markers),
                        timeout=10_000)
        assert charts.latency.spans, "the failed analyses are shaded"
        assert any(f"fraud: rollout {rid} rolled back" in m for m in messages(window))
        qtbot.waitUntil(lambda: window.endpoint_view.endpoint is not None
                        and window.endpoint_view.endpoint.traffic == {V1: 100}, timeout=10_000)

        with engine.client("drill@test") as client:
            audit = client.request("GET", "/v1/audit")
            revisions = client.request("GET", "/v1/endpoints/fraud/revisions")
            verdict = client.request("GET", "/v1/audit/verify")
        ours = [e for e in audit if isinstance(e["after"], dict) and e["after"].get("rollout") == rid]
        first_fail = next(e for e in ours if e["action"] == "rollout.analysis" and e["outcome"] == "fail")
        (revision,) = [r for r in revisions if r["actor"] == f"rollout:{rid}" and r["traffic"] == {V1: 100}]
        seconds = _time(revision["time"]) - _time(first_fail["time"])
        print(f"\nconsole drill: first failed analysis -> rollback revision {revision['number']}: {seconds:.2f} s")
        assert 0 <= seconds < 10
        assert verdict["ok"] is True

        # the release record, from the console, lists it
        record = window.release_record(window.place_id, "fraud")
        record.since.setText("15m")
        record.load()
        qtbot.waitUntil(lambda: record.record is not None, timeout=15_000)
        markdown = record.text()
        assert f"### Revision {revision['number']} · " in markdown and f"rollout:{rid}" in markdown
        assert "| rollout.rollback |" in markdown and "2 consecutive failed analyses" in markdown
        record.format_box.setCurrentIndex(1)
        body = json.loads(record.text())
        assert any(c["revision"] == revision["number"] and c["after"]["traffic"] == {V1: 100}
                   for c in body["changes"])
        assert any(e["action"] == "rollout.rollback" for e in body["events"])
        path = tmp_path / "drill-record.json"
        with qtbot.waitSignal(record.sig_record_saved, timeout=10_000):
            record.save_to(str(path))
        assert json.loads(path.read_text()) == body
        record.reject()
