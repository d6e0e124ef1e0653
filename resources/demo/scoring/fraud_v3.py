"""Demo scoring script for the python runtime: fraud model v3.

A fixed logistic regression over the same 8 normalised features as the ONNX models
(amount_z, hour_sin, hour_cos, merchant_risk, distance_z, card_present, velocity_z,
account_age_z), plus one interaction: a large amount far from home weighs extra.

    {"inputs": [[8 numbers], ...]}  ->  {"outputs": [probability, ...]}

Incident drills, read by init() from the environment:
    DEMO_LATENCY_MS   extra milliseconds to sleep per request (default 0)
    DEMO_ERROR_RATE   fraction 0..1 of requests that fail with RuntimeError -> 500 (default 0)
"""

from __future__ import annotations

import math
import os
import random
import time
from typing import Any

WEIGHTS = (0.90, -0.20, 0.50, 2.20, 0.55, -1.40, 1.00, -0.60)
BIAS = -3.20
INTERACTION = 0.35  # amount_z * distance_z, only when both are positive
N_FEATURES = len(WEIGHTS)
MAX_ROWS = 10_000

_latency_s = 0.0
_error_rate = 0.0
_rng = random.Random()


def _env_float(name: str, default: float, low: float, high: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside {low}..{high}")
    return value


def init() -> None:
    global _latency_s, _error_rate
    _latency_s = _env_float("DEMO_LATENCY_MS", 0.0, 0.0, 60_000.0) / 1000.0
    _error_rate = _env_float("DEMO_ERROR_RATE", 0.0, 0.0, 1.0)


def _row(index: int, row: Any) -> list[float]:
    if not isinstance(row, list) or len(row) != N_FEATURES:
        got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
        raise ValueError(f"inputs[{index}] must be a list of {N_FEATURES} numbers, got {got}")
    for j, value in enumerate(row):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"inputs[{index}][{j}] is {value!r}; expected a finite number")
    return [float(v) for v in row]


def _probability(x: list[float]) -> float:
    logit = BIAS + sum(w * v for w, v in zip(WEIGHTS, x, strict=True))
    logit += INTERACTION * max(x[0], 0.0) * max(x[4], 0.0)
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    z = math.exp(logit)
    return z / (1.0 + z)


def run(data: Any) -> dict[str, list[float]]:
    if not isinstance(data, dict) or "inputs" not in data:
        raise ValueError('expected a JSON object {"inputs": [[8 numbers], ...]}')
    rows = data["inputs"]
    if not isinstance(rows, list) or not rows:
        raise ValueError("inputs must be a non-empty list of rows")
    if len(rows) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows per request, got {len(rows)}")
    features = [_row(i, row) for i, row in enumerate(rows)]
    if _latency_s > 0:
        time.sleep(_latency_s)
    if _error_rate > 0 and _rng.random() < _error_rate:
        raise RuntimeError(f"injected failure (DEMO_ERROR_RATE={_error_rate})")
    return {"outputs": [_probability(x) for x in features]}
