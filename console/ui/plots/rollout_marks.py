"""A rollout on the charts: its steps and decisions as markers, its failed analyses as shaded
spans. Pure functions over the rollout's JSON (GET /v1/endpoints/{name}/rollout)."""

from __future__ import annotations

from typing import Any

LABELS = {"start": "rollout start", "pause": "rollout paused", "resume": "rollout resumed",
          "approve": "gate approved", "abort": "rollout aborted", "promote": "rollout promoted",
          "succeeded": "rollout succeeded", "rollback": "ROLLED BACK", "restore": "rollout restored"}


def rollout_signature(rollout: dict[str, Any] | None) -> tuple[Any, ...]:
    """What the marks depend on: changes when an event or an analysis is added."""
    if not rollout:
        return ()
    return (rollout.get("id"), len(rollout.get("events") or []), len(rollout.get("analyses") or []),
            rollout.get("phase"))


def rollout_markers(rollout: dict[str, Any] | None, start: float, end: float) -> list[tuple[float, str]]:
    if not rollout:
        return []
    found = []
    candidate, baseline = rollout.get("candidate"), rollout.get("baseline")
    for event in rollout.get("events") or []:
        when, action = float(event["time"]), str(event["action"])
        if not start <= when <= end or action == "start":
            continue  # the first step's marker says it
        if action == "step":
            text = f"step {int(event['step']) + 1}: {event['weight']}% → {candidate}"
        elif action == "rollback":
            text = f"ROLLED BACK: 100% → {baseline}"
        else:
            text = f"{LABELS.get(action, action)} ({event.get('actor')})"
        found.append((when, text))
    return found


def failed_spans(rollout: dict[str, Any] | None, start: float, end: float) -> list[tuple[float, float]]:
    """Each failed analysis shades the interval before it; touching ones merge."""
    if not rollout:
        return []
    interval = float(((rollout.get("plan") or {}).get("analysis") or {}).get("interval_s") or 5)
    spans: list[tuple[float, float]] = []
    for analysis in rollout.get("analyses") or []:
        if analysis.get("verdict") != "fail":
            continue
        when = float(analysis["time"])
        lo, hi = max(start, when - interval), min(end, when)
        if hi <= lo:
            continue
        if spans and lo <= spans[-1][1] + 0.01:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def rollout_actor(rollout: dict[str, Any] | None) -> str:
    return f"rollout:{rollout.get('id')}" if rollout else ""
