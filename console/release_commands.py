"""`switchboard policy|propose|proposals|approve|reject|record`: an endpoint's policy, changes
that need another person's approval, and release records."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.backends.engine import EngineClient
from console.commands import _pairs
from console.commands import split_text as _split
from console.domain.approvals import ChangeProposal, ProposalState
from console.domain.endpoint_policy import EndpointPolicy
from console.domain.records import parse_when, policy_text, to_json, to_markdown

COMMANDS = ("policy", "propose", "proposals", "approve", "reject", "record")
POLICY_FLAGS = {"steps": "--steps", "max_step": "--max-step", "bake_s": "--bake", "freshness_s": "--freshness",
                "min_requests": "--min-requests", "max_utilization_percent": "--max-utilization",
                "production": "--production", "approval_required": "--approval-required", "approvers": "--approvers"}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    policy = sub.add_parser("policy", parents=[common], help="an endpoint's policy: steps, bake time, approval")
    psub = policy.add_subparsers(dest="policy_command", required=True)
    pshow = psub.add_parser("show", parents=[common], help="print the endpoint's policy")
    pshow.add_argument("endpoint")
    pshow.add_argument("--json", action="store_true")
    pset = psub.add_parser("set", parents=[common], help="change the policy: the flags given, the rest kept")
    pset.add_argument("endpoint")
    pset.add_argument("--steps", default=None, metavar="5,25,50,100", help="rollout step presets, percent")
    pset.add_argument("--max-step", type=int, default=None, metavar="POINTS", help="largest rise of a share")
    pset.add_argument("--bake", type=float, default=None, metavar="SECONDS", help="bake time before a larger rise")
    pset.add_argument("--freshness", type=float, default=None, metavar="SECONDS")
    pset.add_argument("--min-requests", type=int, default=None, metavar="N")
    pset.add_argument("--max-utilization", type=float, default=None, metavar="PERCENT")
    pset.add_argument("--production", action=argparse.BooleanOptionalAction, default=None)
    pset.add_argument("--approval-required", action=argparse.BooleanOptionalAction, default=None)
    pset.add_argument("--approvers", default=None, metavar="NAME,NAME",
                      help="who may approve (user, user@host or identity); '' for anyone but the proposer")
    pset.add_argument("--clear", action="store_true", help="remove the policy: the defaults apply")

    propose = sub.add_parser("propose", parents=[common], help="propose a split for another identity to approve")
    propose.add_argument("endpoint")
    propose.add_argument("weights", nargs="+", metavar="DEPLOYMENT=WEIGHT")
    propose.add_argument("--mirror", action="append", default=[], metavar="DEPLOYMENT=PERCENT")
    propose.add_argument("--reason", default="")
    propose.add_argument("--expires", default="1h", metavar="DURATION", help="e.g. 30m, 1h, 2d (default 1h)")
    propose.add_argument("--if-match", type=int, default=None, help="the revision it is made on (default: current)")

    proposals = sub.add_parser("proposals", parents=[common], help="list proposals (default: pending ones)")
    proposals.add_argument("--state", default="pending", choices=[*(s.value for s in ProposalState), "all"])
    proposals.add_argument("--endpoint", default=None)
    proposals.add_argument("--json", action="store_true")

    approve = sub.add_parser("approve", parents=[common], help="approve a proposal: the engine applies it")
    approve.add_argument("id", type=int)
    approve.add_argument("--reason", default="")
    reject = sub.add_parser("reject", parents=[common], help="reject a proposal, with a reason")
    reject.add_argument("id", type=int)
    reject.add_argument("--reason", required=True)

    record = sub.add_parser("record", parents=[common], help="an endpoint's release record for a time window")
    record.add_argument("endpoint")
    record.add_argument("--since", default="24h", help="1h, 30m, 2d, or an ISO time (local unless it has a zone)")
    record.add_argument("--until", default=None, help="as --since (default: now)")
    record.add_argument("--format", choices=("md", "json"), default="md")
    record.add_argument("-o", "--output", type=Path, default=None, help="write to this file instead of stdout")


def _seconds(text: str, flag: str) -> float:
    now = datetime.now(UTC)
    try:
        return (now - parse_when(text, now)).total_seconds()
    except ValueError as exc:
        raise SystemExit(f"switchboard: {flag}: {exc}") from None


def cmd_policy(args: argparse.Namespace, client: EngineClient) -> int:
    from pydantic import ValidationError

    stored = client.policy(args.endpoint)
    if args.policy_command == "show":
        if args.json:
            print(json.dumps((stored or EndpointPolicy()).model_dump(mode="json"), indent=2))
        else:
            print(f"{args.endpoint}: {policy_text(stored)}")
        return 0
    policy: EndpointPolicy | None = None
    if not args.clear:
        changes: dict[str, Any] = {k: v for k, v in {
            "max_step": args.max_step, "bake_s": args.bake, "freshness_s": args.freshness,
            "min_requests": args.min_requests, "max_utilization_percent": args.max_utilization,
            "production": args.production, "approval_required": args.approval_required}.items() if v is not None}
        if args.steps is not None:
            changes["steps"] = [s.strip() for s in args.steps.split(",") if s.strip()]
        if args.approvers is not None:
            changes["approvers"] = [a.strip() for a in args.approvers.split(",") if a.strip()]
        if not changes:
            print("switchboard policy set: give at least one setting (see --help), or --clear", file=sys.stderr)
            return 2
        try:
            policy = EndpointPolicy.model_validate({**(stored or EndpointPolicy()).model_dump(), **changes})
        except ValidationError as exc:
            for err in exc.errors():
                flag = POLICY_FLAGS.get(str(err["loc"][0]), str(err["loc"][0])) if err["loc"] else "the policy"
                print(f"switchboard policy set: {flag}: {str(err['msg']).removeprefix('Value error, ')}",
                      file=sys.stderr)
            return 2
    after = client.set_policy(args.endpoint, policy)
    print(f"{args.endpoint}: policy {'cleared' if policy is None else 'set'}")
    print(f"  before: {policy_text(stored)}")
    print(f"  after:  {policy_text(after.policy)}")
    return 0


def _proposal_line(p: ChangeProposal) -> str:
    when = p.created.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    decided = f"  {p.state.value} by {p.decided_by}" if p.decided_by else ""
    why = f": {p.decision_reason}" if p.decision_reason else ""
    return (f"{p.id:>4}  {p.state.value:<8} {p.endpoint:<16} r{p.revision:<4} {when}  {p.proposer_text()}\n"
            f"      {_split(p.before.traffic, p.before.mirror)} -> {_split(p.after.traffic, p.after.mirror)}"
            f"  reason: {p.reason or '(none)'}{decided}{why}")


def cmd_propose(args: argparse.Namespace, client: EngineClient) -> int:
    expires = _seconds(args.expires, "--expires")
    revision = args.if_match if args.if_match is not None else client.endpoint(args.endpoint).revision
    proposal = client.propose(args.endpoint, _pairs(args.weights, "weight"), _pairs(args.mirror, "mirror"),
                              revision=revision, reason=args.reason, expires_in_s=expires)
    print(f"proposal {proposal.id} on {proposal.endpoint} (revision {proposal.revision}), pending approval")
    print(f"  before: {_split(proposal.before.traffic, proposal.before.mirror)}")
    print(f"  after:  {_split(proposal.after.traffic, proposal.after.mirror)}")
    print(f"  expires {proposal.expires.astimezone().strftime('%Y-%m-%d %H:%M:%S')}; another identity approves it "
          f"with: switchboard approve {proposal.id}")
    return 0


def cmd_proposals(args: argparse.Namespace, client: EngineClient) -> int:
    found = client.proposals(None if args.state == "all" else args.state, args.endpoint)
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in found], indent=2))
        return 0
    if not found:
        print(f"no {'' if args.state == 'all' else args.state + ' '}proposals")
    for proposal in found:
        print(_proposal_line(proposal))
    return 0


def cmd_approve(args: argparse.Namespace, client: EngineClient) -> int:
    proposal, endpoint = client.approve(args.id, args.reason)
    print(f"proposal {proposal.id} approved: {proposal.endpoint} revision {proposal.revision} -> "
          f"{proposal.applied_revision}")
    print(f"  after:  {_split(endpoint.traffic, endpoint.mirror)}  (router applied revision "
          f"{endpoint.applied_revision})")
    return 0


def cmd_reject(args: argparse.Namespace, client: EngineClient) -> int:
    proposal = client.reject(args.id, args.reason)
    print(f"proposal {proposal.id} rejected: {proposal.decision_reason}")
    return 0


def _time_arg(text: str, flag: str) -> str:
    """An ISO time without a zone is local time; durations pass through."""
    if text.strip()[-1:].isalpha() and text.strip()[:1].isdigit() and "T" not in text:
        return text
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"switchboard record: {flag}: {text!r} is neither a duration (90s, 30m, 1h, 2d) "
                         "nor an ISO 8601 time") from None
    return (when if when.tzinfo else when.astimezone()).isoformat()


def cmd_record(args: argparse.Namespace, client: EngineClient) -> int:
    record = client.record(args.endpoint, _time_arg(args.since, "--since"),
                           _time_arg(args.until, "--until") if args.until else None)
    text = to_markdown(record) if args.format == "md" else to_json(record)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"switchboard record: cannot write {args.output}: {exc.strerror}") from None
    print(f"release record of {args.endpoint}: {len(record.changes)} changes, {len(record.events)} audit events "
          f"-> {args.output}")
    return 0


HANDLERS = {"policy": cmd_policy, "propose": cmd_propose, "proposals": cmd_proposals, "approve": cmd_approve,
            "reject": cmd_reject, "record": cmd_record}
