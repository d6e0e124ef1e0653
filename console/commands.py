"""The `switchboard` subcommands that talk to a running engine, and their output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from console.backends.engine import EngineClient


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


def split_text(traffic: dict[str, int], mirror: dict[str, int] | None = None) -> str:
    """`fraud-v1=90 fraud-v2=10 (mirror fraud-v3=20)`: a split as a person reads it."""
    live = " ".join(f"{k}={v}" for k, v in sorted(traffic.items()) if v) or "no live traffic"
    copies = " ".join(f"{k}={v}" for k, v in sorted((mirror or {}).items()) if v)
    return f"{live} (mirror {copies})" if copies else live


def cmd_traffic(args: argparse.Namespace, client: EngineClient) -> int:
    before = client.endpoint(args.endpoint)
    revision = args.if_match if args.if_match is not None else before.revision
    result = client.set_traffic(
        args.endpoint, _pairs(args.weights, "weight"), _pairs(args.mirror, "mirror"),
        if_match=revision, reason=args.reason,
    )
    print(f"{args.endpoint}: revision {before.revision} -> {result.revision}")
    print(f"  before: {split_text(before.traffic, before.mirror)}")
    print(f"  after:  {split_text(result.traffic, result.mirror)}  (router applied revision {result.applied_revision})")
    return 0


def cmd_rollback(args: argparse.Namespace, client: EngineClient) -> int:
    before = client.endpoint(args.endpoint)
    result = client.rollback(
        args.endpoint, if_match=before.revision, to_revision=args.to_revision, reason=args.reason
    )
    print(f"{args.endpoint}: rolled back, revision {before.revision} -> {result['revision']}")
    print(f"  before: {split_text(before.traffic, before.mirror)}")
    print(f"  after:  {split_text(result['traffic'], result['mirror'])}"
          f"  (router applied revision {result['applied_revision']})")
    return 0


def cmd_revisions(args: argparse.Namespace, client: EngineClient) -> int:
    for rev in client.request("GET", f"/v1/endpoints/{args.endpoint}/revisions"):
        restores = f" (restores {rev['restores']})" if rev.get("restores") else ""
        print(
            f"{rev['number']:>4}  {rev['time'][:19].replace('T', ' ')}  {rev['actor']:<24} {rev['kind']:<8}"
            f" {split_text(rev['traffic'], rev['mirror'])}{restores}  {rev['reason']}"
        )
    return 0


def cmd_delete(args: argparse.Namespace, client: EngineClient) -> int:
    client.request("DELETE", f"/v1/deployments/{args.deployment}", json={"reason": args.reason},
                   timeout=60.0)
    print(f"deployment {args.deployment} drained and deleted")
    return 0


def cmd_logs(args: argparse.Namespace, client: EngineClient) -> int:
    params: dict[str, Any] = {"tail": args.tail, "follow": str(args.follow).lower()}
    if args.replica:
        current = [r["id"] for r in client.request("GET", f"/v1/deployments/{args.deployment}")["replicas"]]
        if args.replica not in current and args.replica != "router":
            print(
                f"switchboard logs: {args.deployment} has no replica {args.replica!r} "
                f"(replicas: {', '.join(current) or 'none'}; 'router' for request lines)", file=sys.stderr,
            )
            return 1
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


SLO_FLAGS = {"latency_ms": "--latency-ms", "error_rate_percent": "--error-rate", "window_s": "--window",
             "percentile": "--percentile"}


def cmd_slo(args: argparse.Namespace, client: EngineClient) -> int:
    from pydantic import ValidationError

    from console.domain.models import Slo
    from console.domain.slo import slo_text

    before = client.endpoint(args.endpoint)
    if args.slo_command == "show":
        if before.slo is None:
            print(f"{args.endpoint}: no SLO (set one: switchboard slo set {args.endpoint} "
                  "--latency-ms 250 --error-rate 1 --window 60)")
        else:
            print(f"{args.endpoint}: {slo_text(before.slo)}")
        return 0
    slo: Slo | None = None
    if not args.clear:
        if args.latency_ms is None and args.error_rate is None:
            print("switchboard slo set: give --latency-ms, --error-rate or both (or --clear to remove the SLO)",
                  file=sys.stderr)
            return 2
        try:
            slo = Slo(percentile=args.percentile, latency_ms=args.latency_ms, error_rate_percent=args.error_rate,
                      window_s=args.window)
        except ValidationError as exc:
            for err in exc.errors():
                flag = SLO_FLAGS.get(str(err["loc"][0]), str(err["loc"][0])) if err["loc"] else "the SLO"
                print(f"switchboard slo set: {flag}: {err['msg']}", file=sys.stderr)
            return 2
    after = client.set_slo(args.endpoint, slo)
    print(f"{args.endpoint}: SLO {'cleared' if slo is None else 'set'}")
    print(f"  before: {slo_text(before.slo)}")
    print(f"  after:  {slo_text(after.slo)}")
    return 0
