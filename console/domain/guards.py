"""Guards: a proposed change to an endpoint's split, and a snapshot of the endpoint, in;
one verdict per rule out (pass, warn or block), each with a reason a person can act on.

Pure functions: the caller passes the time (`Context.now`) and every figure read.
A rollback is checked only for freshness and for another change in flight; a shift by
every guard. `overall` gives the worst verdict: block > warn > pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from console.domain.models import DeploymentState, Slo
from console.domain.policy import (
    Context,
    DeploymentContext,
    EndpointPolicy,
    Figures,
    Proposal,
    Saturation,
    summarize,
)

__all__ = [
    "Context", "DeploymentContext", "EndpointPolicy", "Figures", "Guard", "Level", "Proposal",
    "Saturation", "Verdict", "evaluate", "expected_rps", "overall", "requires_approval", "summarize",
]


class Level(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    WARN = "warn"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return (Level.PASS, Level.WARN, Level.BLOCK).index(self)


class Guard(StrEnum):
    FRESHNESS = "freshness"
    ONE_CHANGE = "one change at a time"
    READINESS = "readiness"
    STEP_SIZE = "step size"
    HEALTH = "health"
    HEADROOM = "headroom"
    PRODUCTION = "production"
    APPROVAL = "approval"


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    guard: Guard
    level: Level
    reason: str
    deployments: tuple[str, ...] = ()
    requires_approval: bool = False


Finding = tuple[Level, str, str]  # level, deployment, text


def _verdict(guard: Guard, findings: Sequence[Finding], none: str) -> Verdict:
    """The worst finding decides; the reason lists the findings, worst first."""
    if not findings:
        return Verdict(guard=guard, level=Level.PASS, reason=none)
    worst = max(f[0].rank for f in findings)
    shown = [f for f in sorted(findings, key=lambda f: -f[0].rank) if worst == 0 or f[0].rank > 0]
    level = (Level.PASS, Level.WARN, Level.BLOCK)[worst]
    return Verdict(guard=guard, level=level, reason="; ".join(f[2] for f in shown),
                   deployments=tuple(sorted({f[1] for f in findings if f[0].rank == worst and f[1]})))


def duration(seconds: float) -> str:
    """'4.2 s', '45 s', '2 min 30 s', '1 h 5 min'."""
    if seconds < 10:
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + " s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def freshness(p: Proposal, ctx: Context) -> Verdict:
    age = max(0.0, ctx.now - ctx.read_at)
    limit = ctx.policy.freshness_s
    if age > limit:
        return Verdict(guard=Guard.FRESHNESS, level=Level.BLOCK,
                       reason=f"the data is {duration(age)} old (limit {duration(limit)}): "
                              "refresh, then review the change again")
    return Verdict(guard=Guard.FRESHNESS, level=Level.PASS,
                   reason=f"data read {duration(age)} ago (limit {duration(limit)})")


def one_change(p: Proposal, ctx: Context) -> Verdict:
    if ctx.in_flight:
        return Verdict(guard=Guard.ONE_CHANGE, level=Level.BLOCK,
                       reason=f"another change is under way on {p.endpoint} ({ctx.in_flight}): "
                              "wait for it to finish or abort it, then review again")
    if ctx.revision is not None and ctx.revision != p.revision:
        return Verdict(guard=Guard.ONE_CHANGE, level=Level.BLOCK,
                       reason=f"{p.endpoint} is at revision {ctx.revision} but this change was made on "
                              f"revision {p.revision}: someone changed it since; start again from the current split")
    at = f"; {p.endpoint} is still at revision {p.revision}" if ctx.revision is not None else ""
    return Verdict(guard=Guard.ONE_CHANGE, level=Level.PASS, reason=f"no other change is under way{at}")


def _ready(d: DeploymentContext) -> bool:
    return d.state == DeploymentState.READY and 0 < d.replicas_desired <= d.replicas_ready


def readiness(p: Proposal, ctx: Context) -> Verdict:
    findings: list[Finding] = []
    targets = [(n, True) for n in p.live_after()] + [(n, False) for n in sorted(p.mirror_after)
                                                     if p.mirror_after[n] > 0]
    for name, live in targets:
        d = ctx.deployments.get(name)
        if d is None:
            findings.append((Level.BLOCK, name, f"{name} is not a deployment of {p.endpoint} (or it was not read)"))
            continue
        if _ready(d):
            findings.append((Level.PASS, name, name))
            continue
        state = f"{name} is {d.state.value} with {d.replicas_ready}/{d.replicas_desired} replicas ready"
        before, after = p.share(name)
        if not live:
            findings.append((Level.WARN, name, f"{state}; its mirrored requests will fail (clients are not affected)"))
        elif after > before:
            findings.append((Level.BLOCK, name, f"{state}: wait until it is Ready with every replica, or give it 0%"))
        else:
            findings.append((Level.WARN, name, f"{state} and keeps {after}% of live traffic"))
    verdict = _verdict(Guard.READINESS, findings, "no deployment would receive traffic")
    if verdict.level == Level.PASS and findings:
        names = ", ".join(f[2] for f in findings)
        return verdict.model_copy(update={"reason": f"{names}: Ready with every desired replica"})
    return verdict


def step_size(p: Proposal, ctx: Context) -> Verdict:
    pol = ctx.policy
    findings: list[Finding] = []
    for name in p.gaining():
        before, after = p.share(name)
        rise = after - before
        d = ctx.deployments.get(name)
        held = d.share_held_s if d is not None else None
        baked = pol.bake_s == 0 or (held is not None and held >= pol.bake_s)
        served = "how long it has held its share is unknown" if held is None else \
            f"it has served {before}% for {duration(held)}"
        if rise > pol.max_step:
            if before >= pol.max_step and baked:
                findings.append((Level.PASS, name, f"{name} rises {rise} points, more than {pol.max_step}, "
                                 f"allowed as {served} (bake time {duration(pol.bake_s)})"))
            else:
                findings.append((Level.BLOCK, name, f"{name} would rise {rise} points ({before}% → {after}%); "
                                 f"at most {pol.max_step} per change until it has served at least {pol.max_step}% "
                                 f"for {duration(pol.bake_s)} ({served}): step to {before + pol.max_step}% instead"))
        elif before > 0 and not baked:
            findings.append((Level.WARN, name, f"{name} rises {rise} points ({before}% → {after}%), but {served}, "
                             f"less than the bake time of {duration(pol.bake_s)}"))
        else:
            findings.append((Level.PASS, name, f"{name} rises {rise} points ({before}% → {after}%; "
                             f"at most {pol.max_step} per change)"))
    return _verdict(Guard.STEP_SIZE, findings, "no deployment's share rises")


def _health_of(name: str, figures: Figures | None, slo: Slo, min_requests: int) -> Finding:
    window = f"the last {duration(slo.window_s)}"
    if figures is None:
        return Level.WARN, name, f"no telemetry for {name} over {window}: its health is unknown"
    if figures.requests <= 0:
        return Level.WARN, name, f"{name} served no requests over {window}: its health is unknown"
    if figures.requests < min_requests:
        return Level.WARN, name, (f"{name} served only {figures.requests:.0f} requests over {window} "
                                  f"(fewer than {min_requests}): its health is unknown")
    checks: list[tuple[Level, str]] = []
    if slo.latency_ms is not None:
        latency = figures.latency_ms.get(slo.percentile)
        if latency is None:
            checks.append((Level.WARN, f"no {slo.percentile} latency figure"))
        elif latency > slo.latency_ms:
            checks.append((Level.BLOCK, f"{slo.percentile} latency {latency:.0f} ms exceeds the SLO of "
                                        f"{slo.latency_ms:g} ms"))
        else:
            checks.append((Level.PASS, f"{slo.percentile} {latency:.0f} ms (SLO {slo.latency_ms:g} ms)"))
    if slo.error_rate_percent is not None:
        rate = figures.error_rate_percent()
        if rate is None:
            checks.append((Level.WARN, "no error count"))
        elif rate > slo.error_rate_percent:
            checks.append((Level.BLOCK, f"{_pct(rate)} of requests failed (5xx), the SLO allows "
                                        f"{_pct(slo.error_rate_percent)}"))
        else:
            checks.append((Level.PASS, f"5xx {_pct(rate)} (SLO {_pct(slo.error_rate_percent)})"))
    worst = max(c[0].rank for c in checks)
    shown = ", ".join(c[1] for c in checks if worst == 0 or c[0].rank > 0)
    return (Level.PASS, Level.WARN, Level.BLOCK)[worst], name, \
        f"{name}: {shown} over {window}, {figures.requests:.0f} requests"


def health(p: Proposal, ctx: Context) -> Verdict:
    gaining = p.gaining()
    if not gaining:
        return Verdict(guard=Guard.HEALTH, level=Level.PASS, reason="no deployment's share rises")
    slo = ctx.slo
    if slo is None or (slo.latency_ms is None and slo.error_rate_percent is None):
        return Verdict(guard=Guard.HEALTH, level=Level.PASS,
                       reason=f"{p.endpoint} has no SLO; health is not checked")
    findings = []
    for name in gaining:
        d = ctx.deployments.get(name)
        findings.append(_health_of(name, d.figures if d is not None else None, slo, ctx.policy.min_requests))
    return _verdict(Guard.HEALTH, findings, "")


def expected_rps(p: Proposal, ctx: Context) -> dict[str, float | None]:
    """Requests per second each deployment would receive after the change at today's load
    (live share plus mirrored share); None where the load is unknown."""
    load = ctx.load_rps()
    names = sorted(set(p.after) | set(p.mirror_after))
    share = {n: p.after.get(n, 0) + p.mirror_after.get(n, 0) for n in names}
    return {n: None if load is None else load * share[n] / 100 for n in names}


def _load_of(name: str, expected: float, sat: Saturation | None, limit: float) -> Finding:
    unknown = (Level.PASS, name, f"saturation unknown for {name}")
    if sat is None or not sat.rps:
        return unknown
    cpu_known = sat.cpu_percent is not None and sat.cpu_capacity_percent is not None
    if not cpu_known and sat.gpu_percent is None:
        return unknown
    scale = expected / sat.rps
    checks: list[tuple[Level, str]] = []
    if sat.cpu_percent is not None and sat.cpu_capacity_percent is not None:
        cpu, cap = sat.cpu_percent * scale, sat.cpu_capacity_percent
        level = Level.BLOCK if cpu > cap else Level.WARN if cpu > cap * limit / 100 else Level.PASS
        checks.append((level, f"CPU ~{cpu:.0f}% of {cap:.0f}% available"))
    if sat.gpu_percent is not None:
        gpu = sat.gpu_percent * scale
        level = Level.BLOCK if gpu > 100 else Level.WARN if gpu > limit else Level.PASS
        checks.append((level, f"GPU ~{gpu:.0f}%"))
    worst = max(c[0].rank for c in checks)
    level = (Level.PASS, Level.WARN, Level.BLOCK)[worst]
    text = f"{name} would receive ~{expected:.0f} rps (now {sat.rps:.0f} rps): " + ", ".join(c[1] for c in checks)
    if level == Level.BLOCK:
        text += ": add replicas or take a smaller step"
    elif level == Level.WARN:
        text += f" (above {limit:g}%)"
    return level, name, text


def headroom(p: Proposal, ctx: Context) -> Verdict:
    gaining = sorted(set(p.gaining()) |
                     {n for n, w in p.mirror_after.items() if w > p.mirror_before.get(n, 0)})
    if not gaining:
        return Verdict(guard=Guard.HEADROOM, level=Level.PASS, reason="no deployment receives more traffic")
    expected = expected_rps(p, ctx)
    findings: list[Finding] = []
    for name in gaining:
        rps = expected.get(name)
        d = ctx.deployments.get(name)
        if rps is None:
            findings.append((Level.PASS, name, f"saturation unknown: the load on {p.endpoint} is unknown"))
        else:
            findings.append(_load_of(name, rps, d.saturation if d else None, ctx.policy.max_utilization_percent))
    return _verdict(Guard.HEADROOM, findings, "")


def production(p: Proposal, ctx: Context) -> Verdict:
    if not ctx.is_production:
        return Verdict(guard=Guard.PRODUCTION, level=Level.PASS, reason=f"{p.endpoint} is not a production endpoint")
    missing = []
    typed = p.confirmation.strip()
    if typed != p.endpoint:
        missing.append(f"type the endpoint name {p.endpoint!r} to confirm" if not typed else
                       f"{typed!r} is not the endpoint name {p.endpoint!r}: type it exactly to confirm")
    if not p.reason.strip():
        missing.append("give a reason for the change")
    if missing:
        return Verdict(guard=Guard.PRODUCTION, level=Level.BLOCK,
                       reason=f"{p.endpoint} is a production endpoint: " + "; ".join(missing))
    return Verdict(guard=Guard.PRODUCTION, level=Level.PASS,
                   reason="production endpoint confirmed by name, with a reason")


def approval(p: Proposal, ctx: Context) -> Verdict:
    if not ctx.needs_approval:
        return Verdict(guard=Guard.APPROVAL, level=Level.PASS, reason="no approval needed")
    approvers = ctx.policy.approvers
    others = [a for a in approvers if a != p.actor]
    if approvers and not others:
        return Verdict(guard=Guard.APPROVAL, level=Level.BLOCK,
                       reason=f"only {p.actor} may approve changes to {p.endpoint}, and {p.actor} proposed this one: "
                              "add another approver to the endpoint's policy")
    who = f"one of {', '.join(others)}" if others else f"anyone but {p.actor}"
    return Verdict(guard=Guard.APPROVAL, level=Level.PASS, requires_approval=True,
                   reason=f"{p.endpoint} needs approval: this change becomes a proposal, applied once "
                          f"another person ({who}) approves it")


GUARDS: tuple[Callable[[Proposal, Context], Verdict], ...] = (
    freshness, one_change, readiness, step_size, health, headroom, production, approval)
ROLLBACK_GUARDS: tuple[Callable[[Proposal, Context], Verdict], ...] = (freshness, one_change)


def evaluate(proposal: Proposal, context: Context) -> list[Verdict]:
    """Every guard's verdict on the proposal, in a fixed order."""
    if proposal.endpoint != context.endpoint:
        raise ValueError(f"the proposal is for {proposal.endpoint!r} but the context is of {context.endpoint!r}")
    guards = ROLLBACK_GUARDS if proposal.kind == "rollback" else GUARDS
    return [guard(proposal, context) for guard in guards]


def overall(verdicts: Iterable[Verdict]) -> Level:
    """The worst level: block > warn > pass (pass when there are none)."""
    return max((v.level for v in verdicts), key=lambda lv: lv.rank, default=Level.PASS)


def requires_approval(verdicts: Iterable[Verdict]) -> bool:
    """True when the change is to be sent as a proposal for another person to approve."""
    return any(v.requires_approval for v in verdicts)
