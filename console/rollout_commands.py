"""`switchboard rollout ...`: start a progressive rollout from a plan, follow it, steer it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from console.backends.engine import EngineClient

ACTIONS = {
    "pause": "stop advancing (analysis and automatic rollback go on)",
    "resume": "go on after a pause by hand",
    "approve": "pass the gate the rollout waits at",
    "abort": "stop and put 100%% back on the baseline (the candidate keeps running)",
    "promote": "stop and put 100%% on the candidate",
}


def add_rollout_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    rollout = sub.add_parser("rollout", parents=[common], help="progressive rollouts that the engine runs")
    rsub = rollout.add_subparsers(dest="rollout_command", required=True)
    start = rsub.add_parser("start", parents=[common], help="start a rollout from a plan (YAML)")
    start.add_argument("-f", "--file", type=Path, required=True, help="the plan")
    start.add_argument("--reason", default="")
    status = rsub.add_parser("status", parents=[common], help="the endpoint's rollout: step, analysis, history")
    status.add_argument("endpoint")
    status.add_argument("--json", action="store_true", help="print the engine's JSON")
    for action, text in ACTIONS.items():
        one = rsub.add_parser(action, parents=[common], help=text)
        one.add_argument("endpoint")
        one.add_argument("--reason", default="")


def _clock(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else "-"


def status_text(r: dict[str, Any]) -> str:
    lines = [f"{r['endpoint']}: rollout {r['id']}, {r['description']}"]
    lines.append(f"  candidate {r['candidate']}, baseline {r['baseline']}; started {_clock(r['created'])} "
                 f"by {r['actor']}" + (f" ({r['reason']})" if r["reason"] else ""))
    marks = []
    for i, step in enumerate(r["steps"]):
        text = f"{step['weight']}%" + (" (gate)" if step["gate"] else "")
        marks.append(f"[{text}]" if i == r["step"] and r["active"] else text)
    left = f", {r['bake_left_s']:.0f} s left at this step" if r.get("bake_left_s") else ""
    lines.append(f"  steps: {' -> '.join(marks)}; bake {r['plan']['bake_s']:g} s per step{left}")
    last = r.get("last_analysis")
    if last:
        checks = "; ".join(c["text"] for c in last["checks"])
        lines.append(f"  last analysis {_clock(last['time'])}: {last['verdict']}: {checks}")
    limit = r["plan"]["analysis"]["rollback_after"]
    if r["active"]:
        lines.append(f"  failed analyses in a row: {r['failures']} (rolls back at {limit})")
    if r["outcome"]:
        lines.append(f"  {_clock(r['finished'])}: {r['outcome']}")
    split = ", ".join(f"{k}={v}" for k, v in sorted(r["traffic"].items()))
    lines.append(f"  live split: {split}")
    return "\n".join(lines)


def cmd_rollout(args: argparse.Namespace, client: EngineClient) -> int:
    from console.domain.rollout_plan import PlanError, parse_plan

    if args.rollout_command == "start":
        try:
            text = args.file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"switchboard rollout start: cannot read {args.file}: {exc.strerror}") from None
        try:
            plan = parse_plan(text, str(args.file))  # local check first: errors name the field and line
        except PlanError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 1
        print(status_text(client.start_rollout(plan.endpoint, text, args.reason)))
        return 0
    if args.rollout_command == "status":
        found = client.rollout(args.endpoint)
        print(json.dumps(found, indent=2) if args.json else status_text(found))
        return 0
    print(status_text(client.rollout_action(args.endpoint, args.rollout_command, args.reason)))
    return 0
