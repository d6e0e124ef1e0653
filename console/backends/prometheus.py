"""A Prometheus server as a place: PromQL over HTTP (`/api/v1/query`, `/api/v1/query_range`).

Endpoints and deployments are label values (the place's PromMapping, console/backends/promql.py);
their figures come from rates of the requests counter and `histogram_quantile` over the
duration histogram's bucket rates. Connection, authentication and TLS are UrlBackend's.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from console.backends.base import (
    BackendError,
    Invalid,
    InventorySnapshot,
    ProbeResult,
    Unauthorized,
    Unreachable,
    error_from_response,
    redact_url,
    unreachable_from,
)
from console.backends.places import PlaceConfig, SecretLookup, UrlBackend
from console.backends.prometheus_results import inventory_from, samples_from
from console.backends.promql import PromMapping, choose_step
from console.domain.telemetry import TelemetryBatch

QUERY_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_CATCH_UP_S = 3600.0  # a later read fetches at most this much of what it missed
Series = dict[str, Any]  # {"metric": {label: value}, "value": [t, "v"]} or {..., "values": [[t, "v"], ...]}

# Prometheus's errorType → how the console names the failure.
_BAD_QUERY = {"bad_data": "refused the query", "execution": "could not run the query"}


class PrometheusBackend(UrlBackend):
    """A Prometheus server: inventory from label values, telemetry by polling (SupportsTelemetry)."""

    freshness_s = 30.0
    telemetry_period_s = 5.0

    def __init__(self, config: PlaceConfig, secret: SecretLookup | None = None,
                 timeout: httpx.Timeout | float = QUERY_TIMEOUT, transport: httpx.BaseTransport | None = None,
                 max_bytes: int = MAX_RESPONSE_BYTES, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, secret=secret, timeout=timeout, transport=transport)
        self.mapping = config.prometheus or PromMapping()
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()  # one request at a time on the shared client
        self._http: httpx.Client | None = None
        self._last_end: float | None = None  # the time of the last telemetry point returned

    # ------------------------------------------------------------ HTTP
    def _api(self, http: httpx.Client, path: str, params: dict[str, str]) -> Any:
        """`data` of a successful API answer; the exact failure otherwise."""
        where = redact_url(str(self.config.url).rstrip("/") + path)
        try:
            with http.stream("GET", path, params=params) as response:
                body = self._read(response, where)
        except httpx.HTTPError as exc:
            raise unreachable_from(exc, where) from exc
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        status = response.status_code
        if isinstance(payload, dict) and payload.get("status") == "error":
            raise api_error(status, payload, where, params.get("query"))
        if status >= 300:
            raise error_from_response(status, payload if isinstance(payload, dict) else body[:300].decode(
                "utf-8", "replace").strip(), where)
        if not (isinstance(payload, dict) and payload.get("status") == "success" and "data" in payload):
            kind = response.headers.get("content-type", "no content type")
            raise Unreachable(f"{where}: HTTP {status} but not a Prometheus API answer ({kind})", kind="protocol")
        return payload["data"]

    def _read(self, response: httpx.Response, where: str) -> bytes:
        """The body, refused past `max_bytes` (before reading it, where the length is announced)."""
        limit = f"{self.max_bytes / 2**20:g} MiB"
        too_big = Invalid(f"{where}: the answer is larger than {limit}: narrow the selector or the time span")
        if int(response.headers.get("content-length") or 0) > self.max_bytes:
            raise too_big
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def _call(self, path: str, params: dict[str, str]) -> Any:
        """One API call on the backend's client (made on first use, dropped after a 401 so the
        next call reads the secret again)."""
        with self._lock:
            if self._http is None:
                self._http = self._client()
            try:
                return self._api(self._http, path, params)
            except Unauthorized:
                self._http.close()
                self._http = None
                raise

    def query(self, promql: str, at: float | None = None) -> list[Series]:
        """An instant query: its vector's series (`value` = [time, "text"])."""
        params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
        return _result(self._call("/api/v1/query", params), "vector")

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """A range query: its matrix's series (`values` = [[time, "text"], ...])."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return _result(self._call("/api/v1/query_range", params), "matrix")

    # ------------------------------------------------------------ Backend
    def probe(self, secret_override: str | None = None) -> ProbeResult:
        """The health check, then the mapping: the server parses the selector and counts the
        series of the mapped metrics."""
        health = super().probe(secret_override)
        if not health.ok:
            return health
        try:
            with self._client(secret_override) as http:
                found = _result(self._api(http, "/api/v1/query", {"query": self.mapping.check_query()}), "vector")
        except BackendError as exc:
            return ProbeResult(False, str(exc), kind=getattr(exc, "kind", exc.__class__.__name__.lower()))
        counts = {s["metric"].get("__name__", ""): int(float(s["value"][1])) for s in found}
        m = self.mapping
        wanted = (f"{m.duration_metric}_bucket", m.requests_metric)
        missing = [name for name in wanted if not counts.get(name)]
        where = f" matching {m.selector}" if m.selector else ""
        if missing:
            text = (f"{health.message}; but no series of {' or '.join(missing)}{where}: check the metric names "
                    f"and the selector (or wait for the first scrape)")
            return ProbeResult(True, text, kind="no-series", detail={**health.detail, "series": counts})
        text = f"{health.message}; " + ", ".join(f"{counts[name]} series of {name}" for name in wanted) + where
        return ProbeResult(True, text, detail={**health.detail, "series": counts})

    def inventory(self) -> InventorySnapshot:
        read_at = self._clock()
        found = self.query(self.mapping.discovery_query())
        figures = {name: self.query(promql) for name, promql in self.mapping.inventory_queries().items()}
        endpoints, orphans = inventory_from(self.mapping, str(self.config.url), found, figures)
        return InventorySnapshot(self.place_id, read_at, endpoints, orphans)

    def telemetry(self, history_s: float = 0.0) -> TelemetryBatch:
        """The points since the last call, one per step and deployment. The first call reads
        `history_s` of the past (at most an hour) when asked; a later one catches up at most
        MAX_CATCH_UP_S and names what it skipped as a gap."""
        now = self._clock()
        period = self.telemetry_period_s
        end = math.floor(now / period) * period
        gap: tuple[float, float] | None = None
        if self._last_end is None:
            start = end - min(max(history_s, 0.0), MAX_CATCH_UP_S)
        else:
            start = self._last_end + period
            if end - start > MAX_CATCH_UP_S:
                gap = (self._last_end, end - MAX_CATCH_UP_S)
                start = end - MAX_CATCH_UP_S
        if start > end:
            return TelemetryBatch(place_id=self.place_id, read_at=now)
        step = choose_step(end - start, period)
        start = end - math.floor((end - start) / step) * step  # the last point falls on `end`
        results = {name: self.query_range(promql, start, end, step)
                   for name, promql in self.mapping.telemetry_queries(step).items()}
        samples = samples_from(self.mapping, results, step)
        history = self._last_end is None and history_s > 0
        self._last_end = end
        return TelemetryBatch(place_id=self.place_id, read_at=now, samples=samples, history=history,
                              gap_from=gap[0] if gap else None, gap_to=gap[1] if gap else None)

    def close(self) -> None:
        client, self._http = self._http, None
        if client is not None:
            client.close()

    def __enter__(self) -> PrometheusBackend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def api_error(status: int, payload: dict[str, Any], where: str, query: str | None) -> BackendError:
    """A Prometheus error answer (`status: error`, `errorType`, `error`) as a typed error with
    the server's exact words."""
    kind = str(payload.get("errorType") or "error")
    said = str(payload.get("error") or "").strip()
    if kind in _BAD_QUERY:
        return Invalid(f"{where}: Prometheus {_BAD_QUERY[kind]} ({kind}): {said}", detail=query)
    if status in (401, 403):
        return error_from_response(status, {"error": said}, where)
    if kind in ("timeout", "canceled"):
        return Unreachable(f"{where}: Prometheus gave up on the query ({kind}): {said}", kind="timeout")
    return Unreachable(f"{where}: Prometheus failed (HTTP {status}, {kind}): {said}", kind="protocol")


def _result(data: Any, kind: str) -> list[Series]:
    if not isinstance(data, dict) or data.get("resultType") != kind or not isinstance(data.get("result"), list):
        got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise Unreachable(f"Prometheus answered a {got} where a {kind} was expected", kind="protocol")
    return [s for s in data["result"] if isinstance(s, dict) and isinstance(s.get("metric"), dict)]
