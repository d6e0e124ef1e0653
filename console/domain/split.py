"""Rules for a traffic split: live weights and mirror shares."""

from __future__ import annotations

from collections.abc import Collection, Mapping

MAX_MIRROR_TOTAL = 50


def split_problems(
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
    known: Collection[str],
    ready: Collection[str] | None = None,
) -> list[str]:
    """Every reason the split cannot be used; empty when it is valid.

    `known` are the endpoint's deployments; `ready` (when given) those that may take
    live traffic. Deployments with weight 0 need not be ready.
    """
    problems: list[str] = []
    for label, shares in (("traffic", traffic), ("mirror", mirror)):
        for name, weight in shares.items():
            if name not in known:
                problems.append(f"{label}: unknown deployment {name!r} (known: {sorted(known)})")
            if isinstance(weight, bool) or not isinstance(weight, int):
                problems.append(f"{label}: weight of {name!r} must be an integer, got {weight!r}")
            elif not 0 <= weight <= 100:
                problems.append(f"{label}: weight of {name!r} must be 0..100, got {weight}")
    if problems:
        return problems
    total = sum(traffic.values())
    if total != 100:
        problems.append(f"traffic weights must sum to 100, they sum to {total}")
    mirror_total = sum(mirror.values())
    if mirror_total > MAX_MIRROR_TOTAL:
        problems.append(f"mirror shares may total at most {MAX_MIRROR_TOTAL}, they total {mirror_total}")
    both = sorted(n for n in mirror if mirror[n] > 0 and traffic.get(n, 0) > 0)
    if both:
        problems.append(f"a deployment cannot be both a live and a mirror target: {both}")
    if ready is not None:
        not_ready = sorted(n for n, w in traffic.items() if w > 0 and n not in ready)
        if not_ready:
            problems.append(f"deployments given live weight must be Ready: {not_ready} are not")
    return problems


def live_weights(traffic: Mapping[str, int]) -> dict[str, int]:
    """Only the deployments that receive live traffic."""
    return {name: weight for name, weight in traffic.items() if weight > 0}
