"""Synthetic telemetry for the chart tests: batches at simulated times, a settable clock."""

from __future__ import annotations

from console.domain.models import EndpointStatus, Slo
from console.domain.telemetry import GpuFigure, Sample, TelemetryBatch
from console.ui.plots.panel import ChartsPanel
from tests.gui import factories

T0 = 1_750_000_000.0
PLACE = "local"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sample(t: float, deployment: str, requests: float = 10, p95: float = 20.0, gpus=None, **kw) -> Sample:
    fields = {"latency_ms": {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.5}, "errors_4xx": 1, "errors_5xx": 0,
              "cpu_percent": 30.0, "rss_bytes": 2e8} | kw
    return Sample(time=t, endpoint="fraud", deployment=deployment, requests=requests, gpus=gpus, **fields)


def batch(t: float, samples: tuple[Sample, ...], **kw) -> TelemetryBatch:
    return TelemetryBatch(place_id=PLACE, read_at=t, samples=samples, **kw)


def feed(panel: ChartsPanel, start: float, end: float, p95: float = 20.0, **kw) -> None:
    """One batch a second for fraud-v1 (90%, p95 `p95`) and fraud-v2 (10%, p95 40 ms), times in (start, end]."""
    t = start + 1
    while t <= end:
        panel.add_batch(batch(t, (sample(t, "fraud-v1", 90, p95=p95, **kw),
                                  sample(t, "fraud-v2", 10, p95=40.0, **kw))))
        t += 1


def gpu(index: int, util: float) -> GpuFigure:
    return GpuFigure(index=index, utilization_percent=util, memory_used_bytes=4e9, memory_total_bytes=16e9)


def endpoint(slo: Slo | None = None) -> EndpointStatus:
    return factories.endpoint("fraud").model_copy(update={"slo": slo})


def make_panel(qtbot, clock: Clock, slo: Slo | None = None) -> ChartsPanel:
    panel = ChartsPanel(clock=clock, interval_ms=3_600_000)  # the tests drive redraws themselves
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitExposed(panel)
    panel.show_endpoint(PLACE, endpoint(slo))
    return panel
