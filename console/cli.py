"""The `switchboard` command: the console by default, and the engine's subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from console import __version__
from console.backends.base import BackendError, Conflict, Invalid, Unreachable
from console.backends.engine import EngineClient
from console.backends.identity import IdentityError, load_identity
from console.backends.launcher import default_config_dir, default_state_dir
from console.commands import (
    cmd_apply,
    cmd_audit,
    cmd_delete,
    cmd_demo,
    cmd_engine,
    cmd_logs,
    cmd_revisions,
    cmd_rollback,
    cmd_slo,
    cmd_status,
    cmd_traffic,
    split_text,
)
from console.release_commands import HANDLERS as RELEASE_HANDLERS
from console.release_commands import add_parsers as add_release_parsers
from console.rollout_commands import add_rollout_parser, cmd_rollout


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Operations console for ML model deployments. With no command, opens the console.",
    )
    parser.add_argument("--version", action="version", version=f"switchboard {__version__}")
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help=f"the local engine's state dir (default: {default_state_dir()})",
    )
    parser.add_argument("--config-dir", type=Path, default=None, help="the console's config dir (places, settings)")
    parser.add_argument("--no-demo", action="store_true", help="do not apply the demo or start its traffic")
    parser.add_argument(
        "--screenshot", type=Path, default=None, metavar="PNG",
        help="open the console, save a screenshot of the main window to PNG once it is populated, and quit",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS, help="the local engine's state dir")
    common.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS,
                        help="config dir holding this CLI's identity (cli-identity)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    engine = sub.add_parser("engine", parents=[common], help="run the local engine in the foreground")
    engine.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.1 or ::1)")
    engine.add_argument("--port", type=int, default=0, help="control API port (0: a free port)")
    engine.add_argument("--data-port", type=int, default=0, help="data plane port (0: a free port)")

    apply = sub.add_parser("apply", parents=[common], help="create or update endpoints and deployments from YAML specs")
    apply.add_argument("-f", "--file", type=Path, action="append", required=True, help="spec file (repeatable)")

    status = sub.add_parser("status", parents=[common], help="endpoints, splits, revisions and deployments")
    status.add_argument("--keys", action="store_true", help="show each endpoint's data-plane key")
    status.add_argument("--json", action="store_true", help="print the engine's JSON")

    traffic = sub.add_parser("traffic", parents=[common], help="change an endpoint's traffic split")
    tsub = traffic.add_subparsers(dest="traffic_command", required=True)
    tset = tsub.add_parser("set", parents=[common], help="set the split, e.g. fraud fraud-v1=75 fraud-v2=25")
    tset.add_argument("endpoint")
    tset.add_argument("weights", nargs="+", metavar="DEPLOYMENT=WEIGHT")
    tset.add_argument("--mirror", action="append", default=[], metavar="DEPLOYMENT=PERCENT")
    tset.add_argument("--reason", default="")
    tset.add_argument("--if-match", type=int, default=None, help="expected revision (default: the current one)")

    rollback = sub.add_parser("rollback", parents=[common], help="restore an earlier split as a new revision")
    rollback.add_argument("endpoint")
    rollback.add_argument("--to-revision", type=int, default=None)
    rollback.add_argument("--reason", default="")

    revisions = sub.add_parser("revisions", parents=[common], help="an endpoint's revision history")
    revisions.add_argument("endpoint")

    delete = sub.add_parser("delete", parents=[common], help="drain and delete a deployment")
    delete.add_argument("deployment")
    delete.add_argument("--reason", default="")

    logs = sub.add_parser("logs", parents=[common], help="a deployment's replica output and request lines")
    logs.add_argument("deployment")
    logs.add_argument("--tail", type=int, default=100)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("--replica", default=None)

    audit = sub.add_parser("audit", parents=[common], help="the audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    asub.add_parser("verify", parents=[common], help="check the hash chain and name the first broken event")
    asub.add_parser("list", parents=[common], help="print every event")

    slo = sub.add_parser("slo", parents=[common], help="an endpoint's SLO: latency percentile and error rate")
    ssub = slo.add_subparsers(dest="slo_command", required=True)
    sshow = ssub.add_parser("show", parents=[common], help="print the endpoint's SLO")
    sshow.add_argument("endpoint")
    sset = ssub.add_parser("set", parents=[common], help="replace the endpoint's SLO (or --clear it)")
    sset.add_argument("endpoint")
    sset.add_argument("--percentile", choices=("p95", "p99"), default="p95", help="latency percentile (default p95)")
    sset.add_argument("--latency-ms", type=float, default=None, help="latency threshold in milliseconds")
    sset.add_argument("--error-rate", type=float, default=None, metavar="PERCENT",
                      help="5xx error-rate threshold in percent of requests")
    sset.add_argument("--window", type=int, default=60, metavar="SECONDS",
                      help="seconds each figure is judged over (10..3600, default 60)")
    sset.add_argument("--clear", action="store_true", help="remove the SLO")

    add_rollout_parser(sub, common)

    add_release_parsers(sub, common)  # policy, propose, proposals, approve, reject, record

    demo = sub.add_parser("demo", parents=[common], help="the demo endpoint")
    dsub = demo.add_subparsers(dest="demo_command", required=True)
    dtraffic = dsub.add_parser("traffic", parents=[common], help="send realistic scoring requests until stopped")
    dtraffic.add_argument("--rps", type=_positive, default=20.0, help="requests per second (default 20)")
    dtraffic.add_argument("--endpoint", default="fraud")
    dtraffic.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 10000, got {text}")
    return value




def explain(command: str, exc: BackendError, state_dir: Path) -> str:
    """The error as an operator needs it: what failed, the current state, what to do next."""
    lines = [f"switchboard {command}: {exc}"]
    if isinstance(exc, Invalid) and isinstance(exc.detail, list) and len(exc.detail) > 1:
        lines = [f"switchboard {command}: the engine refused it:"] + [f"  - {p}" for p in exc.detail]
    if isinstance(exc, Conflict) and isinstance(exc.current, dict):
        current = exc.current
        lines.append(
            f"  current: revision {current.get('revision')}: "
            f"{split_text(current.get('traffic', {}), current.get('mirror', {}))}"
        )
        lines.append("  nothing was changed; read the current state and decide again")
    if isinstance(exc, Unreachable) and exc.kind == "timeout" and command in MUTATIONS:
        lines.append("  the outcome is unknown: check with `switchboard revisions` / `switchboard status`")
    if isinstance(exc, Unreachable) and exc.kind == "not-running" and "switchboard engine" not in str(exc):
        lines.append(f"  start one with: switchboard engine --state-dir {state_dir}")
    if isinstance(exc, Unreachable) and exc.kind in ("refused", "protocol"):
        lines.append(
            f"  the engine recorded in {state_dir / 'engine.json'} is not answering; "
            f"start one with: switchboard engine --state-dir {state_dir}"
        )
    return "\n".join(lines)


MUTATIONS = {"apply", "traffic", "rollback", "delete", "slo", "rollout"}
CLI_TIMEOUT = 30.0  # a mutation may wait on the engine's lock; the CLI can wait longer than the console
CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace, EngineClient], int]] = {
    "apply": cmd_apply, "status": cmd_status, "traffic": cmd_traffic, "rollback": cmd_rollback,
    "revisions": cmd_revisions, "delete": cmd_delete, "logs": cmd_logs, "demo": cmd_demo, "slo": cmd_slo,
    "rollout": cmd_rollout,
}

MUTATIONS |= {"policy", "propose", "approve", "reject"}
CLIENT_COMMANDS.update(RELEASE_HANDLERS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    state_dir: Path = (args.state_dir or default_state_dir()).expanduser().resolve()
    if args.command is None:
        from console.app import main as app_main

        return int(app_main(argv))
    if args.command == "engine":
        return cmd_engine(args, state_dir)
    if args.command == "audit":
        return cmd_audit(args, state_dir)
    try:
        identity = load_identity((args.config_dir or default_config_dir()).expanduser(), "cli")
    except IdentityError as exc:
        print(f"switchboard {args.command}: {exc}", file=sys.stderr)
        return 1
    try:
        with EngineClient.for_state_dir(state_dir, timeout=CLI_TIMEOUT, identity=identity) as client:
            return CLIENT_COMMANDS[args.command](args, client)
    except BackendError as exc:
        print(explain(args.command, exc, state_dir), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
