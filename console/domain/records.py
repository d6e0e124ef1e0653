"""Release records: for one endpoint and a time window, every revision, proposal, approval,
rollback and audit event, with actor, reason, guard verdicts and the request figures before
and after each change. The engine assembles one; this module reads times and renders it as
Markdown or JSON. Pure: the caller passes `now`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from console.domain.approvals import ChangeProposal
from console.domain.endpoint_policy import EndpointPolicy
from console.domain.guards import Verdict
from console.domain.models import Slo, Split
from console.domain.policy import Figures
from console.domain.slo import slo_text

UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WindowFigures(Frozen):
    """What each deployment of the endpoint served over one window."""

    start: datetime
    end: datetime
    deployments: dict[str, Figures] = Field(default_factory=dict, description="deployments that had telemetry")
    note: str = Field(default="", description="why figures are missing or partial")


class RecordChange(Frozen):
    """One revision of the endpoint's split."""

    revision: int
    time: datetime
    kind: str = Field(description="create, shift, rollback, or another kind the engine records")
    actor: str
    identity: str | None = None
    reason: str = ""
    before: Split | None = Field(default=None, description="the split it replaced; None for the first")
    after: Split
    restores: int | None = None
    proposal: int | None = Field(default=None, description="the proposal whose approval made it")
    proposer: str | None = None
    approver: str | None = None
    verdicts: tuple[Verdict, ...] = ()
    figures_before: WindowFigures | None = None
    figures_after: WindowFigures | None = Field(default=None, description="None: not measured yet")


class RecordEvent(Frozen):
    """An audit event of the endpoint (every mutation, refusal, proposal, rollout step)."""

    seq: int
    time: datetime
    actor: str
    identity: str | None = None
    action: str
    deployment: str | None = None
    outcome: str
    reason: str = ""
    before: Any = None
    after: Any = None


class ReleaseRecord(Frozen):
    endpoint: str
    since: datetime
    until: datetime
    generated: datetime
    production: bool = False
    policy: EndpointPolicy | None = None
    slo: Slo | None = None
    live_at_start: RecordChange | None = Field(default=None, description="the revision live at `since`")
    changes: tuple[RecordChange, ...] = ()
    proposals: tuple[ChangeProposal, ...] = ()
    events: tuple[RecordEvent, ...] = ()


# -- reading times -------------------------------------------------------------------

def parse_when(text: str, now: datetime) -> datetime:
    """'90s', '30m', '1h', '2d', '1w' before `now`, or an ISO 8601 time with its zone.
    Raises ValueError with a sentence."""
    match = RELATIVE.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * UNITS[match.group(2)])
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (90s, 30m, 1h, 2d, 1w) nor an ISO 8601 time") from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z (UTC) or an offset such as +01:00")
    return when


# -- rendering ---------------------------------------------------------------------

def to_json(record: ReleaseRecord) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def _t(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _split(split: Split | None) -> str:
    if split is None:
        return "none"
    live = " ".join(f"{k}={v}" for k, v in sorted(split.traffic.items()) if v) or "no live traffic"
    copies = " ".join(f"{k}={v}" for k, v in sorted(split.mirror.items()) if v)
    return f"{live} (mirror {copies})" if copies else live


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def policy_text(policy: EndpointPolicy | None) -> str:
    p = policy or EndpointPolicy()
    approval = "approval required" if p.approval_required else "no approval needed"
    if p.approval_required and p.approvers:
        approval += f" (approvers: {', '.join(p.approvers)})"
    text = (f"steps {', '.join(str(s) for s in p.steps)}; max step {p.max_step} points; bake {p.bake_s:g} s; "
            f"{approval}")
    return text if policy is not None else f"defaults ({text})"


def _figures_rows(change: RecordChange) -> list[str]:
    rows = []
    windows = (("before", change.figures_before), ("after", change.figures_after))
    names = sorted({n for _, w in windows if w for n in w.deployments})
    for name in names:
        for label, window in windows:
            fig = window.deployments.get(name) if window else None
            if fig is None:
                rows.append(f"| {name} | {label} | - | - | - | - | - | - |")
                continue
            rate = fig.error_rate_percent()
            rows.append(
                f"| {name} | {label} | {fig.requests:.0f} | {fig.rps:.1f} | "
                f"{'-' if rate is None else f'{rate:.2f}%'} | {_num(fig.latency_ms.get('p50'))} | "
                f"{_num(fig.latency_ms.get('p95'))} | {_num(fig.latency_ms.get('p99'))} |"
            )
    return rows


def _window_line(label: str, window: WindowFigures | None) -> str:
    if window is None:
        return f"- Figures {label}: not measured yet"
    seconds = (window.end - window.start).total_seconds()
    note = f" ({window.note})" if window.note else ""
    return f"- Figures {label}: {seconds:g} s, {_t(window.start)} to {_t(window.end)}{note}"


def _change(change: RecordChange) -> list[str]:
    who = f"{change.actor} (identity {change.identity})" if change.identity else change.actor
    lines = [f"### Revision {change.revision} · {change.kind} · {_t(change.time)}", "",
             f"- Actor: {who}", f"- Reason: {change.reason or '(none given)'}",
             f"- Split: {_split(change.before)} → {_split(change.after)}"]
    if change.restores is not None:
        lines.append(f"- Restores: revision {change.restores}")
    if change.proposal is not None:
        lines.append(f"- Approval: proposal {change.proposal} by {change.proposer}, approved by {change.approver}")
    if change.verdicts:
        lines.append("- Guard verdicts:")
        lines += [f"  - {v.level.value} · {v.guard.value}: {v.reason}" for v in change.verdicts]
    if change.kind != "create" or change.figures_before or change.figures_after:
        lines += [_window_line("before", change.figures_before), _window_line("after", change.figures_after)]
    rows = _figures_rows(change)
    if rows:
        lines += ["", "| deployment | window | requests | req/s | 5xx | p50 ms | p95 ms | p99 ms |",
                  "|---|---|---:|---:|---:|---:|---:|---:|", *rows]
    return [*lines, ""]


def to_markdown(record: ReleaseRecord) -> str:
    lines = [f"# Release record: {record.endpoint}", "",
             f"- Window: {_t(record.since)} to {_t(record.until)}",
             f"- Generated: {_t(record.generated)}",
             f"- Production: {'yes' if record.production or (record.policy and record.policy.production) else 'no'}",
             f"- SLO: {slo_text(record.slo)}",
             f"- Policy: {policy_text(record.policy)}"]
    start = record.live_at_start
    lines.append(f"- Live at the start: revision {start.revision}: {_split(start.after)}" if start
                 else "- Live at the start: nothing (the endpoint did not exist yet)")
    lines += ["", "## Summary", ""]
    if record.changes:
        lines += ["| revision | time | kind | actor | split after | reason |", "|---:|---|---|---|---|---|"]
        lines += [f"| {c.revision} | {_t(c.time)} | {c.kind} | {_cell(c.actor)} | {_cell(_split(c.after))} | "
                  f"{_cell(c.reason)} |" for c in record.changes]
    else:
        lines.append("No change of the split in this window.")
    if record.changes:
        lines += ["", "## Changes", ""]
        for change in record.changes:
            lines += _change(change)
    else:
        lines.append("")
    if record.proposals:
        lines += ["## Proposals", "", "| id | state | proposer | made | split asked | decided by | why |",
                  "|---:|---|---|---|---|---|---|"]
        lines += [f"| {p.id} | {p.state.value} | {_cell(p.proposer)} | {_t(p.created)} | {_cell(_split(p.after))} | "
                  f"{_cell(p.decided_by or '')} | {_cell(p.decision_reason or p.reason)} |" for p in record.proposals]
        lines.append("")
    lines += ["## Audit events", ""]
    if record.events:
        lines += ["| seq | time | actor | action | outcome | reason |", "|---:|---|---|---|---|---|"]
        lines += [f"| {e.seq} | {_t(e.time)} | {_cell(e.actor)} | {e.action} | {_cell(e.outcome)} | "
                  f"{_cell(e.reason)} |" for e in record.events]
    else:
        lines.append("No audit event in this window.")
    return "\n".join(lines) + "\n"
