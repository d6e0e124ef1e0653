"""Telemetry as the console sees it, whatever the source: one `Sample` per deployment per
interval, as read from the local engine's stream, a serving host's /metrics, or Prometheus.

These are the shared shapes. Sources fill what they know and leave the rest None; a figure
that is per host rather than per model says so (`per_host`), so the charts can label it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PERCENTILES = ("p50", "p90", "p95", "p99")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GpuFigure(Frozen):
    """One GPU as a source reports it at one time."""

    index: int = Field(description="the GPU's index on its host, or its position in the exposition")
    name: str = ""
    host: str = Field(default="", description="where the GPU is (a node, a serving host); empty for the local engine")
    utilization_percent: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    deployment_memory_bytes: float | None = Field(
        default=None, description="memory on this GPU used by the sample's deployment's replicas, where known")


class Sample(Frozen):
    """What one deployment did over one interval ending at `time` (epoch seconds)."""

    time: float
    interval_s: float = Field(default=1.0, gt=0, description="the interval the counts cover")
    endpoint: str
    deployment: str
    mirror: bool = False
    requests: float | None = Field(default=None, description="requests in the interval (count, not rate)")
    errors_4xx: float | None = None
    errors_5xx: float | None = None
    latency_ms: dict[str, float | None] = Field(
        default_factory=dict, description="p50/p90/p95/p99 over the interval; a key may be missing or None")
    latency_mean_ms: float | None = Field(
        default=None, description="mean latency over the interval, where a source has only a sum and a count")
    queue_mean_ms: float | None = Field(default=None, description="mean time a request waited in the server's queue")
    ttft_ms: dict[str, float | None] = Field(
        default_factory=dict, description="LLM servers: time to first token, p50/p90/p95/p99 over the interval")
    inter_token_ms: dict[str, float | None] = Field(
        default_factory=dict, description="LLM servers: time between output tokens, p50/p90/p95/p99")
    in_flight: float | None = None
    replicas_ready: int | None = None
    replicas_desired: int | None = None
    cpu_percent: float | None = None
    rss_bytes: float | None = None
    gpus: tuple[GpuFigure, ...] | None = Field(
        default=None, description="None: the source knows of no GPU; () : it looked and found none")
    kv_cache_percent: float | None = None
    requests_running: float | None = None
    requests_waiting: float | None = None
    per_host: tuple[str, ...] = Field(
        default=(), description="names of the figures above that are for the whole host, not this deployment")

    @property
    def rate(self) -> float | None:
        return None if self.requests is None else self.requests / self.interval_s

    def error_rate(self) -> float | None:
        """Fraction of requests that failed with 5xx; None without requests."""
        if not self.requests or self.errors_5xx is None:
            return None
        return self.errors_5xx / self.requests


class TelemetryBatch(Frozen):
    """What one read of a place's telemetry returned. `gap_from`/`gap_to` (epoch seconds)
    name a span with no data (the stream was down), to be drawn as a gap."""

    place_id: str
    read_at: float
    samples: tuple[Sample, ...] = ()
    gap_from: float | None = None
    gap_to: float | None = None
    history: bool = Field(default=False, description="samples from the source's recent buffer, not live")
