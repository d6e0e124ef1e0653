"""The traffic slider's arithmetic: move one deployment's share, rebalance the others.

A split maps deployment → integer weight; live weights sum to 100 and none is negative.
Moving one deployment gives its counterpart the rest in a two-way split; with more
deployments the unlocked others share the rest in proportion to their current shares
(largest-remainder rounding, ties to the name that sorts first), or evenly when they all
stand at 0. A lock pins a deployment's share. A requested value the locks (or 0..100) do
not allow is clamped, and the result says so and why.

Mirror (shadow) shares are set apart: see `set_mirror`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from console.domain.split import MAX_MIRROR_TOTAL, split_problems


class RebalanceError(ValueError):
    """The split, the locks or the deployment named cannot be rebalanced."""


@dataclass(frozen=True, slots=True)
class Rebalanced:
    """A new split, and whether the moved deployment got the value asked for."""

    split: dict[str, int]
    moved: str
    requested: int
    applied: int
    clamped: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MirrorChange:
    mirror: dict[str, int]
    moved: str
    requested: int
    applied: int
    clamped: bool = False
    reason: str = ""


def _check(split: Mapping[str, int], locks: Collection[str], name: str, value: int) -> None:
    problems = split_problems(split, {}, set(split))
    if problems:
        raise RebalanceError("cannot rebalance this split: " + "; ".join(problems))
    if name not in split:
        raise RebalanceError(f"unknown deployment {name!r} (known: {sorted(split)})")
    unknown = sorted(set(locks) - set(split))
    if unknown:
        raise RebalanceError(f"locks name unknown deployments {unknown} (known: {sorted(split)})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise RebalanceError(f"a share must be an integer, got {value!r}")


def largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` (≥ 0) split over `weights` in proportion, in integers that sum to `total`.

    All weights 0 share evenly. Leftover units go to the largest fractional parts; equal
    fractions go to the name that sorts first, so the result is deterministic.
    """
    if not weights:
        if total:
            raise RebalanceError(f"nowhere to put {total}%")
        return {}
    base = sum(weights.values())
    parts = dict(weights) if base else dict.fromkeys(weights, 1)
    base = base or len(parts)
    floors = {n: total * w // base for n, w in parts.items()}
    leftover = total - sum(floors.values())
    order = sorted(parts, key=lambda n: (-(total * parts[n] % base), n))
    for n in order[:leftover]:
        floors[n] += 1
    return floors


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def rebalance(split: Mapping[str, int], locks: Collection[str], name: str, value: int) -> Rebalanced:
    """Set `name` to `value` (clamped to what 0..100 and the locks allow); the unlocked
    others take the rest in proportion to their current shares."""
    _check(split, locks, name, value)
    current = split[name]
    others = sorted(n for n in split if n != name)
    locked = [n for n in others if n in locks]
    free = [n for n in others if n not in locks]
    locked_total = sum(split[n] for n in locked)
    ceiling = 100 - locked_total
    if name in locks:
        applied, reason = current, f"{name} is locked at {current}%; unlock it to change its share"
    elif not free:
        applied = current
        reason = (f"{name} is the only deployment; it keeps 100%" if not others else
                  f"every other deployment is locked ({_names(locked)}); {name} stays at {current}%: "
                  "unlock one to move it")
    else:
        applied = min(max(value, 0), ceiling)
        reason = ""
        if value < 0:
            reason = f"a share cannot be negative; {name} set to 0%"
        elif value > ceiling and locked:
            held = f"{locked[0]} is locked at {locked_total}%" if len(locked) == 1 else \
                f"{_names(locked)} are locked at {locked_total}% together"
            reason = f"{held}: {name} can take at most {ceiling}%"
        elif value > ceiling:
            reason = f"a share is at most 100%; {name} set to 100%"
    if applied == value:
        reason = ""
    new = dict(split)
    new[name] = applied
    new.update(largest_remainder(ceiling - applied, {n: split[n] for n in free}))
    return Rebalanced(new, name, value, applied, applied != value, reason)


def step_to(split: Mapping[str, int], name: str, target: int, locks: Collection[str] = ()) -> Rebalanced:
    """A preset: `name` to `target` percent (for example a rollout plan's next step)."""
    return rebalance(split, locks, name, target)


def promote(split: Mapping[str, int], name: str, locks: Collection[str] = ()) -> Rebalanced:
    """All live traffic to `name` (as far as the locks allow; the result says if not)."""
    return rebalance(split, locks, name, 100)


def next_step(steps: Sequence[int], share: int) -> int | None:
    """The first step above `share`, or None when the share is at or past the last step."""
    return next((s for s in sorted(steps) if s > share), None)


def set_mirror(traffic: Mapping[str, int], mirror: Mapping[str, int], name: str, value: int) -> MirrorChange:
    """Set `name`'s mirror (shadow) share, clamped to 0..50 in total over all mirror
    targets; a deployment that receives live traffic cannot be a mirror target."""
    known = set(traffic) | set(mirror)
    if name not in known:
        raise RebalanceError(f"unknown deployment {name!r} (known: {sorted(known)})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise RebalanceError(f"a mirror share must be an integer, got {value!r}")
    rest = {n: w for n, w in mirror.items() if n != name}
    problems = [p for p in split_problems(dict.fromkeys(known, 0), rest, known) if "mirror" in p]
    if problems:
        raise RebalanceError("cannot change this mirror: " + "; ".join(problems))
    budget = MAX_MIRROR_TOTAL - sum(rest.values())
    if traffic.get(name, 0) > 0:
        applied = 0
        reason = f"{name} receives {traffic[name]}% of live traffic; it cannot also be a mirror target"
    elif value < 0:
        applied, reason = 0, f"a mirror share cannot be negative; {name} set to 0%"
    elif value > budget:
        applied = budget
        reason = (f"mirror shares may total at most {MAX_MIRROR_TOTAL}%" +
                  (f" and others already take {MAX_MIRROR_TOTAL - budget}%" if budget < MAX_MIRROR_TOTAL else "") +
                  f": {name} can take at most {budget}%")
    else:
        applied, reason = value, ""
    new = dict(mirror)
    if applied:
        new[name] = applied
    else:
        new.pop(name, None)
    return MirrorChange(new, name, value, applied, applied != value, reason if applied != value else "")
