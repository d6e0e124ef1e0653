"""Has the data plane taken up a new split? Pure arithmetic over telemetry samples.

Only live requests in windows that began after the router applied the revision count (a
window that straddles the change mixes both splits). The observed share of each deployment
must lie within a binomial bound of its new weight — z standard errors, where the standard
error uses at least 1/n of variance so that a 0% or 100% weight tolerates the odd request that
was already in flight — and, when the split changed, at least one deployment's observed share
must lie outside the same bound around its old weight: the count is large enough to tell the
new split from the old one. Few requests (a quiet endpoint) leave the question open; the
caller's timeout then says exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from console.domain.telemetry import Sample

Z = 3.5  # standard errors: a healthy split is wrongly called unconverged about once in 2000 checks
MIN_REQUESTS = 20


@dataclass(frozen=True)
class Convergence:
    confirmed: bool
    requests: int
    observed: dict[str, float] = field(default_factory=dict)  # percent of live requests
    tolerance: float = 0.0  # the widest bound used, in points
    text: str = ""


def bound(p: float, n: int, z: float = Z) -> float:
    """Half-width (0..1) of the acceptance band around a weight `p` (0..1) for `n` requests."""
    return z * math.sqrt(max(p * (1 - p), 1 / n) / n)


def _pct(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + "%"


def shares_text(shares: Mapping[str, float]) -> str:
    return ", ".join(f"{n} {_pct(v)}" for n, v in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def live_counts(samples: Iterable[Sample], endpoint: str, since: float) -> dict[str, float]:
    """Live requests per deployment in the windows that began at or after `since`."""
    counts: dict[str, float] = {}
    for s in samples:
        if s.endpoint != endpoint or s.mirror or s.requests is None or s.time - s.interval_s < since - 1e-3:
            continue
        counts[s.deployment] = counts.get(s.deployment, 0.0) + s.requests
    return counts


def check(samples: Iterable[Sample], endpoint: str, applied_at: float, old: Mapping[str, int],
          new: Mapping[str, int], z: float = Z, min_requests: int = MIN_REQUESTS) -> Convergence:
    """Whether the live traffic observed since `applied_at` (epoch seconds) follows `new`."""
    return check_counts(live_counts(samples, endpoint, applied_at), old, new, z, min_requests)


def check_counts(counts: Mapping[str, float], old: Mapping[str, int], new: Mapping[str, int], z: float = Z,
                 min_requests: int = MIN_REQUESTS, seen_by: str = "observed") -> Convergence:
    """Whether live request counts per deployment (from telemetry, or the router's own count of
    what the applied revision routed) follow `new` and can be told from `old`."""
    names = sorted(set(old) | set(new) | set(counts))
    n = round(sum(counts.values()))
    expected = ", ".join(f"{k} {new.get(k, 0)}%" for k in sorted(new, key=lambda k: -new[k]) if new.get(k, 0))
    if n < min_requests:
        return Convergence(False, n, {}, 0.0,
                           f"{n} live request{'s' if n != 1 else ''} {seen_by} since the change was applied "
                           f"(at least {min_requests} needed to compare with {expected})")
    observed = {k: 100 * counts.get(k, 0.0) / n for k in names}
    widest = max(bound(new.get(k, 0) / 100, n, z) for k in names)
    off = [k for k in names if abs(observed[k] / 100 - new.get(k, 0) / 100) > bound(new.get(k, 0) / 100, n, z)]
    seen = f"{seen_by} {shares_text(observed)} over {n} live requests (expected {expected}, ±{100 * widest:.1f} points)"
    if off:
        return Convergence(False, n, observed, 100 * widest,
                           f"{seen}: {', '.join(off)} outside the expected range")
    changed = any(old.get(k, 0) != new.get(k, 0) for k in names)
    tells = not changed or any(abs(observed[k] / 100 - old.get(k, 0) / 100) > bound(old.get(k, 0) / 100, n, z)
                               for k in names)
    if not tells:
        return Convergence(False, n, observed, 100 * widest,
                           f"{seen}: not yet enough requests to tell the new split from the old one")
    return Convergence(True, n, observed, 100 * widest, seen)
