"""Guards (console/domain/guards.py): each rule's pass / warn / block boundaries, verdicts
that only get worse as a change gets riskier, and reasons a person can act on."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from console.domain.guards import (
    Context,
    DeploymentContext,
    EndpointPolicy,
    Figures,
    Guard,
    Level,
    Proposal,
    Saturation,
    Verdict,
    evaluate,
    expected_rps,
    freshness,
    headroom,
    health,
    one_change,
    overall,
    production,
    readiness,
    requires_approval,
    step_size,
    summarize,
)
from console.domain.guards import approval as approval_guard
from console.domain.models import Slo
from console.domain.telemetry import Sample

FAST = settings(max_examples=200, deadline=None)
RANK = {Level.PASS: 0, Level.WARN: 1, Level.BLOCK: 2}
NOW = 1_700_000_000.0
SLO = Slo(percentile="p95", latency_ms=250, error_rate_percent=1, window_s=60)


def ready(**kw: Any) -> DeploymentContext:
    return DeploymentContext(**{"state": "Ready", "replicas_ready": 2, "replicas_desired": 2, **kw})


def shift(canary: int = 25, before: int = 5, **kw: Any) -> Proposal:
    """stable/canary: the canary moves from `before` to `canary` percent."""
    fields: dict[str, Any] = {"endpoint": "fraud", "before": {"stable": 100 - before, "canary": before},
                              "after": {"stable": 100 - canary, "canary": canary}, "revision": 7, "actor": "alice"}
    return Proposal(**{**fields, **kw})


def context(**kw: Any) -> Context:
    fields: dict[str, Any] = {"endpoint": "fraud", "read_at": NOW - 1, "now": NOW, "revision": 7,
                              "deployments": {"stable": ready(share_held_s=86400), "canary": ready(share_held_s=600)}}
    return Context(**{**fields, **kw})


def with_canary(ctx: Context, **kw: Any) -> Context:
    deployments = dict(ctx.deployments)
    deployments["canary"] = DeploymentContext(**{**deployments["canary"].model_dump(), **kw})
    return ctx.model_copy(update={"deployments": deployments})


# -- freshness ---------------------------------------------------------------------------

@FAST
@given(st.floats(0, 60, allow_nan=False), st.floats(0.5, 30, allow_nan=False))
def test_freshness_blocks_exactly_when_the_data_is_older_than_the_limit(age: float, limit: float) -> None:
    ctx = context(read_at=NOW - age, policy=EndpointPolicy(freshness_s=limit))
    verdict = freshness(shift(), ctx)
    assert verdict.level == (Level.BLOCK if ctx.now - ctx.read_at > limit else Level.PASS)


def test_freshness_reasons() -> None:
    assert freshness(shift(), context(read_at=NOW - 5)).reason == "data read 5 s ago (limit 5 s)"
    stale = freshness(shift(), context(read_at=NOW - 7.25))
    assert stale.level == Level.BLOCK
    assert stale.reason == "the data is 7.25 s old (limit 5 s): refresh, then review the change again"
    assert freshness(shift(), context(read_at=NOW + 2)).level == Level.PASS  # a clock a little ahead


# -- one change at a time ----------------------------------------------------------------

def test_one_change_at_a_time() -> None:
    ok = one_change(shift(), context())
    assert (ok.level, ok.reason) == (Level.PASS, "no other change is under way; fraud is still at revision 7")
    busy = one_change(shift(), context(in_flight="rollout of canary at step 2 of 4"))
    assert busy.level == Level.BLOCK
    assert busy.reason == ("another change is under way on fraud (rollout of canary at step 2 of 4): "
                           "wait for it to finish or abort it, then review again")
    moved = one_change(shift(), context(revision=8))
    assert moved.level == Level.BLOCK
    assert "fraud is at revision 8 but this change was made on revision 7" in moved.reason
    assert one_change(shift(), context(revision=None)).level == Level.PASS


# -- readiness ---------------------------------------------------------------------------

STATES = ("Creating", "Ready", "Degraded", "Failed", "Deleting")


@FAST
@given(st.sampled_from(STATES), st.integers(0, 4), st.integers(0, 4), st.integers(0, 100), st.integers(0, 100))
def test_readiness_blocks_a_rising_share_on_anything_not_fully_ready(
        state: str, ready_n: int, desired: int, before: int, after: int) -> None:
    ctx = with_canary(context(), state=state, replicas_ready=ready_n, replicas_desired=desired)
    verdict = readiness(shift(canary=after, before=before), ctx)
    fully = state == "Ready" and 0 < desired <= ready_n
    if after == 0 or fully:
        assert verdict.level == Level.PASS
    elif after > before:
        assert verdict.level == Level.BLOCK and verdict.deployments == ("canary",)
    else:  # keeps or loses share: moving traffic away from it must stay possible
        assert verdict.level == Level.WARN


def test_readiness_reasons() -> None:
    ok = readiness(shift(), context())
    assert ok.reason == "canary, stable: Ready with every desired replica"
    ctx = with_canary(context(), state="Creating", replicas_ready=1, replicas_desired=2)
    blocked = readiness(shift(), ctx)
    assert blocked.reason == ("canary is Creating with 1/2 replicas ready: "
                              "wait until it is Ready with every replica, or give it 0%")
    kept = readiness(shift(canary=5, before=25), ctx)
    assert kept.reason == "canary is Creating with 1/2 replicas ready and keeps 5% of live traffic"
    unknown = readiness(Proposal(endpoint="fraud", before={"stable": 100}, after={"stable": 90, "ghost": 10},
                                 revision=7, actor="alice"), context())
    assert unknown.level == Level.BLOCK and "ghost is not a deployment of fraud" in unknown.reason


def test_a_mirror_target_that_is_not_ready_is_a_warning() -> None:
    ctx = with_canary(context(), state="Degraded", replicas_ready=0)
    p = Proposal(endpoint="fraud", before={"stable": 100, "canary": 0}, after={"stable": 100, "canary": 0},
                 mirror_after={"canary": 20}, revision=7, actor="alice")
    verdict = readiness(p, ctx)
    assert verdict.level == Level.WARN
    assert "mirrored requests will fail (clients are not affected)" in verdict.reason


# -- step size ---------------------------------------------------------------------------

@FAST
@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100),
       st.one_of(st.none(), st.floats(0, 3600, allow_nan=False)))
def test_step_size_gets_no_more_lenient_as_the_new_share_grows(before: int, a: int, b: int,
                                                                held: float | None) -> None:
    low, high = sorted((max(a, before), max(b, before)))
    ctx = with_canary(context(), share_held_s=held)
    assert RANK[step_size(shift(low, before), ctx).level] <= RANK[step_size(shift(high, before), ctx).level]


@FAST
@given(st.integers(0, 100), st.integers(0, 100), st.floats(0, 3600, allow_nan=False),
       st.floats(0, 3600, allow_nan=False))
def test_step_size_gets_no_stricter_as_the_share_bakes_longer(before: int, after: int, a: float, b: float) -> None:
    short, long_ = sorted((a, b))
    p = shift(after, before)
    assert RANK[step_size(p, with_canary(context(), share_held_s=short)).level] >= \
        RANK[step_size(p, with_canary(context(), share_held_s=long_)).level]


@FAST
@given(st.integers(0, 100), st.integers(0, 100), st.integers(1, 100), st.floats(0, 3600, allow_nan=False))
def test_step_size_rule(before: int, after: int, max_step: int, held: float) -> None:
    policy = EndpointPolicy(max_step=max_step, bake_s=300)
    verdict = step_size(shift(after, before), with_canary(context(policy=policy), share_held_s=held))
    rise, baked = after - before, held >= 300
    if rise < 0:  # stable (held a day at its share) gains what the canary loses
        rise, before, baked = -rise, 100 - before, True
    if rise > max_step and not (before >= max_step and baked):
        assert verdict.level == Level.BLOCK
        assert f"step to {before + max_step}% instead" in verdict.reason
    elif 0 < rise <= max_step and before > 0 and not baked:
        assert verdict.level == Level.WARN
    else:
        assert verdict.level == Level.PASS


def test_step_size_boundaries_and_reasons() -> None:
    ctx = with_canary(context(), share_held_s=120)
    assert step_size(shift(30, 5), ctx).level == Level.WARN  # 25 points: allowed, not yet baked
    assert step_size(shift(25, 0), ctx).reason == "canary rises 25 points (0% → 25%; at most 25 per change)"
    blocked = step_size(shift(31, 5), ctx)
    assert blocked.level == Level.BLOCK
    assert blocked.reason == ("canary would rise 26 points (5% → 31%); at most 25 per change until it has served "
                              "at least 25% for 5 min (it has served 5% for 2 min): step to 30% instead")
    warned = step_size(shift(30, 5), ctx)
    assert warned.reason == ("canary rises 25 points (5% → 30%), but it has served 5% for 2 min, "
                             "less than the bake time of 5 min")
    baked = step_size(shift(100, 50), with_canary(context(), share_held_s=300))
    assert baked.level == Level.PASS
    assert baked.reason == ("canary rises 50 points, more than 25, allowed as it has served 50% for 5 min "
                            "(bake time 5 min)")
    assert step_size(shift(100, 50), with_canary(context(), share_held_s=299)).level == Level.BLOCK
    unknown = step_size(shift(30, 5), with_canary(context(), share_held_s=None))
    assert "how long it has held its share is unknown" in unknown.reason
    assert step_size(shift(25, 25), ctx).reason == "no deployment's share rises"
    no_bake = context(policy=EndpointPolicy(bake_s=0))
    assert step_size(shift(100, 25), with_canary(no_bake, share_held_s=None)).level == Level.PASS


# -- health ------------------------------------------------------------------------------

def figures(p95: float = 100, errors: float = 0, requests: float = 6000) -> Figures:
    return Figures(window_s=60, requests=requests, errors_5xx=errors, latency_ms={"p95": p95})


@FAST
@given(st.floats(1, 1000, allow_nan=False), st.floats(1, 1000, allow_nan=False),
       st.floats(0, 600, allow_nan=False), st.floats(0, 600, allow_nan=False))
def test_health_gets_no_more_lenient_as_latency_and_errors_grow(l1: float, l2: float, e1: float, e2: float) -> None:
    (la, lb), (ea, eb) = sorted((l1, l2)), sorted((e1, e2))
    better = health(shift(), with_canary(context(slo=SLO), figures=figures(la, ea)))
    worse = health(shift(), with_canary(context(slo=SLO), figures=figures(lb, eb)))
    assert RANK[better.level] <= RANK[worse.level]
    assert better.level == (Level.PASS if la <= 250 and ea <= 60 else Level.BLOCK)


def test_health_boundaries_and_reasons() -> None:
    ctx = context(slo=SLO)
    at = health(shift(), with_canary(ctx, figures=figures(250, 60)))
    assert at.level == Level.PASS
    assert at.reason == "canary: p95 250 ms (SLO 250 ms), 5xx 1% (SLO 1%) over the last 1 min, 6000 requests"
    slow = health(shift(), with_canary(ctx, figures=figures(251, 0)))
    assert slow.level == Level.BLOCK
    assert slow.reason == "canary: p95 latency 251 ms exceeds the SLO of 250 ms over the last 1 min, 6000 requests"
    failing = health(shift(), with_canary(ctx, figures=figures(100, 90)))
    assert failing.reason == ("canary: 1.5% of requests failed (5xx), the SLO allows 1% over the last 1 min, "
                              "6000 requests")
    assert failing.deployments == ("canary",)


def test_health_without_telemetry_is_a_warning_not_a_pass() -> None:
    ctx = context(slo=SLO)
    none = health(shift(), ctx)
    assert none.level == Level.WARN
    assert none.reason == "no telemetry for canary over the last 1 min: its health is unknown"
    idle = health(shift(), with_canary(ctx, figures=figures(requests=0)))
    assert (idle.level, idle.reason) == (Level.WARN, "canary served no requests over the last 1 min: "
                                                     "its health is unknown")
    few = health(shift(), with_canary(ctx, figures=figures(requests=19)))
    assert few.reason == "canary served only 19 requests over the last 1 min (fewer than 20): its health is unknown"
    assert health(shift(), with_canary(ctx, figures=figures(requests=20))).level == Level.PASS
    no_p95 = health(shift(), with_canary(ctx, figures=Figures(window_s=60, requests=30, errors_5xx=0)))
    assert no_p95.level == Level.WARN and "no p95 latency figure" in no_p95.reason


def test_health_only_judges_deployments_gaining_share_and_needs_an_slo() -> None:
    sick = with_canary(context(slo=SLO), figures=figures(900, 600))
    assert health(shift(canary=5, before=5), sick).reason == "no deployment's share rises"
    stable = sick.model_copy(update={"deployments": {**sick.deployments, "stable": ready(figures=figures(100))}})
    assert health(shift(canary=0, before=5), stable).level == Level.PASS
    assert health(shift(), with_canary(context(), figures=figures(900))).reason == \
        "fraud has no SLO; health is not checked"


# -- headroom ----------------------------------------------------------------------------

def busy(cpu: float = 50, rps: float = 10, capacity: float = 200, gpu: float | None = None) -> Saturation:
    return Saturation(rps=rps, cpu_percent=cpu, cpu_capacity_percent=capacity, gpu_percent=gpu)


@FAST
@given(st.integers(0, 100), st.integers(0, 100), st.floats(1, 400, allow_nan=False),
       st.one_of(st.none(), st.floats(0, 100, allow_nan=False)))
def test_headroom_gets_no_more_lenient_as_the_new_share_grows(a: int, b: int, cpu: float, gpu: float | None) -> None:
    low, high = sorted((a, b))
    ctx = with_canary(context(endpoint_rps=100), saturation=busy(cpu=cpu, gpu=gpu))
    assert RANK[headroom(shift(low, 0), ctx).level] <= RANK[headroom(shift(high, 0), ctx).level]


@FAST
@given(st.integers(1, 100), st.floats(0, 400, allow_nan=False))
def test_headroom_rule_for_cpu(share: int, cpu: float) -> None:
    # canary measured `cpu`% at 10 rps; the endpoint serves 100 rps; 200% (2 cores) available
    verdict = headroom(shift(share, 0), with_canary(context(endpoint_rps=100), saturation=busy(cpu=cpu)))
    projected = cpu * share / 10
    expected = Level.BLOCK if projected > 200 else Level.WARN if projected > 160 else Level.PASS
    assert verdict.level == expected


def test_headroom_reasons() -> None:
    ctx = context(endpoint_rps=100)
    ok = headroom(shift(25, 5), with_canary(ctx, saturation=busy(cpu=40)))
    assert ok.reason == "canary would receive ~25 rps (now 10 rps): CPU ~100% of 200% available"
    warm = headroom(shift(25, 5), with_canary(ctx, saturation=busy(cpu=70)))
    assert warm.level == Level.WARN and warm.reason.endswith("CPU ~175% of 200% available (above 80%)")
    hot = headroom(shift(25, 5), with_canary(ctx, saturation=busy(cpu=40, gpu=60)))
    assert hot.level == Level.BLOCK
    assert hot.reason == ("canary would receive ~25 rps (now 10 rps): CPU ~100% of 200% available, GPU ~150%: "
                          "add replicas or take a smaller step")


def test_unknown_saturation_passes_and_says_so() -> None:
    ctx = context(endpoint_rps=100)
    for sat in (None, Saturation(), Saturation(rps=0, cpu_percent=10, cpu_capacity_percent=100),
                Saturation(rps=10, cpu_percent=10)):
        verdict = headroom(shift(), with_canary(ctx, saturation=sat))
        assert (verdict.level, verdict.reason) == (Level.PASS, "saturation unknown for canary")
    no_load = headroom(shift(), with_canary(context(), saturation=busy()))
    assert no_load.reason == "saturation unknown: the load on fraud is unknown"
    assert headroom(shift(25, 25), ctx).reason == "no deployment receives more traffic"


def test_a_growing_mirror_share_counts_as_more_traffic() -> None:
    p = Proposal(endpoint="fraud", before={"stable": 100, "canary": 0}, after={"stable": 100, "canary": 0},
                 mirror_after={"canary": 50}, revision=7, actor="alice")
    verdict = headroom(p, with_canary(context(endpoint_rps=100), saturation=busy(cpu=50)))
    assert verdict.level == Level.BLOCK
    assert verdict.reason.startswith("canary would receive ~50 rps (now 10 rps): CPU ~250% of 200% available")


def test_expected_rps_uses_the_current_load_and_the_new_shares() -> None:
    assert expected_rps(shift(25, 5), context(endpoint_rps=200)) == {"canary": 50.0, "stable": 150.0}
    assert expected_rps(shift(), context()) == {"canary": None, "stable": None}
    # without a given load, the deployments' live figures are summed (mirrored requests are not load)
    ctx = context(deployments={"stable": ready(figures=Figures(window_s=60, requests=5700)),
                               "canary": ready(figures=Figures(window_s=60, requests=600, live_requests=300))})
    assert expected_rps(shift(50, 5), ctx) == {"canary": 50.0, "stable": 50.0}


# -- production --------------------------------------------------------------------------

@FAST
@given(st.text(max_size=8), st.text(max_size=8), st.booleans())
def test_production_needs_the_typed_name_and_a_reason(typed: str, reason: str, prod: bool) -> None:
    verdict = production(shift(confirmation=typed, reason=reason), context(production=prod))
    ok = not prod or (typed.strip() == "fraud" and reason.strip() != "")
    assert verdict.level == (Level.PASS if ok else Level.BLOCK)


def test_production_reasons() -> None:
    prod = context(policy=EndpointPolicy(production=True))
    assert production(shift(), context()).reason == "fraud is not a production endpoint"
    assert production(shift(), prod).reason == ("fraud is a production endpoint: type the endpoint name 'fraud' "
                                                "to confirm; give a reason for the change")
    wrong = production(shift(confirmation="Fraud", reason="canary step"), prod)
    assert wrong.reason == ("fraud is a production endpoint: 'Fraud' is not the endpoint name 'fraud': "
                            "type it exactly to confirm")
    ok = production(shift(confirmation="fraud", reason="canary step"), prod)
    assert (ok.level, ok.reason) == (Level.PASS, "production endpoint confirmed by name, with a reason")


# -- approval ----------------------------------------------------------------------------

def test_approval_turns_the_change_into_a_proposal_for_another_person() -> None:
    free = approval_guard(shift(), context())
    assert (free.level, free.requires_approval, free.reason) == (Level.PASS, False, "no approval needed")
    anyone = approval_guard(shift(), context(approval_required=True))
    assert anyone.requires_approval and anyone.level == Level.PASS
    assert anyone.reason == ("fraud needs approval: this change becomes a proposal, applied once another person "
                             "(anyone but alice) approves it")
    named = approval_guard(shift(), context(policy=EndpointPolicy(approval_required=True,
                                                                  approvers=("alice", "bob", "carol"))))
    assert "(one of bob, carol)" in named.reason
    alone = approval_guard(shift(), context(policy=EndpointPolicy(approval_required=True, approvers=("alice",))))
    assert alone.level == Level.BLOCK
    assert alone.reason == ("only alice may approve changes to fraud, and alice proposed this one: "
                            "add another approver to the endpoint's policy")


# -- evaluate, overall -------------------------------------------------------------------

def test_evaluate_runs_every_guard_in_order_and_a_rollback_only_freshness_and_conflict() -> None:
    ctx = context(slo=SLO, production=True, approval_required=True)
    verdicts = evaluate(shift(), ctx)
    assert [v.guard for v in verdicts] == list(Guard)
    assert requires_approval(verdicts)
    sick = with_canary(ctx, state="Failed", replicas_ready=0, figures=figures(900, 600))
    rollback = shift(canary=0, before=25, kind="rollback")
    assert [v.guard for v in evaluate(rollback, sick)] == [Guard.FRESHNESS, Guard.ONE_CHANGE]
    assert overall(evaluate(rollback, sick)) == Level.PASS
    with pytest.raises(ValueError, match="the proposal is for 'fraud' but the context is of 'other'"):
        evaluate(shift(), context(endpoint="other"))


@FAST
@given(st.lists(st.sampled_from(list(Level))))
def test_overall_is_the_worst_level(levels: list[Level]) -> None:
    verdicts = [Verdict(guard=Guard.HEALTH, level=lv, reason="r") for lv in levels]
    assert overall(verdicts) == max(levels, key=RANK.__getitem__, default=Level.PASS)


# -- the shapes: policy, proposal, telemetry summary -------------------------------------

@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps": (5, 25, 25, 100)}, "steps must rise strictly, got [5, 25, 25, 100]"),
        ({"steps": (50, 25)}, "steps must rise strictly"),
        ({"steps": (0, 50)}, "each step is a share of 1..100 percent, got 0"),
        ({"steps": (5, 150)}, "got 150"),
        ({"max_step": 0}, "greater than or equal to 1"),
        ({"bake_s": -1}, "greater than or equal to 0"),
        ({"approvers": ("bob", " ")}, "an approver's name cannot be empty"),
        ({"approvers": ("bob", "bob")}, "approvers are listed twice: ['bob']"),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EndpointPolicy(**fields)


def test_policy_defaults() -> None:
    policy = EndpointPolicy()
    assert (policy.steps, policy.max_step, policy.bake_s, policy.freshness_s) == ((5, 25, 50, 100), 25, 300, 5)
    assert not policy.production and not policy.approval_required


def test_a_proposal_with_an_invalid_split_is_refused() -> None:
    with pytest.raises(ValidationError, match="after: traffic weights must sum to 100, they sum to 90"):
        shift(after={"stable": 80, "canary": 10})
    with pytest.raises(ValidationError, match="after: a deployment cannot be both a live and a mirror target"):
        shift(mirror_after={"canary": 10})


def sample(t: float, requests: float, p95: float, errors: float = 0, mirror: bool = False) -> Sample:
    return Sample(time=t, endpoint="fraud", deployment="canary", requests=requests, errors_5xx=errors,
                  latency_ms={"p95": p95}, mirror=mirror)


def test_summarize_sums_the_window_and_weights_latency_by_requests() -> None:
    samples = [sample(NOW - 90, 1000, 900),  # outside the window
               sample(NOW - 30, 300, 100, errors=3), sample(NOW - 1, 100, 300, mirror=True),
               sample(NOW + 5, 50, 50)]  # after `now`
    figs = summarize(samples, NOW, 60)
    assert figs is not None
    assert (figs.requests, figs.live_requests, figs.errors_5xx) == (400, 300, 3)
    # the request-weighted p95: 300 of the 400 requests were answered within 100 ms, so not 95%
    assert figs.latency_ms["p95"] == 300
    assert figs.error_rate_percent() == pytest.approx(0.75)
    assert summarize(samples[:1], NOW, 60) is None


@pytest.mark.parametrize("name", ["fraud", "ml/fraud", "ml-prod/fraud.v2-route", "default/iris"])
def test_a_cluster_endpoint_is_named_namespace_slash_name(name: str) -> None:
    assert shift(endpoint=name).endpoint == name


@pytest.mark.parametrize("name", ["ML/fraud", "a/b/c", "/fraud", "ml/", "ml/-x", "fraud scorer"])
def test_names_that_no_place_uses_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        shift(endpoint=name)
