"""The traffic slider's arithmetic (console/domain/rebalance.py): the split always sums to
100 with no negative share, locks hold, the moved value is honoured unless clamped (and
then the result says why), and the others share the rest in proportion."""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.domain.rebalance import (
    RebalanceError,
    largest_remainder,
    next_step,
    promote,
    rebalance,
    set_mirror,
    step_to,
)

NAMES = ("fraud-v1", "fraud-v2", "fraud-v3", "gbm", "mlp", "xgb")
FAST = settings(max_examples=200, deadline=None)


@st.composite
def splits(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> dict[str, int]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=min_size, max_size=max_size, unique=True))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(names) - 1, max_size=len(names) - 1)))
    edges = [0, *cuts, 100]
    return {n: edges[i + 1] - edges[i] for i, n in enumerate(names)}


@st.composite
def moves(draw: st.DrawFn, min_size: int = 1) -> tuple[dict[str, int], frozenset[str], str, int]:
    split = draw(splits(min_size=min_size))
    name = draw(st.sampled_from(sorted(split)))
    locks = frozenset(draw(st.sets(st.sampled_from(sorted(split)))))
    value = draw(st.one_of(st.integers(0, 100), st.integers(-50, 200)))
    return split, locks, name, value


@FAST
@given(moves())
def test_the_split_sums_to_100_with_no_negative_share(move: tuple[dict[str, int], frozenset[str], str, int]) -> None:
    split, locks, name, value = move
    result = rebalance(split, locks, name, value)
    assert set(result.split) == set(split)
    assert sum(result.split.values()) == 100
    assert all(0 <= w <= 100 for w in result.split.values())
    assert result.split[name] == result.applied


@FAST
@given(moves())
def test_locked_deployments_keep_their_share(move: tuple[dict[str, int], frozenset[str], str, int]) -> None:
    split, locks, name, value = move
    result = rebalance(split, locks, name, value)
    for locked in locks:
        assert result.split[locked] == split[locked]


@FAST
@given(moves())
def test_the_moved_value_is_honoured_unless_clamped_and_then_the_result_says_why(
        move: tuple[dict[str, int], frozenset[str], str, int]) -> None:
    split, locks, name, value = move
    result = rebalance(split, locks, name, value)
    assert result.requested == value
    assert result.clamped == (result.applied != value)
    if result.clamped:
        assert result.reason
        locked_total = sum(split[n] for n in locks if n != name)
        movable = name not in locks and any(n not in locks for n in split if n != name)
        if movable:  # as close to the request as the locks allow
            assert result.applied == min(max(value, 0), 100 - locked_total)
        else:
            assert result.applied == split[name]
    else:
        assert result.reason == ""


@FAST
@given(moves(min_size=2))
def test_the_unlocked_others_share_the_rest_in_proportion_within_rounding(
        move: tuple[dict[str, int], frozenset[str], str, int]) -> None:
    split, locks, name, value = move
    result = rebalance(split, locks, name, value)
    free = [n for n in split if n != name and n not in locks]
    rest = sum(result.split[n] for n in free)
    base = sum(split[n] for n in free)
    for n in free:
        exact = Fraction(rest * split[n], base) if base else Fraction(rest, len(free))
        assert abs(result.split[n] - exact) < 1, (n, result.split[n], exact)


@FAST
@given(splits(min_size=2, max_size=2), st.integers(0, 100))
def test_a_two_way_split_moves_its_counterpart(split: dict[str, int], value: int) -> None:
    name, other = sorted(split)
    result = rebalance(split, (), name, value)
    assert result.split == {name: value, other: 100 - value}
    assert not result.clamped


@FAST
@given(moves())
def test_setting_a_share_to_its_current_value_changes_nothing(
        move: tuple[dict[str, int], frozenset[str], str, int]) -> None:
    split, locks, name, _ = move
    result = rebalance(split, locks, name, split[name])
    assert result.split == split
    assert not result.clamped


@FAST
@given(moves(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_split(
        move: tuple[dict[str, int], frozenset[str], str, int], rnd: random.Random) -> None:
    split, locks, name, value = move
    items = list(split.items())
    rnd.shuffle(items)
    assert rebalance(dict(items), locks, name, value) == rebalance(split, locks, name, value)


def test_three_way_rebalance_is_proportional_with_largest_remainder_rounding() -> None:
    result = rebalance({"a": 50, "b": 30, "c": 20}, (), "a", 70)
    assert result.split == {"a": 70, "b": 18, "c": 12}
    # 33 left for b and c at 2:1 → 22:11
    assert rebalance({"a": 10, "b": 60, "c": 30}, (), "a", 67).split == {"a": 67, "b": 22, "c": 11}


def test_others_all_at_zero_share_evenly_with_ties_to_the_first_name() -> None:
    assert rebalance({"a": 100, "b": 0, "c": 0}, (), "a", 33).split == {"a": 33, "b": 34, "c": 33}
    assert rebalance({"c": 100, "b": 0, "a": 0}, (), "c", 99).split == {"c": 99, "a": 1, "b": 0}


def test_a_share_at_zero_stays_at_zero_while_others_have_traffic() -> None:
    assert rebalance({"a": 50, "b": 50, "c": 0}, (), "a", 0).split == {"a": 0, "b": 100, "c": 0}


def test_a_lock_limits_the_moved_value_and_says_so() -> None:
    result = rebalance({"a": 40, "b": 30, "c": 30}, {"c"}, "a", 90)
    assert result.split == {"a": 70, "b": 0, "c": 30}
    assert result.clamped
    assert result.reason == "c is locked at 30%: a can take at most 70%"
    two = rebalance({"a": 20, "b": 30, "c": 30, "d": 20}, {"b", "c"}, "a", 90)
    assert two.reason == "b, c are locked at 60% together: a can take at most 40%"


def test_every_other_locked_or_the_moved_one_locked_keeps_the_split() -> None:
    result = rebalance({"a": 40, "b": 60}, {"b"}, "a", 90)
    assert result.split == {"a": 40, "b": 60}
    assert result.reason == "every other deployment is locked (b); a stays at 40%: unlock one to move it"
    own = rebalance({"a": 40, "b": 60}, {"a"}, "a", 10)
    assert own.split == {"a": 40, "b": 60}
    assert own.reason == "a is locked at 40%; unlock it to change its share"
    alone = rebalance({"a": 100}, (), "a", 50)
    assert alone.split == {"a": 100} and alone.reason == "a is the only deployment; it keeps 100%"


def test_values_outside_0_to_100_are_clamped_with_a_reason() -> None:
    assert rebalance({"a": 40, "b": 60}, (), "a", 140).reason == "a share is at most 100%; a set to 100%"
    low = rebalance({"a": 40, "b": 60}, (), "a", -5)
    assert low.split == {"a": 0, "b": 100}
    assert low.reason == "a share cannot be negative; a set to 0%"


@pytest.mark.parametrize(
    ("split", "locks", "name", "value", "message"),
    [
        ({"a": 40, "b": 50}, (), "a", 10, "traffic weights must sum to 100, they sum to 90"),
        ({"a": 110, "b": -10}, (), "a", 10, "weight of 'b' must be 0..100, got -10"),
        ({"a": 40, "b": 60}, (), "zz", 10, "unknown deployment 'zz' (known: ['a', 'b'])"),
        ({"a": 40, "b": 60}, {"zz"}, "a", 10, "locks name unknown deployments ['zz']"),
        ({"a": 40, "b": 60}, (), "a", 10.5, "a share must be an integer, got 10.5"),
        ({"a": 40, "b": 60}, (), "a", True, "a share must be an integer, got True"),
    ],
)
def test_bad_input_is_a_specific_error(split: dict[str, Any], locks: Any, name: str, value: Any,
                                       message: str) -> None:
    with pytest.raises(RebalanceError, match=re.escape(message)):
        rebalance(split, locks, name, value)


def test_promote_gives_one_deployment_everything_as_far_as_locks_allow() -> None:
    assert promote({"a": 75, "b": 25, "c": 0}, "b").split == {"a": 0, "b": 100, "c": 0}
    held = promote({"a": 75, "b": 20, "c": 5}, "b", locks={"c"})
    assert held.split == {"a": 0, "b": 95, "c": 5}
    assert held.clamped and "c is locked at 5%" in held.reason


def test_step_to_and_next_step_follow_the_plan() -> None:
    steps = (5, 25, 50, 100)
    assert next_step(steps, 0) == 5
    assert next_step(steps, 5) == 25
    assert next_step(steps, 30) == 50
    assert next_step(steps, 100) is None
    assert step_to({"stable": 95, "canary": 5}, "canary", 25).split == {"stable": 75, "canary": 25}


@FAST
@given(st.integers(0, 100), st.dictionaries(st.sampled_from(NAMES), st.integers(0, 100), min_size=1))
def test_largest_remainder_sums_exactly_and_stays_within_one_of_the_quota(
        total: int, weights: dict[str, int]) -> None:
    parts = largest_remainder(total, weights)
    assert sum(parts.values()) == total
    base = sum(weights.values())
    for n, w in weights.items():
        exact = Fraction(total * w, base) if base else Fraction(total, len(weights))
        assert abs(parts[n] - exact) < 1


def test_largest_remainder_has_nowhere_to_put_a_share_without_names() -> None:
    assert largest_remainder(0, {}) == {}
    with pytest.raises(RebalanceError, match="nowhere to put 5%"):
        largest_remainder(5, {})


@FAST
@given(splits(min_size=2), st.data())
def test_mirror_shares_stay_within_0_to_50_in_total(split: dict[str, int], data: st.DataObject) -> None:
    idle = sorted(n for n, w in split.items() if w == 0)
    mirror = {n: data.draw(st.integers(0, 10)) for n in idle[:-1]}
    name = data.draw(st.sampled_from(sorted(split)))
    value = data.draw(st.integers(-20, 120))
    change = set_mirror(split, mirror, name, value)
    assert sum(change.mirror.values()) <= 50
    assert all(0 <= w <= 50 for w in change.mirror.values())
    assert change.mirror.get(name, 0) == change.applied
    assert {n: w for n, w in change.mirror.items() if n != name} == {n: w for n, w in mirror.items() if n != name}
    assert change.clamped == (change.applied != value)
    if split[name] > 0:
        assert change.applied == 0
    if split[name] > 0 and value != 0:
        assert "cannot also be a mirror target" in change.reason


def test_mirror_examples_name_the_limit() -> None:
    traffic = {"a": 100, "b": 0, "c": 0}
    assert set_mirror(traffic, {}, "b", 20).mirror == {"b": 20}
    full = set_mirror(traffic, {"c": 30}, "b", 40)
    assert full.mirror == {"c": 30, "b": 20}
    assert full.reason == "mirror shares may total at most 50% and others already take 30%: b can take at most 20%"
    assert set_mirror(traffic, {"b": 20}, "b", 0).mirror == {}
    live = set_mirror(traffic, {}, "a", 10)
    assert live.reason == "a receives 100% of live traffic; it cannot also be a mirror target"
    with pytest.raises(RebalanceError, match="unknown deployment 'zz'"):
        set_mirror(traffic, {}, "zz", 10)
    with pytest.raises(RebalanceError, match="mirror shares may total at most 50, they total 60"):
        set_mirror(traffic, {"b": 60}, "c", 10)
