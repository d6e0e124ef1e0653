"""Traffic shifts and rollbacks under load: how soon the router routes by the new split, and
whether any client request fails meanwhile.

    .venv/bin/python tests/bench/bench_engine_shift.py [--rate 300] [--shifts 100] [--rollbacks 10]

Runs the demo (fraud-v1 and fraud-v2 ONNX replicas Ready) and sends scoring requests open loop
at --rate req/s for the whole run. The split flips between {fraud-v1: 100} and {fraud-v2: 100}
with `PUT /v1/endpoints/fraud/traffic` (--shifts times), then with
`POST /v1/endpoints/fraud/rollback` (--rollbacks times, each restoring the opposite split),
--gap seconds apart. For each change it records:

- the PUT/POST round trip;
- the time from the change returning until `GET /v1/endpoints/fraud` shows `applied_revision`
  at the new revision (one GET round trip when the change is applied before it returns);
- from the continuous traffic (x-deployment of each response): the time from the change
  returning until the first request routed by the new split was sent, and until its response
  arrived (each 0 when that happened even before the change returned). The router picked the
  deployment in between, so these bound the switch from below and above; the upper bound
  includes one scoring round trip and the gap to the next scheduled send (1/rate);
- how many requests sent after the change returned were still routed by the old split (must be 0).
  Only requests answered before the next change was sent count: one still in flight then may
  have reached the router after the next change, whose split is this one's old split (the run
  flips back and forth), so it is reported apart as ambiguous.

Targets: routing switch under 50 ms for shifts and rollbacks; zero failed client requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from _benchlib import DEMO, OtherLoad, engine, header, percentile, summary

TARGET_SWITCH_MS = 50.0
ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
FLIP = {"fraud-v1": "fraud-v2", "fraud-v2": "fraud-v1"}


@dataclass
class Sent:
    sent: float
    received: float = 0.0
    status: int = 0
    deployment: str = ""
    error: str = ""


@dataclass
class Change:
    kind: str  # shift | rollback
    new: str  # the deployment that has all live traffic afterwards
    revision: int
    started: float
    returned: float
    applied_in_response: bool
    applied_seen: float = 0.0


@dataclass
class Run:
    sent: list[Sent] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)


async def load(session: aiohttp.ClientSession, url: str, key: str, rate: float, limit_s: float,
               stop: asyncio.Event, run: Run) -> None:
    """Open loop at `rate` until `stop` is set or `limit_s` passes; waits for the last answers."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def one(record: Sent, body: bytes) -> None:
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                record.status = resp.status
                record.deployment = resp.headers.get("x-deployment", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        record.received = time.perf_counter()

    begin = loop.time()
    for i in range(int(rate * limit_s)):
        if stop.is_set():
            break
        due = begin + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        run.lateness.append(max(0.0, loop.time() - due) * 1000)
        rows = [[round(v + rng.uniform(-0.05, 0.05), 4) for v in ROW] for _ in range(rng.randint(1, 4))]
        record = Sent(time.perf_counter())
        run.sent.append(record)
        task = loop.create_task(one(record, json.dumps({"inputs": rows}).encode()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=15)


async def changes(session: aiohttp.ClientSession, control: str, shifts: int, rollbacks: int, gap: float,
                  run: Run) -> None:
    async def endpoint() -> dict[str, Any]:
        async with session.get(f"{control}/v1/endpoints/fraud") as resp:
            resp.raise_for_status()
            result: dict[str, Any] = await resp.json()
            return result

    current = await endpoint()
    revision = current["revision"]
    live = "fraud-v1"
    async with session.put(f"{control}/v1/endpoints/fraud/traffic", headers={"If-Match": str(revision)},
                           json={"traffic": {"fraud-v1": 100, "fraud-v2": 0}, "reason": "bench start"}) as resp:
        resp.raise_for_status()
        revision = (await resp.json())["revision"]
    await asyncio.sleep(max(gap, 0.5))
    plan = ["shift"] * shifts + ["rollback"] * rollbacks
    for kind in plan:
        new = FLIP[live]
        started = time.perf_counter()
        if kind == "shift":
            request = session.put(
                f"{control}/v1/endpoints/fraud/traffic", headers={"If-Match": str(revision)},
                json={"traffic": {live: 0, new: 100}, "reason": "bench shift"},
            )
        else:
            request = session.post(
                f"{control}/v1/endpoints/fraud/rollback", headers={"If-Match": str(revision)},
                json={"reason": "bench rollback"},
            )
        async with request as resp:
            body = await resp.json()
            returned = time.perf_counter()
            if resp.status != 200:
                raise RuntimeError(f"{kind} answered {resp.status}: {body}")
        if body["traffic"].get(new, 0) != 100:
            raise RuntimeError(f"{kind} did not move all traffic to {new}: {body['traffic']}")
        revision = body["revision"]
        change = Change(kind, new, revision, started, returned, body["applied_revision"] == revision)
        for _ in range(200):
            if (await endpoint())["applied_revision"] >= revision:
                change.applied_seen = time.perf_counter()
                break
            await asyncio.sleep(0.001)
        run.changes.append(change)
        live = new
        await asyncio.sleep(gap)


async def bench(control: str, token: str, url: str, key: str, args: argparse.Namespace) -> Run:
    run = Run()
    stop = asyncio.Event()
    limit_s = 30 + (args.shifts + args.rollbacks) * (args.gap + 0.5)
    timeout = aiohttp.ClientTimeout(total=10)
    control_headers = {"Authorization": f"Bearer {token}", "X-Actor": "bench@localhost"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as data, \
            aiohttp.ClientSession(headers=control_headers, timeout=timeout) as ctl:
        loader = asyncio.create_task(load(data, url, key, args.rate, limit_s, stop, run))
        try:
            await asyncio.sleep(1.0)  # traffic flowing before the first change
            await changes(ctl, control, args.shifts, args.rollbacks, args.gap, run)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await loader
    return run


@dataclass
class Figures:
    trips: list[float] = field(default_factory=list)  # change round trip
    visible: list[float] = field(default_factory=list)  # returned -> GET shows applied_revision
    switch: list[float] = field(default_factory=list)  # returned -> first new-split response received
    switch_sent: list[float] = field(default_factory=list)  # returned -> send of the first new-split request
    stale: int = 0  # sent after the change returned, answered before the next change was sent, routed by the old split
    ambiguous: int = 0  # the same, but still in flight when the next change was sent
    in_response: int = 0  # the change's own response already had applied_revision == revision


def analyse(run: Run, kind: str) -> Figures:
    answered = sorted((s for s in run.sent if s.status == 200), key=lambda s: s.sent)
    out = Figures()
    all_changes = run.changes
    for index, change in enumerate(all_changes):
        if change.kind != kind:
            continue
        out.trips.append((change.returned - change.started) * 1000)
        if change.applied_seen:
            out.visible.append((change.applied_seen - change.returned) * 1000)
        out.in_response += change.applied_in_response
        end = all_changes[index + 1].started if index + 1 < len(all_changes) else float("inf")
        window = [s for s in answered if change.started <= s.sent < end]
        routed_new = [s for s in window if s.deployment == change.new]
        if routed_new:
            out.switch.append(max(0.0, min(s.received for s in routed_new) - change.returned) * 1000)
            out.switch_sent.append(max(0.0, min(s.sent for s in routed_new) - change.returned) * 1000)
        old = [s for s in window if s.sent >= change.returned and s.deployment != change.new]
        out.stale += sum(1 for s in old if s.received < end)
        out.ambiguous += sum(1 for s in old if s.received >= end)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="scoring requests per second (max 2000)")
    parser.add_argument("--shifts", type=int, default=100, help="traffic PUTs (max 1000)")
    parser.add_argument("--rollbacks", type=int, default=10, help="rollbacks after the shifts (max 100)")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between changes")
    args = parser.parse_args()
    args.rate, args.shifts, args.rollbacks = min(args.rate, 2000.0), min(args.shifts, 1000), min(args.rollbacks, 100)
    args.gap = min(max(args.gap, 0.02), 2.0)
    header("traffic shift and rollback under load (demo endpoint)")
    with engine() as running:
        with running.client("bench@localhost") as client:
            client.apply_yaml(DEMO.read_text(), DEMO.parent)
        running.wait_ready("fraud", timeout=90)
        key = running.key("fraud")
        url = f"{running.data_url}/endpoints/fraud/score"
        print(f"demo Ready; {args.rate:g} req/s open loop to {url}; {args.shifts} shifts then {args.rollbacks} "
              f"rollbacks between fraud-v1=100 and fraud-v2=100, {args.gap:g} s apart")
        sys.stdout.flush()
        wall = time.perf_counter()
        with OtherLoad() as other:
            run = asyncio.run(bench(running.control_url, running.token, url, key, args))
        wall = time.perf_counter() - wall
    sent = len(run.sent)
    failed = [s for s in run.sent if s.status != 200]
    duration = (run.sent[-1].sent - run.sent[0].sent) if sent > 1 else 0.0
    print(f"client requests: {sent} sent over {duration:.1f} s ({sent / duration if duration else 0:.0f} req/s), "
          f"failed: {len(failed)} (target 0); sender lateness p99 {percentile(run.lateness, 99):.2f} ms; "
          f"run took {wall:.1f} s")
    print(other.line())
    latency = [(s.received - s.sent) * 1000 for s in run.sent if s.status == 200]
    print(f"scoring latency (client, during the run): {summary(latency)}")
    for example in failed[:5]:
        print(f"  failed: status {example.status} {example.error}")
    ok = not failed
    for kind in ("shift", "rollback"):
        fig = analyse(run, kind)
        count = sum(1 for c in run.changes if c.kind == kind)
        met = bool(fig.switch) and percentile(fig.switch, 100) < TARGET_SWITCH_MS and not fig.stale
        ok = ok and met
        print(f"{kind}s: {count}")
        print(f"  {kind} round trip: {summary(fig.trips)}")
        print(f"  applied_revision == new revision in the {kind}'s own response: {fig.in_response}/{count}")
        print(f"  returned -> GET shows applied_revision: {summary(fig.visible)}")
        print(f"  returned -> send of the first request routed by the new split: {summary(fig.switch_sent)}")
        print(f"  returned -> first response routed by the new split: {summary(fig.switch)} "
              f"(target < {TARGET_SWITCH_MS:g} ms: {'met' if met else 'MISSED'})")
        print(f"  requests sent after the {kind} returned but routed by the old split: {fig.stale} "
              f"(and {fig.ambiguous} still in flight when the next change was sent, which may have routed them)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
