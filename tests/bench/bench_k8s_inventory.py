"""A Kubernetes context with 5,000 Deployments (each with its Service) and 5,000 HTTPRoutes, in the
fake API server (tests/k8sfake, same process, HTTPS on 127.0.0.1), read by KubernetesBackend.

Figures: time until the inventory is available (discovery, one list per kind, mapping; target under
3 s), time for one watched change (an HTTPRoute's weights) to show in `inventory()` (target under
200 ms; median and max of --changes), and memory (RSS growth of the process from before the backend
starts to after the inventory; the fake's own memory is outside that difference).

Run: .venv/bin/python tests/bench/bench_k8s_inventory.py [--count 5000] [--changes 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil

from console.backends.base import PlaceKind
from console.backends.kubernetes.backend import KubernetesBackend
from console.backends.places import PlaceConfig
from tests.k8sfake import objects, start_fake_cluster

GW = "gateway.networking.k8s.io/v1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_fake_cluster(Path(tmp), history=10_000) as cluster:
        t = time.perf_counter()
        for i in range(args.count):
            cluster.create(objects.deployment(f"model-{i}"))
            cluster.create(objects.service(f"model-{i}"))
            cluster.create(objects.httproute(f"route-{i}", {f"model-{i}": 100, f"model-{(i + 1) % args.count}": 0}))
        print(f"seeded {args.count} Deployments, Services and HTTPRoutes in {time.perf_counter() - t:.1f} s")

        place = PlaceConfig(id="bench", kind=PlaceKind.KUBERNETES, name="bench", context=cluster.context,
                            kubeconfig=str(cluster.kubeconfig))
        backend = KubernetesBackend(place, env={"KUBECONFIG": str(cluster.kubeconfig)}, initial_wait_s=60)
        rss0 = psutil.Process().memory_info().rss
        t = time.perf_counter()
        snap = backend.inventory()
        first = time.perf_counter() - t
        assert len(snap.endpoints) == args.count, len(snap.endpoints)
        rss1 = psutil.Process().memory_info().rss
        t = time.perf_counter()
        backend.inventory()
        cached = time.perf_counter() - t

        delays = []
        for n in range(args.changes):
            name = f"route-{(n * 997) % args.count}"
            share = 10 + n

            def reweigh(route: dict, share: int = share) -> dict:
                refs = route["spec"]["rules"][0]["backendRefs"]
                refs[0]["weight"], refs[1]["weight"] = 100 - share, share
                return route

            t = time.perf_counter()
            cluster.modify(GW, "HTTPRoute", "default", name, reweigh)
            deadline = t + 10
            while time.perf_counter() < deadline:
                ep = next(e for e in backend.inventory().endpoints if e.name == f"default/{name}")
                if share in ep.traffic.values():
                    break
            delays.append(time.perf_counter() - t)
        backend.close()

    print(f"inventory available after {first:.2f} s (target < 3 s); a later call with nothing changed "
          f"{cached * 1000:.1f} ms")
    print(f"watched change shown after: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms over {len(delays)} changes (target < 200 ms)")
    print(f"memory: RSS +{(rss1 - rss0) / 2**20:.0f} MiB for the backend's cache and snapshot "
          f"(process RSS {rss1 / 2**20:.0f} MiB, fake server included)")


if __name__ == "__main__":
    main()
