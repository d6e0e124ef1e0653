"""Router overhead: the same requests, at a fixed open-loop rate, to a trivial upstream directly
and through the engine's router (an `upstream` deployment pointing at it).

    .venv/bin/python tests/bench/bench_engine_overhead.py [--rate 200] [--seconds 10]

Both targets are measured in the same run with the same aiohttp client, interleaved: every
1/rate seconds one request goes to the upstream directly and, half a period later, one goes
through the router, so drift on the machine hits both alike. Latency is from the send to the
whole response body read. Targets: overhead p50 < 0.5 ms, p99 < 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import aiohttp
from _benchlib import (
    SCORE_BODY,
    OtherLoad,
    apply_and_wait,
    echo_upstream,
    engine,
    header,
    percentile,
    summary,
    upstream_specs,
)

TARGET_P50_MS = 0.5
TARGET_P99_MS = 2.0


async def measure(
    direct_url: str, router_url: str, key: str, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    period = 1.0 / rate
    count = int(rate * seconds)
    warm = int(rate * warmup)
    results: dict[str, list[float]] = {"direct": [], "router": []}
    failures: dict[str, int] = {"direct": 0, "router": 0}
    lateness: list[float] = []
    targets = {
        "direct": (f"{direct_url}/score", {"Content-Type": "application/json"}),
        "router": (router_url, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}),
    }
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(which: str, record: bool) -> None:
            url, headers = targets[which]
            start = time.perf_counter()
            try:
                async with session.post(url, data=SCORE_BODY, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            elapsed = (time.perf_counter() - start) * 1000
            if not record:
                return
            if ok:
                results[which].append(elapsed)
            else:
                failures[which] += 1

        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        begin = loop.time() + 0.05
        for i in range(warm + count):
            for offset, which in ((0.0, "direct"), (period / 2, "router")):
                due = begin + i * period + offset
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                lateness.append(max(0.0, loop.time() - due) * 1000)
                task = loop.create_task(one(which, record=i >= warm))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=10)
    return {"results": results, "failures": failures, "lateness": lateness}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second to EACH target")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration (max 120)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent first and not recorded")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 120.0)
    args.rate = min(args.rate, 2000.0)
    header("router overhead vs calling the upstream directly")
    with echo_upstream() as upstream, engine() as running:
        key = apply_and_wait(running, upstream_specs("bench", {"bench-echo": (upstream, 100)}), "bench")
        router_url = f"{running.data_url}/endpoints/bench/score"
        print(f"upstream (aiohttp echo, own process): {upstream}/score; router: {router_url}")
        print(f"open loop, {args.rate:g} req/s to each target, interleaved, {args.seconds:g} s measured "
              f"after {args.warmup:g} s warm-up")
        sys.stdout.flush()
        with OtherLoad() as other:
            out = asyncio.run(asyncio.wait_for(
                measure(upstream, router_url, key, args.rate, args.seconds, args.warmup),
                timeout=args.seconds + args.warmup + 30,
            ))
    direct, router = out["results"]["direct"], out["results"]["router"]
    late = out["lateness"]
    print(other.line())
    print(f"sender lateness: p50={percentile(late, 50):.3f} ms p99={percentile(late, 99):.3f} ms")
    print(f"direct: {summary(direct)} failed={out['failures']['direct']}")
    print(f"router: {summary(router)} failed={out['failures']['router']}")
    if not direct or not router:
        print("no successful requests: nothing to compare")
        return 1
    d50 = percentile(router, 50) - percentile(direct, 50)
    d99 = percentile(router, 99) - percentile(direct, 99)
    ok50, ok99 = d50 < TARGET_P50_MS, d99 < TARGET_P99_MS
    print(f"overhead: p50 +{d50:.3f} ms (target < {TARGET_P50_MS} ms: {'met' if ok50 else 'MISSED'}), "
          f"p99 +{d99:.3f} ms (target < {TARGET_P99_MS} ms: {'met' if ok99 else 'MISSED'})")
    failed = out["failures"]["direct"] + out["failures"]["router"]
    return 0 if ok50 and ok99 and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
