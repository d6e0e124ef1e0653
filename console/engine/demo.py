"""Demo traffic: realistic card-transaction scoring requests, sent open-loop at a fixed rate.

Each request carries 1-4 transactions of the 8 normalised features the demo fraud models read
(amount_z, hour_sin, hour_cos, merchant_risk, distance_z, card_present, velocity_z,
account_age_z). About 3% of transactions look suspicious: large, at night, far from home,
card not present, on a new account.

Pacing is open-loop: sends are scheduled at fixed instants whatever the responses do, so a
slow deployment does not lower the offered rate. At most MAX_IN_FLIGHT requests are
outstanding; a send that would exceed that is skipped and counted as "skipped".
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)

FEATURES = (
    "amount_z",
    "hour_sin",
    "hour_cos",
    "merchant_risk",
    "distance_z",
    "card_present",
    "velocity_z",
    "account_age_z",
)
MAX_IN_FLIGHT = 64
SUSPICIOUS_FRACTION = 0.03
CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 2.0
MAX_LAG_S = 1.0  # further behind schedule than this (e.g. after a suspend): skip, do not burst

# Card transactions by hour of day: quiet at night, busy at lunch and early evening.
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 12, 11, 10, 10, 11, 12, 12, 11, 9, 7, 5, 3)


def transaction_row(rng: random.Random, suspicious: bool | None = None) -> list[float]:
    """One transaction as the 8 normalised features, rounded to 4 decimals."""
    if suspicious is None:
        suspicious = rng.random() < SUSPICIOUS_FRACTION
    if suspicious:
        amount = rng.lognormvariate(6.5, 0.7)  # hundreds to thousands
        hour = rng.choice((0, 1, 2, 3, 4, 23)) + rng.random()
        merchant_risk = rng.betavariate(6, 3)
        distance_km = rng.lognormvariate(5.5, 1.0)
        card_present = 1.0 if rng.random() < 0.1 else 0.0
        velocity = float(rng.randint(4, 12))
        account_age_days = rng.lognormvariate(2.5, 1.0)
    else:
        amount = rng.lognormvariate(3.6, 1.0)  # median about 36
        hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0] + rng.random()
        merchant_risk = rng.betavariate(2, 8)
        distance_km = rng.lognormvariate(1.5, 1.0)
        card_present = 1.0 if rng.random() < 0.7 else 0.0
        velocity = float(rng.choices(range(6), weights=(30, 35, 18, 9, 5, 3))[0])
        account_age_days = rng.lognormvariate(6.0, 1.0)
    angle = 2 * math.pi * hour / 24
    row = (
        (math.log1p(amount) - 3.6) / 1.0,
        math.sin(angle),
        math.cos(angle),
        merchant_risk,
        (math.log1p(distance_km) - 1.5) / 1.0,
        card_present,
        (velocity - 1.0) / 1.5,
        (math.log1p(account_age_days) - 6.0) / 1.0,
    )
    return [round(v, 4) for v in row]


def sample_request(rng: random.Random) -> dict[str, list[list[float]]]:
    """A scoring request body with 1-4 transactions (mostly one)."""
    rows = rng.choices((1, 2, 3, 4), weights=(70, 15, 10, 5))[0]
    return {"inputs": [transaction_row(rng) for _ in range(rows)]}


def error_kind(exc: BaseException) -> str:
    """A short, stable name for a failed request, used as the "error:<kind>" count key."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection_refused" if exc.os_error.errno == errno.ECONNREFUSED else "connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "payload"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url"
    return type(exc).__name__


async def send_traffic(
    data_url: str,
    endpoint: str,
    key: str,
    rps: float,
    stop: asyncio.Event,
    duration: float | None = None,
    on_result: Callable[[int, str | None], None] | None = None,
) -> dict[str, int]:
    """Send scoring requests to `endpoint` at `rps` until `stop` is set or `duration` elapses.

    Returns counts: "sent", "skipped", "status:<code>", "deployment:<x-deployment>",
    "error:<kind>" (see error_kind) and "cancelled" (still running when the drain timed out).
    Request failures are counted, never raised. `on_result(status, deployment)` is called
    for every finished request; status is 0 when no response arrived.
    """
    if not (math.isfinite(rps) and rps > 0):
        raise ValueError(f"rps must be a positive number, got {rps!r}")
    url = f"{data_url.rstrip('/')}/endpoints/{quote(endpoint, safe='')}/score"
    counts: Counter[str] = Counter()
    rng = random.Random()
    loop = asyncio.get_running_loop()
    in_flight: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers=headers) as session:
        try:
            interval = 1.0 / rps
            start = loop.time()
            deadline = math.inf if duration is None else start + duration
            next_at = start
            while not stop.is_set():
                now = loop.time()
                if now >= deadline:
                    break
                if now < next_at:
                    await _wait(stop, min(next_at, deadline) - now)
                    continue
                if now - next_at > MAX_LAG_S:
                    missed = int((now - next_at) / interval)
                    counts["skipped"] += missed
                    next_at += missed * interval
                next_at += interval
                if len(in_flight) >= MAX_IN_FLIGHT:
                    counts["skipped"] += 1
                    continue
                counts["sent"] += 1
                task = asyncio.create_task(_one(session, url, sample_request(rng), counts, on_result))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                _, pending = await asyncio.wait(set(in_flight), timeout=DRAIN_TIMEOUT_S)
                if pending:
                    counts["cancelled"] += len(pending)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
    return dict(counts)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        pass


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    counts: Counter[str],
    on_result: Callable[[int, str | None], None] | None,
) -> None:
    status, deployment = 0, None
    try:
        async with session.post(url, json=body) as response:
            await response.read()
            status, deployment = response.status, response.headers.get("x-deployment")
    except Exception as exc:
        counts[f"error:{error_kind(exc)}"] += 1
    else:
        counts[f"status:{status}"] += 1
        if deployment:
            counts[f"deployment:{deployment}"] += 1
    if on_result is not None:
        try:
            on_result(status, deployment)
        except Exception:
            log.exception("demo traffic: on_result callback failed")
