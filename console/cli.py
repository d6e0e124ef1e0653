"""The `switchboard` command: the console by default, and the engine's subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console import __version__
from console.backends.base import BackendError, Invalid
from console.backends.engine import EngineClient
from console.backends.launcher import default_state_dir


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

    demo = sub.add_parser("demo", parents=[common], help="the demo endpoint")
    dsub = demo.add_subparsers(dest="demo_command", required=True)
    dtraffic = dsub.add_parser("traffic", parents=[common], help="send realistic scoring requests until stopped")
    dtraffic.add_argument("--rps", type=float, default=20.0)
    dtraffic.add_argument("--endpoint", default="fraud")
    dtraffic.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    return parser


def _pairs(items: list[str], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise SystemExit(f"switchboard: {what} {item!r} must look like NAME=INTEGER")
        out[name.strip()] = int(value)
    return out


def cmd_engine(args: argparse.Namespace, state_dir: Path) -> int:
    from console.engine.main import main as engine_main

    return engine_main(state_dir, args.host, args.port, args.data_port)


def cmd_apply(args: argparse.Namespace, client: EngineClient) -> int:
    from console.domain.specs import SpecError, parse_specs

    for path in args.file:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SystemExit(f"switchboard apply: cannot read {path}: {exc.strerror}") from None
        try:
            parse_specs(text, str(path))  # local check first: errors name document, field and line
        except SpecError as exc:
            print("\n".join(exc.problems), file=sys.stderr)
            return 1
        result = client.apply_yaml(text, str(path.parent.resolve()))
        for verb in ("created", "updated", "unchanged"):
            for name in result.get(verb, []):
                print(f"{name} {verb}")
    return 0


def cmd_status(args: argparse.Namespace, client: EngineClient) -> int:
    endpoints = client.request("GET", "/v1/endpoints")
    if args.json:
        print(json.dumps(endpoints, indent=2))
        return 0
    if not endpoints:
        print("no endpoints (apply a spec: switchboard apply -f FILE.yaml)")
    for ep in endpoints:
        split = ", ".join(f"{k}={v}" for k, v in sorted(ep["traffic"].items())) or "no live traffic"
        mirror = ", ".join(f"{k}={v}" for k, v in sorted(ep["mirror"].items()) if v)
        applied = "" if ep["applied_revision"] == ep["revision"] else f" (applied {ep['applied_revision']})"
        print(f"endpoint {ep['name']}  revision {ep['revision']}{applied}  traffic: {split}"
              + (f"  mirror: {mirror}" if mirror else ""))
        print(f"  scoring URI: {ep['scoring_uri']}")
        if args.keys:
            key = client.request("GET", f"/v1/endpoints/{ep['name']}/keys")["key"]
            print(f"  key: {key}")
        for dep in ep["deployments"]:
            reason = f"  ({dep['reason']})" if dep["reason"] else ""
            print(
                f"  {dep['name']:<20} {dep['model']['name']} v{dep['model']['version']:<6} {dep['runtime']:<9}"
                f" {dep['replicas_ready']}/{dep['replicas_desired']} ready  {dep['state']}"
                f"  {ep['traffic'].get(dep['name'], 0)}%{reason}"
            )
    return 0


def cmd_traffic(args: argparse.Namespace, client: EngineClient) -> int:
    revision = args.if_match if args.if_match is not None else client.endpoint(args.endpoint).revision
    result = client.set_traffic(
        args.endpoint, _pairs(args.weights, "weight"), _pairs(args.mirror, "mirror"),
        if_match=revision, reason=args.reason,
    )
    print(f"endpoint {args.endpoint} now at revision {result.revision}: {result.traffic}")
    return 0


def cmd_rollback(args: argparse.Namespace, client: EngineClient) -> int:
    revision = client.endpoint(args.endpoint).revision
    result = client.rollback(args.endpoint, if_match=revision, to_revision=args.to_revision, reason=args.reason)
    print(f"endpoint {args.endpoint} rolled back: revision {result['revision']} = {result['traffic']}")
    return 0


def cmd_revisions(args: argparse.Namespace, client: EngineClient) -> int:
    for rev in client.request("GET", f"/v1/endpoints/{args.endpoint}/revisions"):
        split = ", ".join(f"{k}={v}" for k, v in sorted(rev["traffic"].items()))
        print(f"{rev['number']:>4}  {rev['time'][:19]}  {rev['actor']:<24} {rev['kind']:<8} {split}  {rev['reason']}")
    return 0


def cmd_delete(args: argparse.Namespace, client: EngineClient) -> int:
    client.request("DELETE", f"/v1/deployments/{args.deployment}", json={"reason": args.reason},
                   timeout=60.0)
    print(f"deployment {args.deployment} drained and deleted")
    return 0


def cmd_logs(args: argparse.Namespace, client: EngineClient) -> int:
    params: dict[str, Any] = {"tail": args.tail, "follow": str(args.follow).lower()}
    if args.replica:
        params["replica"] = args.replica
    for line in client.stream_lines(f"/v1/deployments/{args.deployment}/logs", params):
        print(line, flush=True)
    return 0


def cmd_audit(args: argparse.Namespace, state_dir: Path) -> int:
    from console.domain.audit import first_broken
    from console.engine.store import Store

    db = state_dir / "state.db"
    if not db.exists():
        print(f"switchboard audit: no engine state in {state_dir}", file=sys.stderr)
        return 2
    store = Store(db)
    rows = store.audit_rows()
    store.close()
    if args.audit_command == "list":
        for row in rows:
            print(json.dumps(row))
        return 0
    broken = first_broken(rows)
    if broken is None:
        print(f"audit log intact: {len(rows)} events, hash chain verified")
        return 0
    print(f"audit log BROKEN at event {broken[0]}: {broken[1]}", file=sys.stderr)
    return 1


def cmd_demo(args: argparse.Namespace, client: EngineClient) -> int:
    import asyncio

    from console.engine.demo import send_traffic

    key = client.request("GET", f"/v1/endpoints/{args.endpoint}/keys")["key"]
    data_url = client.request("GET", "/v1/engine")["data_url"]
    stop = asyncio.Event()
    print(f"sending {args.rps:g} requests/s to {args.endpoint} at {data_url} (Ctrl+C stops)", flush=True)
    try:
        counts = asyncio.run(send_traffic(data_url, args.endpoint, key, args.rps, stop, args.duration))
    except KeyboardInterrupt:
        return 0
    print(json.dumps(counts, indent=2))
    return 0


CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace, EngineClient], int]] = {
    "apply": cmd_apply, "status": cmd_status, "traffic": cmd_traffic, "rollback": cmd_rollback,
    "revisions": cmd_revisions, "delete": cmd_delete, "logs": cmd_logs, "demo": cmd_demo,
}


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
        with EngineClient.for_state_dir(state_dir) as client:
            return CLIENT_COMMANDS[args.command](args, client)
    except BackendError as exc:
        print(f"switchboard {args.command}: {exc}", file=sys.stderr)
        if isinstance(exc, Invalid) and isinstance(exc.detail, list):
            for problem in exc.detail:
                print(f"  - {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
