"""Release records rendered as Markdown and JSON (exact output), and the times they accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from console.domain.approvals import ChangeProposal, ProposalState
from console.domain.endpoint_policy import EndpointPolicy
from console.domain.guards import Guard, Level, Verdict
from console.domain.models import Slo, Split
from console.domain.policy import Figures
from console.domain.records import (
    RecordChange,
    RecordEvent,
    ReleaseRecord,
    WindowFigures,
    parse_when,
    to_json,
    to_markdown,
)

T0 = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def figures(requests: float, errors: float, p50: float, p95: float, p99: float) -> Figures:
    return Figures(window_s=60, requests=requests, live_requests=requests, errors_5xx=errors,
                   latency_ms={"p50": p50, "p95": p95, "p99": p99})


V1_ONLY = Split(traffic={"fraud-v1": 100})
CANARY = Split(traffic={"fraud-v1": 90, "fraud-v2": 10})

PROPOSAL = ChangeProposal(
    id=7, endpoint="fraud", state=ProposalState.APPROVED, revision=3, before=V1_ONLY, after=CANARY,
    reason="canary step 1", proposer="alice@laptop", proposer_identity="cli-a1", created=at(0), expires=at(3600),
    decided_by="bob@desk", decided_identity="console-b2", decided=at(120), decision_reason="looks fine",
    applied_revision=4,
    verdicts=(Verdict(guard=Guard.STEP_SIZE, level=Level.PASS, reason="fraud-v2 rises 10 points (max 25)"),
              Verdict(guard=Guard.HEALTH, level=Level.WARN, reason="fraud-v2: no telemetry yet")),
)

RECORD = ReleaseRecord(
    endpoint="fraud", since=at(-600), until=at(900), generated=at(901),
    production=True, policy=EndpointPolicy(approval_required=True, approvers=("bob",)),
    slo=Slo(percentile="p95", latency_ms=100, error_rate_percent=1, window_s=60),
    live_at_start=RecordChange(revision=3, time=at(-3600), kind="shift", actor="alice@laptop", after=V1_ONLY),
    changes=(
        RecordChange(
            revision=4, time=at(120), kind="shift", actor="bob@desk", identity="console-b2",
            reason="canary step 1 (proposal 7)", before=V1_ONLY, after=CANARY,
            proposal=7, proposer="alice@laptop", approver="bob@desk", verdicts=PROPOSAL.verdicts,
            figures_before=WindowFigures(start=at(60), end=at(120),
                                         deployments={"fraud-v1": figures(1200, 0, 3.1, 8.25, 12)}),
            figures_after=WindowFigures(start=at(120), end=at(180),
                                        deployments={"fraud-v1": figures(1080, 0, 3.2, 8.5, 12.5),
                                                     "fraud-v2": figures(120, 6, 40, 310.4, 480)}),
        ),
        RecordChange(
            revision=5, time=at(200), kind="rollback", actor="carol@oncall", reason="p95 breach on fraud-v2",
            before=CANARY, after=V1_ONLY, restores=3,
            figures_before=WindowFigures(start=at(140), end=at(200), deployments={},
                                         note="no telemetry in this window"),
            figures_after=None,
        ),
    ),
    proposals=(PROPOSAL,),
    events=(
        RecordEvent(seq=41, time=at(0), actor="alice@laptop", identity="cli-a1", action="proposal.create",
                    outcome="ok", reason="canary step 1"),
        RecordEvent(seq=42, time=at(120), actor="bob@desk", identity="console-b2", action="proposal.approve",
                    outcome="ok", reason="looks fine"),
        RecordEvent(seq=43, time=at(200), actor="carol@oncall", action="traffic.rollback", outcome="ok",
                    reason="p95 breach on fraud-v2 | paged"),
    ),
)

EXPECTED_MD = """\
# Release record: fraud

- Window: 2025-03-04 09:50:00 UTC to 2025-03-04 10:15:00 UTC
- Generated: 2025-03-04 10:15:01 UTC
- Production: yes
- SLO: p95 ≤ 100 ms, 5xx errors ≤ 1% over 60 s
- Policy: steps 5, 25, 50, 100; max step 25 points; bake 300 s; approval required (approvers: bob)
- Live at the start: revision 3: fraud-v1=100

## Summary

| revision | time | kind | actor | split after | reason |
|---:|---|---|---|---|---|
| 4 | 2025-03-04 10:02:00 UTC | shift | bob@desk | fraud-v1=90 fraud-v2=10 | canary step 1 (proposal 7) |
| 5 | 2025-03-04 10:03:20 UTC | rollback | carol@oncall | fraud-v1=100 | p95 breach on fraud-v2 |

## Changes

### Revision 4 · shift · 2025-03-04 10:02:00 UTC

- Actor: bob@desk (identity console-b2)
- Reason: canary step 1 (proposal 7)
- Split: fraud-v1=100 → fraud-v1=90 fraud-v2=10
- Approval: proposal 7 by alice@laptop, approved by bob@desk
- Guard verdicts:
  - pass · step size: fraud-v2 rises 10 points (max 25)
  - warn · health: fraud-v2: no telemetry yet
- Figures before: 60 s, 2025-03-04 10:01:00 UTC to 2025-03-04 10:02:00 UTC
- Figures after: 60 s, 2025-03-04 10:02:00 UTC to 2025-03-04 10:03:00 UTC

| deployment | window | requests | req/s | 5xx | p50 ms | p95 ms | p99 ms |
|---|---|---:|---:|---:|---:|---:|---:|
| fraud-v1 | before | 1200 | 20.0 | 0.00% | 3.1 | 8.2 | 12.0 |
| fraud-v1 | after | 1080 | 18.0 | 0.00% | 3.2 | 8.5 | 12.5 |
| fraud-v2 | before | - | - | - | - | - | - |
| fraud-v2 | after | 120 | 2.0 | 5.00% | 40.0 | 310.4 | 480.0 |

### Revision 5 · rollback · 2025-03-04 10:03:20 UTC

- Actor: carol@oncall
- Reason: p95 breach on fraud-v2
- Split: fraud-v1=90 fraud-v2=10 → fraud-v1=100
- Restores: revision 3
- Figures before: 60 s, 2025-03-04 10:02:20 UTC to 2025-03-04 10:03:20 UTC (no telemetry in this window)
- Figures after: not measured yet

## Proposals

| id | state | proposer | made | split asked | decided by | why |
|---:|---|---|---|---|---|---|
| 7 | approved | alice@laptop | 2025-03-04 10:00:00 UTC | fraud-v1=90 fraud-v2=10 | bob@desk | looks fine |

## Audit events

| seq | time | actor | action | outcome | reason |
|---:|---|---|---|---|---|
| 41 | 2025-03-04 10:00:00 UTC | alice@laptop | proposal.create | ok | canary step 1 |
| 42 | 2025-03-04 10:02:00 UTC | bob@desk | proposal.approve | ok | looks fine |
| 43 | 2025-03-04 10:03:20 UTC | carol@oncall | traffic.rollback | ok | p95 breach on fraud-v2 \\| paged |
"""


def test_markdown_lists_every_change_with_actor_reason_verdicts_and_figures() -> None:
    assert to_markdown(RECORD) == EXPECTED_MD


def test_an_empty_window_says_so() -> None:
    empty = ReleaseRecord(endpoint="fraud", since=at(0), until=at(60), generated=at(61))
    assert to_markdown(empty) == (
        "# Release record: fraud\n\n"
        "- Window: 2025-03-04 10:00:00 UTC to 2025-03-04 10:01:00 UTC\n"
        "- Generated: 2025-03-04 10:01:01 UTC\n"
        "- Production: no\n"
        "- SLO: no SLO\n"
        "- Policy: defaults (steps 5, 25, 50, 100; max step 25 points; bake 300 s; no approval needed)\n"
        "- Live at the start: nothing (the endpoint did not exist yet)\n\n"
        "## Summary\n\n"
        "No change of the split in this window.\n\n"
        "## Audit events\n\n"
        "No audit event in this window.\n"
    )


def test_json_holds_the_same_record_and_reads_back() -> None:
    text = to_json(RECORD)
    data = json.loads(text)
    assert text.endswith("}\n")
    assert data["changes"][0]["figures_after"]["deployments"]["fraud-v2"] == {
        "window_s": 60.0, "requests": 120.0, "live_requests": 120.0, "errors_5xx": 6.0,
        "latency_ms": {"p50": 40.0, "p95": 310.4, "p99": 480.0},
    }
    assert data["changes"][0]["verdicts"][1] == {
        "guard": "health", "level": "warn", "reason": "fraud-v2: no telemetry yet", "deployments": [],
        "requires_approval": False,
    }
    assert (data["changes"][1]["restores"], data["changes"][1]["figures_after"]) == (3, None)
    assert data["proposals"][0]["state"] == "approved" and data["since"] == "2025-03-04T09:50:00Z"
    assert ReleaseRecord.model_validate(data) == RECORD


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", at(-90)), ("30m", at(-1800)), ("1h", at(-3600)), ("2d", at(-2 * 86400)), ("1w", at(-7 * 86400)),
    ("1.5h", at(-5400)), ("2025-03-04T08:00:00Z", at(-7200)), ("2025-03-04T09:00:00+01:00", at(-7200)),
])
def test_since_takes_a_duration_or_a_zoned_time(text: str, expected: datetime) -> None:
    assert parse_when(text, T0) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("yesterday", "neither a duration (90s, 30m, 1h, 2d, 1w) nor an ISO 8601 time"),
    ("5 parsecs", "neither a duration"),
    ("2025-03-04T08:00:00", "has no time zone: add Z (UTC) or an offset such as +01:00"),
])
def test_a_bad_time_is_refused_with_what_to_write(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_when(text, T0)
    assert problem in str(caught.value)
