"""A serving host as a place: vLLM, Hugging Face TGI, NVIDIA Triton, MLServer and other
KServe v2 servers, an NVIDIA DCGM exporter, or anything with a Prometheus /metrics.

Inventory: models from whichever listing the host answers (`/v1/models`, `/v2/models`,
`POST /v2/repository/index`, TGI's `/info`), readiness from the health routes and each
model's `/v2/models/NAME/ready` (console/backends/serving_models.py). Telemetry: /metrics
scraped each period and compared with the previous scrape (console/backends/recognisers.py).
Connection, authentication and TLS are UrlBackend's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from console.backends import recognisers
from console.backends.base import (
    BackendError,
    Invalid,
    InventorySnapshot,
    NotFound,
    ProbeResult,
    error_from_response,
    redact_url,
    unreachable_from,
)
from console.backends.exposition import MAX_EXPOSITION_BYTES, ExpositionError, Scrape, parse
from console.backends.places import PlaceConfig, SecretLookup, UrlBackend
from console.backends.serving_models import Answer, ListedModel, collapse, endpoint_of, models_from, state_of
from console.domain.models import DeploymentState
from console.domain.telemetry import Sample, TelemetryBatch

SERVING_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_JSON_BYTES = 4 * 1024 * 1024
#: (style, method, path) tried in order; the first that answers 2xx is the host's listing
LISTINGS = (("openai", "GET", "/v1/models"), ("v2", "GET", "/v2/models"),
            ("index", "POST", "/v2/repository/index"), ("tgi-info", "GET", "/info"))
HEALTH_ROUTES = ("/health", "/v2/health/ready", "/ready")
#: answers that mean "this host has no such route" (try the next one)
NO_ROUTE = frozenset({400, 404, 405, 501})
#: the Sample fields a figure may fill
SAMPLE_FIELDS = frozenset(Sample.model_fields) - {"time", "interval_s", "endpoint", "deployment", "per_host"}


class ServingBackend(UrlBackend):
    """A serving host: inventory from its model listing and health routes, telemetry from
    its /metrics (SupportsTelemetry)."""

    freshness_s = 30.0
    telemetry_period_s = 5.0

    def __init__(self, config: PlaceConfig, secret: SecretLookup | None = None,
                 timeout: httpx.Timeout | float = SERVING_TIMEOUT, transport: httpx.BaseTransport | None = None,
                 max_bytes: int = MAX_EXPOSITION_BYTES, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, secret=secret, timeout=timeout, transport=transport)
        self.base_url = str(config.url).rstrip("/")
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()  # guards the scrape state and the shared clients
        self._http: httpx.Client | None = None
        self._plain: httpx.Client | None = None  # /metrics on another host: no credentials sent there
        self._previous: Scrape | None = None
        self._failed_at: float | None = None  # first failed scrape since the last good one
        self._models: tuple[str, ...] | None = None  # names from the last listing
        self._seen: dict[str, datetime] = {}

    # ------------------------------------------------------------ HTTP
    def _client_for(self, url: str, secret_override: str | None = None) -> httpx.Client:
        if secret_override is not None:
            return self._client(secret_override)
        with self._lock:
            if urlsplit(url).hostname not in (None, urlsplit(self.base_url).hostname):
                if self._plain is None:
                    self._plain = httpx.Client(timeout=self._timeout, verify=self.config.verify_tls,
                                               trust_env=False, transport=self._transport)
                return self._plain
            if self._http is None:
                self._http = self._client()
            return self._http

    def _fetch(self, method: str, path: str, limit: int, secret_override: str | None = None,
               body: Any = None) -> tuple[int, bytes, str]:
        """(status, body, URL) of one request; the body is read up to `limit` bytes."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        http = self._client_for(url, secret_override)
        try:
            with http.stream(method, url, json=body) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise Invalid(f"{redact_url(url)}: the answer is {int(declared):,} bytes, more than the "
                                  f"{limit:,} bytes the console reads")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise Invalid(f"{redact_url(url)}: the answer is more than the {limit:,} bytes the "
                                      f"console reads")
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks), url
        except httpx.HTTPError as exc:
            raise unreachable_from(exc, url) from exc
        finally:
            if secret_override is not None:
                http.close()

    def _json(self, method: str, path: str, secret_override: str | None = None,
              body: Any = None) -> tuple[int, Any, str]:
        status, raw, url = self._fetch(method, path, MAX_JSON_BYTES, secret_override, body)
        _refuse_auth(status, raw, url)
        try:
            return status, json.loads(raw) if raw.strip() else None, url
        except ValueError:
            return status, raw.decode("utf-8", "replace")[:300], url

    # ------------------------------------------------------------ inventory
    def _health(self, secret_override: str | None = None) -> Answer | None:
        """The first health route the host offers, and what it answered."""
        for path in HEALTH_ROUTES:
            status, _body, _url = self._json("GET", path, secret_override)
            if status not in NO_ROUTE:
                return Answer(path, status)
        return None

    def _listing(self, secret_override: str | None = None) -> tuple[str, list[ListedModel]] | None:
        """(style, models) from the first listing route the host answers; None if it has none."""
        tried = []
        for style, method, path in LISTINGS:
            status, body, url = self._json(method, path, secret_override, {} if method == "POST" else None)
            if status in NO_ROUTE:
                tried.append(f"{path}: {status}")
                continue
            if status >= 300:
                raise error_from_response(status, body, url)
            try:
                return style, collapse(models_from(style, body))
            except ValueError as exc:
                raise Invalid(f"{redact_url(url)}: not a model listing: {exc}") from exc
        return None

    def _readiness(self, model: ListedModel, secret_override: str | None = None) -> Answer:
        path = f"/v2/models/{quote(model.name, safe='')}/ready"
        status, _body, _url = self._json("GET", path, secret_override)
        return Answer(path, status)

    def inventory(self) -> InventorySnapshot:
        health = self._health()
        listing = self._listing()
        endpoints = []
        if listing is not None:
            style, models = listing
            for model in models:
                ready = self._readiness(model) if style in ("v2", "index") else None
                state, reason = state_of(model, ready, health)
                seen = self._seen.setdefault(model.name, datetime.now(UTC))
                endpoints.append(endpoint_of(model, state, reason, self.base_url, style, seen))
            with self._lock:
                self._models = tuple(m.name for m in models)
        elif health is None:
            self.scrape()  # no listing, no health route: is there a /metrics at least (a DCGM exporter)?
        if not endpoints:
            # No model listed (a DCGM exporter, a bare /metrics): its figures are charted under the
            # host's name (samples_from), so the host is listed as one, to be selected and charted.
            host = self._host_name()
            seen = self._seen.setdefault(host, datetime.now(UTC))
            endpoints.append(endpoint_of(ListedModel(host), DeploymentState.READY,
                                         "no models listed: the figures of /metrics are the whole host's",
                                         self.base_url, "metrics", seen))
        return InventorySnapshot(self.place_id, self._clock(), tuple(endpoints))

    # ------------------------------------------------------------ /metrics
    def _metrics_path(self) -> str:
        chosen = (self.config.metrics_url or "").strip()
        if not chosen:
            return "/metrics"
        return chosen if chosen.startswith(("http://", "https://")) else "/" + chosen.lstrip("/")

    def scrape(self, secret_override: str | None = None) -> Scrape:
        """One read of the host's /metrics, parsed. Raises the exact failure."""
        status, raw, url = self._fetch("GET", self._metrics_path(), self.max_bytes, secret_override)
        if status >= 300:
            _refuse_auth(status, raw, url)
            raise error_from_response(status, raw.decode("utf-8", "replace")[:200], url)
        try:
            return parse(raw.decode("utf-8", "replace"), self._clock())
        except ExpositionError as exc:
            raise Invalid(f"{redact_url(url)}: {exc}") from exc

    def histograms(self) -> list[str]:
        """The histograms the host's /metrics exposes (to choose one as the latency)."""
        return self.scrape().histogram_families()

    def telemetry(self, history_s: float = 0.0) -> TelemetryBatch:
        """Samples for the interval since the previous call (none on the first: it is the
        baseline). A serving host keeps no history: `history_s` is not used."""
        try:
            current = self.scrape()
        except BackendError:
            with self._lock:
                self._failed_at = self._failed_at or self._clock()
            raise
        chosen = self.config.latency_histogram
        if chosen and f"{chosen}_bucket" not in current.samples:
            offered = ", ".join(current.histogram_families()) or "none"
            raise NotFound(f"the chosen latency histogram {chosen!r} is not in this host's /metrics "
                           f"(histograms there: {offered})")
        with self._lock:
            previous, self._previous = self._previous, current
            gap_from = previous.time if previous is not None and self._failed_at is not None else None
            self._failed_at = None
            models = self._models
        if models is None:  # no inventory read yet: the listing names the models
            try:
                listing = self._listing()
            except BackendError:
                listing = None
            models = tuple(m.name for m in listing[1]) if listing else ()
            with self._lock:
                self._models = models
        samples: tuple[Sample, ...] = ()
        if previous is not None and current.time > previous.time:
            found = recognisers.figures(previous, current, chosen)
            samples = samples_from(found, current.time, current.time - previous.time, models, self._host_name())
        return TelemetryBatch(place_id=self.place_id, read_at=current.time, samples=samples,
                              gap_from=gap_from, gap_to=current.time if gap_from is not None else None)

    def _host_name(self) -> str:
        return urlsplit(self.base_url).netloc.rpartition("@")[2] or self.base_url

    # ------------------------------------------------------------ probe
    def probe(self, secret_override: str | None = None) -> ProbeResult:
        """What the host offers: its health, its models, the servers its /metrics shows.
        The message starts as UrlBackend's does: `URL/health answered HTTP 200`."""
        try:
            health = self._health(secret_override)
            listing = self._listing(secret_override)
        except BackendError as exc:
            return ProbeResult(False, str(exc), kind=getattr(exc, "kind", exc.__class__.__name__.lower()))
        where = redact_url(self.base_url)
        parts = [f"{where}{health.path} answered HTTP {health.status}" if health else
                 f"{where}: no health route ({', '.join(HEALTH_ROUTES)})"]
        detail: dict[str, Any] = {"health": str(health) if health else None, "models": [], "servers": [],
                                  "histograms": []}
        if listing is not None:
            names = [m.name for m in listing[1]]
            detail["models"] = names
            shown = f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""
            parts.append(f"{len(names)} model{'s' * (len(names) != 1)}{shown}")
        try:
            scrape = self.scrape(secret_override)
        except BackendError as exc:
            parts.append(f"no usable /metrics ({exc})")
            ok = listing is not None or health is not None
            return ProbeResult(ok, "; ".join(parts), kind="ok" if ok else getattr(exc, "kind", "protocol"),
                               detail=detail)
        servers = recognisers.recognise(scrape)
        detail["servers"] = list(servers)
        detail["histograms"] = scrape.histogram_families()
        parts.append("/metrics of " + ", ".join(recognisers.LABELS[s] for s in servers) if servers else
                     f"/metrics of a server not recognised ({len(detail['histograms'])} histograms to choose from)")
        return ProbeResult(True, "; ".join(parts), detail=detail)

    def close(self) -> None:
        with self._lock:
            for client in (self._http, self._plain):
                if client is not None:
                    client.close()
            self._http = self._plain = None


def _refuse_auth(status: int, raw: bytes, url: str) -> None:
    """401 and 403 end the attempt: no other route will be let in either."""
    if status in (401, 403):
        raise error_from_response(status, raw.decode("utf-8", "replace")[:200], url)


def samples_from(found: recognisers.Figures, time_s: float, interval_s: float, models: tuple[str, ...],
                 host: str) -> tuple[Sample, ...]:
    """One Sample per model: its own figures, plus the host's figures named in `per_host`.
    A host with no model known gets one Sample named after the host."""
    names = list(dict.fromkeys([*models, *found.models]))
    if not names and (found.host or found.models):
        names = [host]
    host_fields = {k: v for k, v in found.host.items() if k in SAMPLE_FIELDS}
    samples = []
    for name in names:
        own = {k: v for k, v in found.models.get(name, {}).items() if k in SAMPLE_FIELDS}
        shared = {k: v for k, v in host_fields.items() if k not in own}
        samples.append(Sample(time=time_s, interval_s=interval_s, endpoint=name, deployment=name, **shared, **own,
                              per_host=tuple(sorted(shared))))
    return tuple(samples)

