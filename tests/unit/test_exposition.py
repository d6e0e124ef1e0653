"""Recorded expositions (tests/data/expositions, two scrapes per server, written from each
server's documented metric names and shapes): each server is recognised and its figures
over the interval are the ones derived by hand from the bucket and counter differences."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from console.backends.exposition import ExpositionError, Scrape, parse
from console.backends.recognisers import figures, recognise
from console.backends.serving import samples_from
from console.domain.telemetry import Sample

DATA = Path(__file__).resolve().parent.parent / "data" / "expositions"
T0 = 1_700_000_000.0
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def scrapes(server: str, edit: tuple[str, str] | None = None) -> tuple[Scrape, Scrape]:
    texts = [(DATA / f"{server}-{n}.prom").read_text() for n in (1, 2)]
    if edit:
        texts = [t.replace(*edit) for t in texts]
    return parse(texts[0], T0), parse(texts[1], T0 + 5.0)


def samples(server: str, models: tuple[str, ...] = (), **kw: str) -> dict[str, Sample]:
    before, after = scrapes(server)
    found = samples_from(figures(before, after, kw.get("histogram")), after.time, 5.0, models, "host:8000")
    return {s.endpoint: s for s in found}


@pytest.mark.parametrize(("server", "expected"), [
    ("vllm", ("vllm",)), ("tgi", ("tgi",)), ("triton", ("triton",)), ("dcgm", ("dcgm",)),
    ("mlserver", ("mlserver",)),
])
def test_each_server_is_recognised_by_its_metric_names(server: str, expected: tuple[str, ...]) -> None:
    assert recognise(scrapes(server)[1]) == expected


def test_vllm_latency_ttft_inter_token_kv_cache_and_queue_per_model() -> None:
    s = samples("vllm")[LLAMA]
    assert s.interval_s == 5.0 and s.deployment == LLAMA
    assert s.requests == 100  # e2e histogram count: 300 - 200
    # 50 in (0.5, 0.8], 40 in (0.8, 1.0], 10 in (1.0, 1.5] s
    assert s.latency_ms == pytest.approx({"p50": 800.0, "p90": 1000.0, "p95": 1250.0, "p99": 1450.0})
    assert s.latency_mean_ms == pytest.approx(920.0)  # (252 - 160) s / 100
    # 20 in (20, 40], 60 in (40, 60], 20 in (60, 80] ms
    assert s.ttft_ms == pytest.approx({"p50": 50.0, "p90": 70.0, "p95": 75.0, "p99": 79.0})
    # 500 in (10, 25], 500 in (25, 50] ms
    assert s.inter_token_ms == pytest.approx({"p50": 25.0, "p90": 45.0, "p95": 47.5, "p99": 49.5})
    assert (s.requests_running, s.requests_waiting) == (7.0, 3.0)
    assert s.kv_cache_percent == pytest.approx(42.0)
    assert s.errors_5xx is None  # vLLM counts no failed requests per model
    assert s.per_host == () and s.gpus is None


def test_older_vllm_names_gpu_cache_usage_and_time_per_output_token() -> None:
    before, after = scrapes("vllm", ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"))
    assert figures(before, after).models[LLAMA]["kv_cache_percent"] == pytest.approx(42.0)
    before, after = scrapes("vllm", ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"))
    assert figures(before, after).models[LLAMA]["inter_token_ms"]["p50"] == pytest.approx(25.0)


def tgi_bounds() -> list[float]:
    """TGI's duration buckets: 35 of them, from 0.0001 s, each 1.5 times the previous."""
    bounds, value = [], 0.0001
    for _ in range(35):
        value *= 1.5
        bounds.append(value)
    return bounds


def test_tgi_figures_are_per_host_and_errors_split_by_the_status_tgi_answers() -> None:
    s = samples("tgi", models=("bigscience/bloom-560m",))["bigscience/bloom-560m"]
    b = tgi_bounds()
    # 40 observations in (b[22], b[23]], 10 in (b[24], b[25]]
    assert s.latency_ms == pytest.approx({
        "p50": 1000 * (b[22] + (b[23] - b[22]) * 25 / 40), "p90": 1000 * (b[24] + (b[25] - b[24]) * 0.5),
        "p95": 1000 * (b[24] + (b[25] - b[24]) * 0.75), "p99": 1000 * (b[24] + (b[25] - b[24]) * 0.95)})
    assert s.requests == 52  # tgi_request_count: 452 - 400 (failures included)
    assert (s.errors_4xx, s.errors_5xx) == (1.0, 1.0)  # validation (422) and incomplete_generation (500)
    assert s.latency_mean_ms == pytest.approx(1500.0)  # (675 - 600) s / 50
    assert (s.requests_waiting, s.requests_running) == (5.0, 12.0)
    assert set(s.per_host) == {"latency_ms", "latency_mean_ms", "requests", "errors_4xx", "errors_5xx",
                               "requests_waiting", "requests_running"}


def test_tgi_without_a_model_listing_is_charted_under_the_host_name() -> None:
    assert list(samples("tgi")) == ["host:8000"]


def test_triton_requests_errors_and_mean_latency_per_model_and_gpus_per_host() -> None:
    found = samples("triton")
    dense, bert = found["densenet_onnx"], found["bert"]
    assert (dense.requests, dense.errors_5xx) == (102.0, 2.0)  # 100 succeeded, 2 failed (BACKEND)
    assert dense.latency_mean_ms == pytest.approx(12.5)  # 1,250,000 µs / 100 successes
    assert dense.queue_mean_ms == pytest.approx(0.8)  # 80,000 µs / 100
    assert (bert.requests, bert.errors_5xx) == (50.0, 0.0)
    assert (bert.latency_mean_ms, bert.queue_mean_ms) == pytest.approx((40.0, 2.0))
    assert dense.latency_ms == {}  # Triton's counters give a mean, not percentiles
    assert dense.per_host == ("gpus",)
    gpus = dense.gpus or ()
    assert [(g.index, g.name) for g in gpus] == [(0, "GPU-a1b2c3d4-0000-1111-2222-333344445555"),
                                                 (1, "GPU-f6e5d4c3-9999-8888-7777-666655554444")]
    assert [g.utilization_percent for g in gpus] == pytest.approx([68.0, 15.0])
    assert [g.memory_used_bytes for g in gpus] == [4_831_838_208, 1_610_612_736]
    assert [g.memory_total_bytes for g in gpus] == [16_945_512_448] * 2


def test_dcgm_gpus_in_bytes_with_their_host_and_model() -> None:
    s = samples("dcgm")["host:8000"]  # an exporter serves no model: one sample for the host
    assert s.per_host == ("gpus",) and s.requests is None
    gpus = s.gpus or ()
    assert [(g.index, g.name, g.host) for g in gpus] == [(0, "NVIDIA A10G", "gpu-node-1"),
                                                         (1, "NVIDIA A10G", "gpu-node-1")]
    assert [g.utilization_percent for g in gpus] == [87.0, 12.0]
    mib = 1024 * 1024
    assert [g.memory_used_bytes for g in gpus] == [18000 * mib, 1024 * mib]
    assert [g.memory_total_bytes for g in gpus] == [23028 * mib] * 2  # used + free + reserved


def test_dcgm_engine_activity_stands_in_for_a_missing_utilisation() -> None:
    before, after = scrapes("dcgm", ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_UTIL_NOT_EXPORTED"))
    gpus = figures(before, after).host["gpus"]
    assert [g.utilization_percent for g in gpus] == pytest.approx([91.0, 10.0])  # GR_ENGINE_ACTIVE 0.91, 0.1


def test_mlserver_latency_percentiles_per_host_and_counts_per_model() -> None:
    found = samples("mlserver", models=("iris", "income"))
    iris, income = found["iris"], found["income"]
    # Inference routes (any status) over the interval: 33 ≤ 5 ms, 20 in (5, 10], 10 in (10, 25]
    expected = {"p50": 5 * 31.5 / 33, "p90": 10 + 15 * 3.7 / 10, "p95": 10 + 15 * 6.85 / 10,
                "p99": 10 + 15 * 9.37 / 10}
    assert iris.latency_ms == pytest.approx(expected) and income.latency_ms == pytest.approx(expected)
    assert (iris.requests, iris.errors_5xx, iris.latency_mean_ms) == pytest.approx((42.0, 2.0, 6.0))
    assert (income.requests, income.errors_5xx, income.latency_mean_ms) == pytest.approx((18.0, 0.0, 8.0))
    assert iris.errors_4xx == 3.0  # rejected before reaching a model: per host
    assert set(iris.per_host) == {"latency_ms", "errors_4xx"}


def test_an_unknown_server_charts_the_histogram_the_person_chose() -> None:
    text = ("# TYPE app_latency_seconds histogram\n"
            'app_latency_seconds_bucket{model_name="m1",le="0.1"} %d\n'
            'app_latency_seconds_bucket{model_name="m1",le="0.2"} %d\n'
            'app_latency_seconds_bucket{model_name="m1",le="+Inf"} %d\n'
            'app_latency_seconds_count{model_name="m1"} %d\n'
            'app_latency_seconds_sum{model_name="m1"} 1.0\n')
    before, after = parse(text % (5, 5, 5, 5), T0), parse(text % (15, 25, 25, 25), T0 + 5)
    assert recognise(after) == ()
    assert after.histogram_families() == ["app_latency_seconds"]
    s = samples_from(figures(before, after, "app_latency_seconds"), after.time, 5.0, (), "h")[0]
    assert s.endpoint == "m1" and s.requests == 20
    assert s.latency_ms == pytest.approx({"p50": 100.0, "p90": 180.0, "p95": 190.0, "p99": 198.0})


def test_a_restarted_server_counts_from_zero() -> None:
    _before, after = scrapes("triton")
    restarted = parse((DATA / "triton-1.prom").read_text().replace("nv_inference_request_success{model=\"bert\","
                                                                    "version=\"2\"} 400",
                                                                    "nv_inference_request_success{model=\"bert\","
                                                                    "version=\"2\"} 7"), T0 + 10)
    assert figures(after, restarted).models["bert"]["requests"] == 7  # 450 → 7: a reset, not -443


def test_missing_metrics_leave_figures_out_rather_than_invent_them() -> None:
    text = (DATA / "vllm-2.prom").read_text()
    kept = "\n".join(line for line in text.splitlines() if "e2e_request_latency" not in line) + "\n"
    s = samples_from(figures(parse(kept, T0), parse(kept, T0 + 5)), T0 + 5, 5.0, (), "h")[0]
    assert s.latency_ms == {} and s.requests is None and s.latency_mean_ms is None
    assert s.requests_running == 7.0  # what is there is still shown


def test_nan_and_infinite_values_give_no_figure() -> None:
    before, after = scrapes("vllm", ('vllm:num_requests_waiting{engine="0",model_name="' + LLAMA + '"} 3.0',
                                     'vllm:num_requests_waiting{engine="0",model_name="' + LLAMA + '"} NaN'))
    model = figures(before, after).models[LLAMA]
    assert "requests_waiting" not in model and model["requests_running"] == 7.0
    text = (DATA / "vllm-2.prom").read_text().replace(
        f'vllm:e2e_request_latency_seconds_bucket{{engine="0",model_name="{LLAMA}",le="+Inf"}} 300.0',
        f'vllm:e2e_request_latency_seconds_bucket{{engine="0",model_name="{LLAMA}",le="+Inf"}} +Inf')
    model = figures(scrapes("vllm")[0], parse(text, T0 + 5)).models[LLAMA]
    assert "latency_ms" not in model
    assert math.isinf(parse(text, T0).samples["vllm:e2e_request_latency_seconds_bucket"][-1][1])


def test_a_malformed_exposition_names_its_line() -> None:
    text = (DATA / "tgi-1.prom").read_text().splitlines()
    text[5] = 'tgi_request_failure{err="validation" 8'  # the closing brace is missing
    with pytest.raises(ExpositionError, match=r'line 6: .*tgi_request_failure\{err="validation" 8') as caught:
        parse("\n".join(text), T0)
    assert caught.value.line == 6
    with pytest.raises(ExpositionError, match=r"line 2: .*not a number"):
        parse("# TYPE x gauge\nx not a number\n", T0)
