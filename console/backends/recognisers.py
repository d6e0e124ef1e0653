"""Which serving software wrote an exposition (by its metric names), and what it says
about each model over the interval between two scrapes.

Each recogniser fills `Figures`: per-model values (keyed by the model name the server
labels them with) and per-host values (no model label: the whole host). Figure names are
the fields of console.domain.telemetry.Sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.backends.exposition import (
    Scrape,
    gauge_by,
    histogram_increase_by,
    increase_by,
    mean_ms,
    unit_scale,
)
from console.domain.histogram import observations, percentiles
from console.domain.telemetry import GpuFigure

MIB = 1024.0 * 1024.0


@dataclass
class Figures:
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)

    def put(self, name: str, values: Mapping[str, Any]) -> None:
        """`values` is group → value as the helpers return: "" is the host, others models."""
        for group, value in values.items():
            if value is None or value == {}:
                continue
            target = self.models.setdefault(group, {}) if group else self.host
            target[name] = value


def _latency(figures: Figures, previous: Scrape, current: Scrape, family: str, by: str | None,
             key: str = "latency_ms", count_requests: bool = True, where: Callable[..., bool] | None = None,
             ) -> None:
    """Percentiles (and, with `count_requests`, the request count) of one latency histogram."""
    scale = unit_scale(family)
    for group, buckets in histogram_increase_by(previous, current, family, by, where).items():
        if buckets is None:
            continue
        figures.put(key, {group: percentiles(buckets, scale)})
        if count_requests:
            figures.put("requests", {group: observations(buckets)})


# ---------------------------------------------------------------- vLLM


def vllm(figures: Figures, previous: Scrape, current: Scrape) -> None:
    by = "model_name"
    _latency(figures, previous, current, "vllm:e2e_request_latency_seconds", by)
    figures.put("latency_mean_ms", mean_ms(previous, current, "vllm:e2e_request_latency_seconds_sum",
                                           "vllm:e2e_request_latency_seconds_count", by, 1000.0))
    _latency(figures, previous, current, "vllm:time_to_first_token_seconds", by, "ttft_ms", False)
    itl = ("vllm:inter_token_latency_seconds" if current.has("vllm:inter_token_latency_seconds")
           else "vllm:time_per_output_token_seconds")
    _latency(figures, previous, current, itl, by, "inter_token_ms", False)
    figures.put("requests_running", gauge_by(current, "vllm:num_requests_running", by))
    figures.put("requests_waiting", gauge_by(current, "vllm:num_requests_waiting", by))
    kv = "vllm:kv_cache_usage_perc" if current.has("vllm:kv_cache_usage_perc") else "vllm:gpu_cache_usage_perc"
    usage = gauge_by(current, kv, by, mean=True)  # 0..1, averaged over engines
    figures.put("kv_cache_percent", {g: _times(v, 100.0) for g, v in usage.items()})


# ---------------------------------------------------------------- TGI (one model, no model label)

#: TGI's `err` label → the HTTP status class it answers with (422, 429, 424 are 4xx; 500 is 5xx)
TGI_5XX = frozenset({"incomplete_generation"})


def tgi(figures: Figures, previous: Scrape, current: Scrape) -> None:
    _latency(figures, previous, current, "tgi_request_duration", None, count_requests=False)
    counted = increase_by(previous, current, "tgi_request_count", None)
    if not counted:
        counted = {g: observations(b) for g, b in histogram_increase_by(
            previous, current, "tgi_request_duration", None).items() if b is not None}
    figures.put("requests", counted)
    if current.has("tgi_request_failure"):
        figures.put("errors_5xx", increase_by(previous, current, "tgi_request_failure", None,
                                              lambda labels: labels.get("err") in TGI_5XX) or {"": 0.0})
        figures.put("errors_4xx", increase_by(previous, current, "tgi_request_failure", None,
                                              lambda labels: labels.get("err") not in TGI_5XX) or {"": 0.0})
    figures.put("latency_mean_ms", mean_ms(previous, current, "tgi_request_duration_sum",
                                           "tgi_request_duration_count", None, 1000.0))
    figures.put("requests_waiting", gauge_by(current, "tgi_queue_size", None))
    figures.put("requests_running", gauge_by(current, "tgi_batch_current_size", None))


# ---------------------------------------------------------------- Triton


def triton(figures: Figures, previous: Scrape, current: Scrape) -> None:
    by = "model"
    ok = increase_by(previous, current, "nv_inference_request_success", by)
    failed = increase_by(previous, current, "nv_inference_request_failure", by)
    for model in set(ok) | set(failed):
        good, bad = ok.get(model), failed.get(model, 0.0)
        if good is not None and bad is not None:
            figures.put("requests", {model: good + bad})
            figures.put("errors_5xx", {model: bad})
    # Cumulative microseconds over successful requests: their mean over the interval.
    figures.put("latency_mean_ms", mean_ms(previous, current, "nv_inference_request_duration_us",
                                           "nv_inference_request_success", by, 0.001))
    figures.put("queue_mean_ms", mean_ms(previous, current, "nv_inference_queue_duration_us",
                                         "nv_inference_request_success", by, 0.001))
    if "gpus" not in figures.host and current.has("nv_gpu_utilization"):
        util = gauge_by(current, "nv_gpu_utilization", "gpu_uuid")
        used = gauge_by(current, "nv_gpu_memory_used_bytes", "gpu_uuid")
        total = gauge_by(current, "nv_gpu_memory_total_bytes", "gpu_uuid")
        figures.host["gpus"] = tuple(
            GpuFigure(index=i, name=uuid, utilization_percent=_times(util.get(uuid), 100.0),
                      memory_used_bytes=used.get(uuid), memory_total_bytes=total.get(uuid))
            for i, uuid in enumerate(sorted(set(util) | set(used) | set(total))))


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


# ---------------------------------------------------------------- DCGM exporter (GPUs only)


def dcgm(figures: Figures, previous: Scrape, current: Scrape) -> None:
    gpus: dict[str, dict[str, Any]] = {}
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_FB_USED",
                 "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED"):
        for labels, value in current.series(name):
            key = f"{labels.get('Hostname', '')}/{labels.get('gpu', labels.get('UUID', ''))}"
            gpu = gpus.setdefault(key, {"labels": labels})
            gpu[name] = value if value == value and abs(value) != float("inf") else None
    found: list[GpuFigure] = []
    for key in sorted(gpus, key=_natural):
        gpu = gpus[key]
        labels = gpu["labels"]
        util = gpu.get("DCGM_FI_DEV_GPU_UTIL")
        if util is None and gpu.get("DCGM_FI_PROF_GR_ENGINE_ACTIVE") is not None:
            util = gpu["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] * 100.0  # a 0..1 ratio
        used, free = gpu.get("DCGM_FI_DEV_FB_USED"), gpu.get("DCGM_FI_DEV_FB_FREE")
        total = None if used is None or free is None else (used + free + (gpu.get("DCGM_FI_DEV_FB_RESERVED") or 0))
        index = labels.get("gpu", "")
        found.append(GpuFigure(
            index=int(index) if index.isdigit() else len(found), name=labels.get("modelName", labels.get("UUID", "")),
            host=labels.get("Hostname", ""), utilization_percent=util,
            memory_used_bytes=None if used is None else used * MIB,
            memory_total_bytes=None if total is None else total * MIB))
    if found:
        figures.host["gpus"] = tuple(found)


def _natural(key: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


# ---------------------------------------------------------------- MLServer


def _infer_route(labels: Mapping[str, str]) -> bool:
    return labels.get("path", "").endswith("/infer")


def mlserver(figures: Figures, previous: Scrape, current: Scrape) -> None:
    by = "model"
    ok = increase_by(previous, current, "model_infer_request_success", by)
    failed = increase_by(previous, current, "model_infer_request_failure", by)
    for model in set(ok) | set(failed):
        good, bad = ok.get(model, 0.0), failed.get(model, 0.0)
        if good is not None and bad is not None:
            figures.put("requests", {model: good + bad})
            figures.put("errors_5xx", {model: bad})
    figures.put("latency_mean_ms", mean_ms(previous, current, "model_infer_request_duration_sum",
                                           "model_infer_request_duration_count", by, 1000.0))
    # The REST request histogram is labelled by route, not by model: percentiles per host.
    _latency(figures, previous, current, "rest_server_request_duration_seconds", None,
             count_requests=False, where=_infer_route)
    if current.has("rest_server_requests"):
        for key, first in (("errors_4xx", "4"), ("errors_5xx", "5")):
            figures.put(key, increase_by(previous, current, "rest_server_requests", None,
                                         _status_class(first)) or {"": 0.0})


def _status_class(first: str) -> Callable[[Mapping[str, str]], bool]:
    """Inference routes answered with a status starting with `first` ("4": 4xx)."""
    return lambda labels: _infer_route(labels) and labels.get("status_code", "").startswith(first)


# ---------------------------------------------------------------- KServe (Python model server)


def kserve(figures: Figures, previous: Scrape, current: Scrape) -> None:
    _latency(figures, previous, current, "request_predict_seconds", "model_name")


Recogniser = Callable[[Figures, Scrape, Scrape], None]

#: name → (is it this server?, what it says). DCGM comes before Triton: its GPU figures win.
RECOGNISERS: dict[str, tuple[Callable[[Scrape], bool], Recogniser]] = {
    "vllm": (lambda s: any(n.startswith("vllm:") for n in s.samples), vllm),
    "tgi": (lambda s: s.has("tgi_request_duration") or s.has("tgi_queue_size"), tgi),
    "dcgm": (lambda s: any(n.startswith("DCGM_FI_") for n in s.samples), dcgm),
    "triton": (lambda s: s.has("nv_inference_request_success") or s.has("nv_gpu_utilization"), triton),
    "mlserver": (lambda s: s.has("model_infer_request_success") or s.has("rest_server_request_duration_seconds"),
                 mlserver),
    "kserve": (lambda s: s.has("request_predict_seconds"), kserve),
}

LABELS = {"vllm": "vLLM", "tgi": "Hugging Face TGI", "dcgm": "NVIDIA DCGM exporter", "triton": "NVIDIA Triton",
          "mlserver": "MLServer", "kserve": "KServe model server"}

#: labels that name the model in a histogram the person chose
MODEL_LABELS = ("model_name", "model", "model_id")


def recognise(scrape: Scrape) -> tuple[str, ...]:
    """The servers whose metrics this exposition holds, e.g. ("dcgm", "triton")."""
    return tuple(name for name, (test, _fill) in RECOGNISERS.items() if test(scrape))


def figures(previous: Scrape, current: Scrape, chosen_histogram: str | None = None) -> Figures:
    """Everything the recognised servers say about the interval; a chosen histogram (for an
    unknown server, or to override) gives the latency percentiles and the request count."""
    found = Figures()
    for name in recognise(current):
        RECOGNISERS[name][1](found, previous, current)
    if chosen_histogram:
        labels = {k for series in current.samples.get(f"{chosen_histogram}_bucket", []) for k in series[0]}
        by = next((label for label in MODEL_LABELS if label in labels), None)
        _latency(found, previous, current, chosen_histogram, by)
    return found
