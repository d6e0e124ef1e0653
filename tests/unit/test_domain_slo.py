"""SLO judgement: window figures, minimum traffic, hysteresis, the transitions and their texts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.domain.models import Slo
from console.domain.slo import (
    DEFAULT_MIN_REQUESTS,
    Breach,
    DeploymentSlo,
    FigureState,
    judge,
    slo_text,
    step,
    weighted_percentile,
    window_figures,
)
from console.domain.telemetry import Sample

SLO = Slo(percentile="p95", latency_ms=250, error_rate_percent=1, window_s=60)
WHO = {"place_id": "engine-1", "endpoint": "fraud", "deployment": "fraud-v3"}


def sample(t: float, p95: float | None = 20.0, requests: float | None = 10, errors: float | None = 0,
           mirror: bool = False, p99: float | None = None) -> Sample:
    latency = {"p50": None if p95 is None else p95 / 2, "p95": p95, "p99": p99 if p99 is not None else p95}
    return Sample(time=t, endpoint="fraud", deployment="fraud-v3", requests=requests, errors_4xx=0,
                  errors_5xx=errors, latency_ms=latency, mirror=mirror)


def seconds(first: int, last: int, **kw: float | None) -> list[Sample]:
    return [sample(t, **kw) for t in range(first, last + 1)]  # type: ignore[arg-type]


def run(samples: list[Sample], times: list[float], slo: Slo | None = SLO,
        state: DeploymentSlo | None = None, **kw: int) -> tuple[DeploymentSlo, list[tuple[float, str, Breach]]]:
    """Step at each of `times`, seeing the samples up to then; every transition with its time."""
    state = state or DeploymentSlo()
    seen = []
    for now in times:
        state, events = step(state, slo, [s for s in samples if s.time <= now], now, **WHO, **kw)
        seen += [(now, kind, b) for kind, b in events]
    return state, seen


# ---------------------------------------------------------------- the weighted percentile

def test_weighted_percentile_of_nothing_is_none() -> None:
    assert weighted_percentile([], 0.95) is None
    assert weighted_percentile([(5.0, 0.0)], 0.95) is None


def test_weighted_percentile_weighs_values_by_their_requests() -> None:
    assert weighted_percentile([(10.0, 1)], 0.95) == 10.0
    # 94 requests at 10 ms and 6 at 500 ms: more than 5% are slow, so p95 is slow
    assert weighted_percentile([(10.0, 94), (500.0, 6)], 0.95) == 500.0
    # 96 and 4: fewer than 5% slow
    assert weighted_percentile([(10.0, 96), (500.0, 4)], 0.95) == 10.0
    assert weighted_percentile([(500.0, 4), (10.0, 96), (7.0, 0)], 0.99) == 500.0


@given(st.lists(st.tuples(st.floats(0.1, 1e5), st.integers(1, 50)), min_size=1, max_size=40),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_weighted_percentile_equals_the_percentile_of_the_requests_it_stands_for(
        pairs: list[tuple[float, int]], q: float) -> None:
    expanded = np.repeat([v for v, _ in pairs], [w for _, w in pairs])
    assert weighted_percentile(pairs, q) == np.percentile(expanded, q * 100, method="inverted_cdf")


# ---------------------------------------------------------------- window figures

def test_the_window_is_the_last_window_s_seconds_up_to_now() -> None:
    samples = [sample(100, p95=900, requests=1000), *seconds(101, 160, p95=20.0)]
    figures = window_figures(SLO, samples, now=160)
    assert figures.requests == 600  # second 100 is outside (100, 160]
    assert figures.latency_ms == 20.0
    assert window_figures(SLO, samples, now=159).latency_ms == 900  # now 159: second 100 is inside


def test_error_rate_is_5xx_over_requests_and_ignores_mirror_samples() -> None:
    samples = [*seconds(1, 60, errors=0), sample(30, errors=30), sample(31, requests=500, errors=500, mirror=True)]
    figures = window_figures(SLO, samples, now=60)
    assert figures.requests == 610
    assert figures.error_rate_percent == pytest.approx(100 * 30 / 610)


def test_a_source_without_error_counts_gives_no_error_rate() -> None:
    figures = window_figures(SLO, seconds(1, 60, errors=None), now=60)
    assert figures.error_rate_percent is None
    assert [j.status for j in judge(SLO, seconds(1, 60, errors=None), 60)] == ["within", "unknown"]


def test_seconds_without_requests_or_latency_do_not_weigh_on_the_percentile() -> None:
    samples = seconds(1, 30, p95=20.0) + seconds(31, 60, p95=None, requests=0) + [sample(61, p95=999, requests=None)]
    assert window_figures(SLO, samples, now=61).latency_ms == 20.0


def test_the_chosen_percentile_is_read() -> None:
    p99 = Slo(percentile="p99", latency_ms=100, window_s=60)
    samples = seconds(1, 60, p95=20.0, p99=300.0)
    assert window_figures(p99, samples, 60).latency_ms == 300.0
    assert [(j.figure, j.status) for j in judge(p99, samples, 60)] == [("p99", "over")]


def test_a_burst_of_slow_seconds_shows_through_when_it_carries_enough_requests() -> None:
    steady = seconds(1, 60, p95=20.0)
    burst = seconds(1, 56, p95=20.0) + seconds(57, 60, p95=400.0)  # 4 of 60 s: 6.7% of the requests
    blip = seconds(1, 58, p95=20.0) + seconds(59, 60, p95=400.0)  # 2 of 60 s: 3.3%
    assert window_figures(SLO, steady, 60).latency_ms == 20.0
    assert window_figures(SLO, burst, 60).latency_ms == 400.0
    assert window_figures(SLO, blip, 60).latency_ms == 20.0


# ---------------------------------------------------------------- judging

def test_too_little_traffic_is_not_judged() -> None:
    # one failed request of two: 50% errors and slow, but not an incident
    samples = [sample(59, p95=900, requests=1, errors=1), sample(60, p95=900, requests=1, errors=0)]
    assert {j.status for j in judge(SLO, samples, 60)} == {"unknown"}
    _, seen = run(samples, [60])
    assert seen == []
    enough = seconds(41, 60, p95=900, requests=1, errors=1)  # DEFAULT_MIN_REQUESTS requests
    assert len(enough) == DEFAULT_MIN_REQUESTS
    assert {j.status for j in judge(SLO, enough, 60)} == {"over"}
    assert {j.status for j in judge(SLO, enough, 60, min_requests=21)} == {"unknown"}


def test_at_the_threshold_is_within_and_unset_thresholds_are_not_judged() -> None:
    samples = seconds(1, 60, p95=250.0)
    assert [(j.figure, j.status) for j in judge(SLO, samples, 60)] == [("p95", "within"), ("errors", "within")]
    latency_only = Slo(latency_ms=100)
    assert [j.figure for j in judge(latency_only, samples, 60)] == ["p95"]
    assert judge(Slo(), samples, 60) == []


# ---------------------------------------------------------------- transitions

def test_a_breach_starts_once_and_names_endpoint_deployment_figure_and_threshold() -> None:
    samples = seconds(1, 120, p95=412.0)
    state, seen = run(samples, [float(t) for t in range(60, 121)])
    assert [(t, kind) for t, kind, _ in seen] == [(60, "started")]
    breach = seen[0][2]
    assert breach == Breach("engine-1", "fraud", "fraud-v3", "p95", 412.0, 250.0, 60,
                            "fraud / fraud-v3: p95 412 ms over 60 s > SLO 250 ms", 60.0)
    assert state.active() == [breach]


def test_an_error_breach_names_the_error_rate() -> None:
    samples = seconds(1, 60, errors=0.5)  # 5% of 10 requests a second
    _, seen = run(samples, [60])
    assert [b.text for _, _, b in seen] == ["fraud / fraud-v3: 5xx errors 5% over 60 s > SLO 1%"]
    assert (seen[0][2].figure, seen[0][2].value) == ("errors", 5.0)


def test_latency_and_errors_are_separate_breaches() -> None:
    _, seen = run(seconds(1, 60, p95=300.0, errors=2), [60])
    assert sorted(b.figure for _, _, b in seen) == ["errors", "p95"]


def test_it_clears_only_after_a_whole_window_back_within() -> None:
    slow, fast = seconds(1, 60, p95=412.0), seconds(61, 300, p95=20.0)
    _, seen = run(slow + fast, [float(t) for t in range(60, 301)])
    # within from 117 on (the slow seconds 58-60 carry 5% of the window's requests, not more)
    assert [(t, kind) for t, kind, _ in seen] == [(60, "started"), (177, "cleared")]
    cleared = seen[1][2]
    assert cleared.text == "fraud / fraud-v3: p95 back within SLO 250 ms (20 ms over 60 s)"
    assert (cleared.figure, cleared.value, cleared.deployment) == ("p95", 20.0, "fraud-v3")


def test_it_does_not_flap_around_the_threshold() -> None:
    # alternating ten seconds over, ten seconds under: one breach, never cleared
    samples = [sample(t, p95=400.0 if (t // 10) % 2 else 20.0) for t in range(1, 400)]
    _, seen = run(samples, [float(t) for t in range(60, 400)])
    assert [kind for _, kind, _ in seen] == ["started"]


def test_going_over_again_restarts_the_clearing_window() -> None:
    samples = seconds(1, 60, p95=400.0) + seconds(61, 150, p95=20.0) + seconds(151, 160, p95=400.0) + \
        seconds(161, 400, p95=20.0)
    _, seen = run(samples, [float(t) for t in range(60, 400)])
    assert [(t, kind) for t, kind, _ in seen] == [(60, "started"), (277, "cleared")]


def test_no_traffic_for_a_window_clears_saying_why() -> None:
    samples = seconds(1, 60, p95=412.0) + seconds(61, 200, p95=None, requests=0)
    _, seen = run(samples, [float(t) for t in range(60, 200)])
    assert [(t, kind) for t, kind, _ in seen] == [(60, "started"), (179, "cleared")]
    assert seen[1][2].text == ("fraud / fraud-v3: p95 no longer judged: 0 requests over 60 s, fewer than 20 "
                               "(was 412 ms > SLO 250 ms)")


def test_removing_the_slo_or_changing_its_percentile_clears_at_once() -> None:
    samples = seconds(1, 60, p95=412.0, p99=412.0)
    state, _ = run(samples, [60])
    _, events = step(state, None, samples, 61, **WHO)
    assert [(k, b.text) for k, b in events] == [
        ("cleared", "fraud / fraud-v3: p95 SLO removed (was 412 ms > SLO 250 ms)")]
    p99 = Slo(percentile="p99", latency_ms=500, window_s=60)
    _, events = step(state, p99, samples, 61, **WHO)
    assert [(k, b.figure) for k, b in events] == [("cleared", "p95")]


def test_step_leaves_the_old_state_as_it_was() -> None:
    state = DeploymentSlo()
    new, _ = step(state, SLO, seconds(1, 60, p95=412.0), 60, **WHO)
    assert state.figures == {}
    assert set(new.figures) == {"p95", "errors"}
    assert new.figures["errors"] == FigureState()


def test_slo_text() -> None:
    assert slo_text(SLO) == "p95 ≤ 250 ms, 5xx errors ≤ 1% over 60 s"
    assert slo_text(Slo(percentile="p99", latency_ms=12.5, window_s=30)) == "p99 ≤ 12.5 ms over 30 s"
    assert slo_text(Slo(error_rate_percent=0.5)) == "5xx errors ≤ 0.5% over 60 s"
    assert slo_text(None) == "no SLO"
