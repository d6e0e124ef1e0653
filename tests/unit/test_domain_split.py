"""Traffic split rules (console/domain/split.py): every reason a split cannot be used."""

from __future__ import annotations

from typing import Any

import pytest

from console.domain.split import MAX_MIRROR_TOTAL, live_weights, split_problems

KNOWN = ("a", "b", "c")


def test_a_valid_split_has_no_problems() -> None:
    assert split_problems({"a": 90, "b": 10}, {}, KNOWN) == []
    assert split_problems({"a": 100, "b": 0}, {"c": 50}, KNOWN, ready={"a"}) == []
    assert split_problems({"a": 100}, {"c": MAX_MIRROR_TOTAL}, KNOWN) == []


@pytest.mark.parametrize(
    ("traffic", "mirror", "expected"),
    [
        ({"a": 60, "b": 30}, {}, "traffic weights must sum to 100, they sum to 90"),
        ({"a": 60, "b": 50}, {}, "they sum to 110"),
        ({}, {}, "they sum to 0"),
        ({"a": 110, "b": -10}, {}, "traffic: weight of 'a' must be 0..100, got 110"),
        ({"a": 110, "b": -10}, {}, "traffic: weight of 'b' must be 0..100, got -10"),
        ({"a": 50.5, "b": 49.5}, {}, "traffic: weight of 'a' must be an integer, got 50.5"),
        ({"a": "50", "b": 50}, {}, "weight of 'a' must be an integer, got '50'"),
        ({"a": True, "b": 99}, {}, "weight of 'a' must be an integer, got True"),
        ({"a": 90, "zz": 10}, {}, "traffic: unknown deployment 'zz'"),
        ({"a": 100}, {"zz": 10}, "mirror: unknown deployment 'zz'"),
        ({"a": 100}, {"b": -1}, "mirror: weight of 'b' must be 0..100, got -1"),
        ({"a": 100}, {"b": 30, "c": 21}, f"mirror shares may total at most {MAX_MIRROR_TOTAL}, they total 51"),
        ({"a": 90, "b": 10}, {"b": 10}, "a deployment cannot be both a live and a mirror target: ['b']"),
    ],
)
def test_each_invalid_split_is_named(traffic: dict[str, Any], mirror: dict[str, Any], expected: str) -> None:
    problems = split_problems(traffic, mirror, KNOWN)
    assert any(expected in p for p in problems), problems


def test_unknown_names_list_the_known_ones() -> None:
    (problem,) = split_problems({"a": 90, "nope": 10}, {}, KNOWN)
    assert "known: ['a', 'b', 'c']" in problem


def test_every_problem_is_reported_not_only_the_first() -> None:
    problems = split_problems({"a": 150, "zz": -50}, {"yy": 10}, KNOWN)
    assert len(problems) == 4, problems


def test_live_weight_needs_ready_but_zero_weight_does_not() -> None:
    assert split_problems({"a": 100, "b": 0}, {}, KNOWN, ready={"a"}) == []
    assert split_problems({"a": 90, "b": 10}, {}, KNOWN, ready={"a"}) == [
        "deployments given live weight must be Ready: ['b'] are not"
    ]
    # Readiness is not asked of mirror targets: a shadow may warm up while copied to.
    assert split_problems({"a": 100}, {"c": 10}, KNOWN, ready={"a"}) == []


def test_zero_mirror_share_alongside_live_weight_is_allowed() -> None:
    assert split_problems({"a": 90, "b": 10}, {"b": 0}, KNOWN) == []


def test_live_weights_drops_zeros() -> None:
    assert live_weights({"a": 100, "b": 0, "c": 0}) == {"a": 100}
    assert live_weights({}) == {}
