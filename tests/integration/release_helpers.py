"""A small endpoint of two Python deployments (cheap to start), and callers with their own
identities, for the policy, approval and release-record tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from console.backends.engine import EngineClient
from tests.harness import DEMO, RunningEngine

ENDPOINT = """\
kind: Endpoint
name: {name}
traffic: {{{name}-a: 100}}
{policy}---
kind: Deployment
endpoint: {name}
name: {name}-a
runtime: python
model: {{name: {name}, version: '1', path: scoring/fraud_v3.py}}
---
kind: Deployment
endpoint: {name}
name: {name}-b
runtime: python
model: {{name: {name}, version: '2', path: scoring/fraud_v3.py}}
"""


def add_endpoint(engine: RunningEngine, name: str, policy: str = "") -> None:
    """Endpoint `name` with deployments NAME-a (100%) and NAME-b (0%), both Ready."""
    with engine.client() as client:
        client.apply_yaml(ENDPOINT.format(name=name, policy=policy), DEMO.parent)
    engine.wait_ready(name)


def caller(engine: RunningEngine, actor: str, identity: str | None) -> EngineClient:
    return EngineClient(engine.control_url, engine.token, timeout=30, actor_name=actor, identity=identity)


def audit(engine: RunningEngine, endpoint: str, since: int = 0) -> list[dict[str, Any]]:
    with engine.client() as client:
        return [e for e in client.request("GET", "/v1/audit", params={"since": since}) if e["endpoint"] == endpoint]


def last_seq(engine: RunningEngine) -> int:
    with engine.client() as client:
        events = client.request("GET", "/v1/audit")
    return int(events[-1]["seq"]) if events else 0


def cli(engine: RunningEngine, config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`switchboard ARGS` with its own config dir (its own CLI identity)."""
    command = [sys.executable, "-m", "console", *args, "--state-dir", str(engine.state_dir),
               "--config-dir", str(config_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
