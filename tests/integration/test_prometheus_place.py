"""A real Prometheus server (Debian package `prometheus`) on 127.0.0.1 scraping a real engine's
/metrics every second: the Prometheus place lists the demo endpoint, its p95 agrees with the
engine's own histogram, history comes from range queries, and failures are named exactly."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # one test runs the console's telemetry feed

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from console.backends.base import Invalid, PlaceKind, Unauthorized, Unreachable
from console.backends.places import PlaceConfig
from console.backends.prometheus import PrometheusBackend
from console.backends.promql import PromMapping
from console.engine.demo import send_traffic
from console.engine.telemetry import BUCKETS
from tests.harness import RunningEngine, running_demo, stop_process, wait_until

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None:
    if os.environ.get("SWITCHBOARD_REQUIRE_PROMETHEUS") == "1":
        raise RuntimeError("SWITCHBOARD_REQUIRE_PROMETHEUS=1 but no `prometheus` binary on PATH "
                           "(apt-get install prometheus)")
    pytest.skip("no `prometheus` binary on PATH (Debian: apt-get install --no-install-recommends prometheus); "
                "set SWITCHBOARD_REQUIRE_PROMETHEUS=1 to make this a failure", allow_module_level=True)

WINDOW_S = 20  # the place's rate() window in these tests: short, so the test is too
DURATION = "switchboard_request_duration_seconds"
# bcrypt (cost 4) of "switchboard-test", for the server that demands basic auth
USER, PASSWORD = "switchboard", "switchboard-test"
PASSWORD_HASH = "$2b$04$nkTVFvgHW6zwl4ROHo5vI.MlLsBxAmxd0wRyz9yTDm.6INJoh.OGW"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_prometheus(folder: Path, scrape: list[dict[str, object]], web_config: dict[str, object] | None = None
                       ) -> Iterator[str]:
    """Prometheus on 127.0.0.1 with its storage in `folder`; killed afterwards. Yields its URL."""
    assert PROMETHEUS is not None
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                                      "scrape_configs": scrape}))
    port = _free_port()
    args = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    if web_config is not None:
        (folder / "web.yml").write_text(yaml.safe_dump(web_config))
        args.append(f"--web.config.file={folder / 'web.yml'}")
    url = f"http://127.0.0.1:{port}"
    with open(folder / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}: {(folder / 'prometheus.log').read_text()}")
        return httpx.get(f"{url}/-/ready", timeout=2).status_code in (200, 401)

    try:
        wait_until(ready, 30, interval=0.1, what="prometheus ready")
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with running_demo(tmp_path_factory.mktemp("prom-engine")) as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(engine: RunningEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    scrape = [{"job_name": "switchboard", "authorization": {"credentials_file": str(engine.state_dir / "token")},
               "static_configs": [{"targets": [urlsplit(engine.control_url).netloc],
                                   "labels": {"namespace": "default"}}]}]  # as a Kubernetes SD relabel would
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), scrape) as url:
        yield url


def place(url: str, **mapping: object) -> PlaceConfig:
    return PlaceConfig(kind=PlaceKind.PROMETHEUS, name="prometheus", url=url,
                       prometheus=PromMapping(rate_window_s=WINDOW_S, **mapping))  # type: ignore[arg-type]


def traffic(engine: RunningEngine, rps: float, seconds: float) -> None:
    key = engine.key("fraud")

    async def send() -> None:
        await send_traffic(engine.data_url, "fraud", key, rps, asyncio.Event(), duration=seconds)

    asyncio.run(send())


def engine_buckets(engine: RunningEngine, deployment: str) -> dict[float, float]:
    """The engine's own cumulative duration buckets (le → count) for a deployment's live series."""
    text = httpx.get(f"{engine.control_url}/metrics", headers={"Authorization": f"Bearer {engine.token}"},
                     timeout=10).text
    found: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (sample.name == f"{DURATION}_bucket" and labels.get("deployment") == deployment
                    and labels.get("mirror") == "false"):
                found[float(labels["le"])] = sample.value
    return found


def quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus's histogram_quantile (linear within the bucket) of cumulative buckets, in ms."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank = q * total
    index = next(i for i, b in enumerate(bounds) if buckets[b] >= rank)
    if bounds[index] == float("inf"):
        return bounds[-2] * 1000.0
    lower = bounds[index - 1] if index > 0 else 0.0
    below = buckets[bounds[index - 1]] if index > 0 else 0.0
    return (lower + (bounds[index] - lower) * (rank - below) / (buckets[bounds[index]] - below)) * 1000.0


def bucket_of(ms: float) -> tuple[float, float]:
    bounds = [0.0, *(b * 1000.0 for b in BUCKETS), float("inf")]
    i = bisect.bisect_left(bounds, ms)
    return bounds[max(i - 1, 0)], bounds[max(i, 1)]


def prom_value(backend: PrometheusBackend, promql: str, at: float | None = None) -> float | None:
    found = backend.query(promql, at=at)
    return float(found[0]["value"][1]) if found else None


def test_inventory_p95_and_history_from_a_real_prometheus(engine: RunningEngine, prometheus: str) -> None:
    live = '{deployment="fraud-v1", mirror="false"}'
    with PrometheusBackend(place(prometheus)) as backend:
        # Warm up: the histogram series exist once a deployment has served a request. A warm-up
        # about as large as the measured traffic keeps rate()'s extrapolation the same for every
        # bucket, so the quantile is not skewed by it.
        wait_until(lambda: traffic(engine, 100, 2.0) or engine_buckets(engine, "fraud-v1"), 30,
                   what="fraud-v1 to have served requests")

        # A baseline Prometheus has held for a whole rate window: the window below sees only
        # the traffic sent after it.
        def settled() -> dict[float, float] | None:
            own = engine_buckets(engine, "fraud-v1")
            count = own[float("inf")]
            steady = prom_value(backend, f"min_over_time({DURATION}_count{live}[{WINDOW_S}s])")
            return own if steady == count and prom_value(backend, f"{DURATION}_count{live}") == count else None

        before = wait_until(settled, 60, interval=0.5, what="Prometheus to hold the engine's count for a window")
        started = time.time()
        traffic(engine, 100, 3.0)
        after = engine_buckets(engine, "fraud-v1")
        wait_until(lambda: prom_value(backend, f"{DURATION}_count{live}") == after[float("inf")], 30, interval=0.2,
                   what="Prometheus to scrape the engine's final count")
        at = float(int(time.time()) + 1)
        assert at - WINDOW_S < started - 1, "the traffic took longer than the rate window allows"
        assert prom_value(backend, f"min_over_time({DURATION}_count{live}[{WINDOW_S}s])", at) == before[float("inf")]

        # The place's p95 over the window, as the charts get it, against the engine's own buckets.
        with PrometheusBackend(place(prometheus), clock=lambda: at) as point:
            point.telemetry_period_s = 1.0
            batch = point.telemetry()
        ours = next(s for s in batch.samples if s.deployment == "fraud-v1" and not s.mirror)
        assert ours.time == at and ours.interval_s == 1.0 and not batch.history
        diffs = {le: after[le] - before.get(le, 0.0) for le in after}
        engine_p95 = quantile(0.95, diffs)
        place_p95 = ours.latency_ms["p95"]
        assert place_p95 is not None
        lower, upper = bucket_of(engine_p95)
        print(f"p95 fraud-v1: place {place_p95:.3f} ms, engine buckets {engine_p95:.3f} ms, "
              f"bucket ({lower:g}, {upper:g}] ms, {diffs[float('inf')]:.0f} requests")
        assert lower <= place_p95 <= upper, (place_p95, engine_p95)
        # rate() extrapolates each bucket to the window's edges, alike unless a bucket started
        # near zero: the figures match closely, not always exactly.
        assert abs(place_p95 - engine_p95) <= 0.25 * (upper - lower), (place_p95, engine_p95)

        # Test connection: healthy, and the mapped metrics have series.
        probe = backend.probe()
        assert probe.ok and probe.kind == "ok", probe.message
        assert f"series of {DURATION}_bucket" in probe.message
        assert "series of switchboard_requests_total" in probe.message

        # The inventory: the demo endpoint, its deployments, the split from the weight gauge.
        (fraud,) = backend.inventory().endpoints
        assert fraud.name == "fraud" and fraud.traffic == {"fraud-v1": 90, "fraud-v2": 10, "fraud-v3": 0}
        assert {d.name: (d.replicas_ready, d.replicas_desired, d.state.value) for d in fraud.deployments} == {
            "fraud-v1": (2, 2, "Ready"), "fraud-v2": (1, 1, "Ready"), "fraud-v3": (1, 1, "Ready")}

    # History: the first read of a new place brings the recent past from range queries, one
    # point per step from Prometheus's first data on; the next read only what is new.
    with PrometheusBackend(place(prometheus)) as fresh:
        fresh.telemetry_period_s = 1.0
        history = fresh.telemetry(history_s=120)
        mine = [s for s in history.samples if s.deployment == "fraud-v1" and not s.mirror]
        times = sorted({s.time for s in mine})
        # (Prometheus started moments before the traffic: its first rate needs two scrapes.)
        assert history.history and times[0] < started + 2 and times[-1] == int(history.read_at)
        assert all(b - a == 1.0 for a, b in itertools.pairwise(times))
        assert any(s.latency_ms.get("p95") for s in mine if s.time >= started)
        assert sum(s.requests or 0 for s in mine) > 0
        later = wait_until(lambda: fresh.telemetry().samples, 20, interval=0.5, what="a new telemetry point")
        assert min(s.time for s in later) > times[-1]


def test_a_prometheus_that_watches_a_cluster_charts_its_endpoints(engine: RunningEngine, prometheus: str,
                                                                   qtbot) -> None:  # type: ignore[no-untyped-def]
    """With a namespace label its endpoints are named namespace/name as the cluster's inventory names
    them, and with a context its telemetry reaches that cluster place's charts and traffic checks."""
    from console.backends.credentials import CredentialStore
    from console.backends.places import PlacesStore
    from console.ui.controller import Console
    from console.ui.errors import ErrorSink
    from console.ui.tasks import TaskRunner
    from tests.gui.fakes import MemoryKeyring

    wait_until(lambda: traffic(engine, 50, 1.0) or engine_buckets(engine, "fraud-v1"), 30, what="served requests")
    config = place(prometheus, namespace_label="namespace", cluster="prod")
    with PrometheusBackend(config) as backend:
        names = wait_until(lambda: [e.name for e in backend.inventory().endpoints], 30, interval=0.5,
                           what="the scraped endpoint")
        assert names == ["default/fraud"]

    console = Console(TaskRunner(), ErrorSink(), CredentialStore(backend=MemoryKeyring()),
                      PlacesStore(Path(engine.state_dir).parent / "relay-config"))
    seen: list[tuple[str, set[str]]] = []
    states: list[tuple[str, str]] = []
    console.telemetry.sig_batch_received.connect(lambda b: seen.append((b.place_id, {s.endpoint for s in b.samples})))
    console.telemetry.sig_source_changed.connect(lambda place, text: states.append((place, text)))
    try:
        console.add_place(config, persist=False)
        assert ("kube-prod", "from the Prometheus place prometheus") in states  # the cluster's charts say so
        qtbot.waitUntil(lambda: any(pid == "kube-prod" and "default/fraud" in eps for pid, eps in seen),
                        timeout=30000)
        assert any(pid == config.id and "default/fraud" in eps for pid, eps in seen)  # its own charts too
    finally:
        assert console.shutdown(timeout_s=5.0)


def test_bad_selector_and_unreachable_are_named_exactly(prometheus: str) -> None:
    with PrometheusBackend(place(prometheus, selector='{job=~"(unclosed"}')) as bad:
        with pytest.raises(Invalid) as raised:
            bad.inventory()
        probe = bad.probe()
    message = str(raised.value)
    assert message.startswith(f"{prometheus}/api/v1/query: Prometheus refused the query (bad_data): ")
    assert "error parsing regexp: missing closing )" in message
    assert not probe.ok and probe.kind == "invalid" and "error parsing regexp: missing closing )" in probe.message

    port = _free_port()
    with PrometheusBackend(place(f"http://127.0.0.1:{port}")) as gone, pytest.raises(Unreachable) as down:
        gone.telemetry(history_s=60)
    assert str(down.value) == f"http://127.0.0.1:{port}/api/v1/query_range: connection refused (nothing listening)"


def test_basic_auth_refused_then_accepted(tmp_path: Path) -> None:
    web = {"basic_auth_users": {USER: PASSWORD_HASH}}
    with running_prometheus(tmp_path / "guarded", [], web_config=web) as url:
        secrets = {"ref": "wrong-password"}
        config = PlaceConfig(kind=PlaceKind.PROMETHEUS, name="guarded", url=url, auth="basic", username=USER,
                             secret_ref="ref")
        with PrometheusBackend(config, secret=secrets.get) as backend:
            with pytest.raises(Unauthorized) as refused:
                backend.inventory()
            assert str(refused.value) == f"{url}/api/v1/query: HTTP 401: Unauthorized (token missing or refused)"
            secrets["ref"] = PASSWORD  # the secret is read again after a 401
            assert backend.inventory().endpoints == ()
            assert backend.probe().ok
