"""Applying specs to a real engine: create, idempotent re-apply, scaling and env changes under
load, and errors that name the document, the field and the line (CLI and API)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.harness import DEMO, RunningEngine, start_engine, wait_until

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent / "data"
ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
DEMO_NAMES = ["endpoint/fraud", "deployment/fraud-v1", "deployment/fraud-v2", "deployment/fraud-v3"]


def cli(engine: RunningEngine, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "console", args[0], "--state-dir", str(engine.state_dir), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def demo_docs(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo's documents, with `changes` merged into the document of that name (fraud_v1=...)."""
    docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d]
    for doc in docs:
        doc.update(changes.get(doc["name"].replace("-", "_"), {}))
    return docs


def apply_docs(engine: RunningEngine, docs: list[dict[str, Any]], base_dir: Path = DEMO.parent) -> dict[str, Any]:
    with engine.client() as client:
        return client.apply_yaml(yaml.safe_dump_all(docs, sort_keys=False), base_dir)


def get(engine: RunningEngine, path: str) -> Any:
    with engine.client() as client:
        return client.request("GET", path)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Load:
    """Scoring requests from a thread until stopped; every answer is kept for the test to judge."""

    def __init__(self, engine: RunningEngine, endpoint: str, pin: str | None = None) -> None:
        self.url = f"{engine.data_url}/endpoints/{endpoint}/score"
        self.headers = {"Authorization": f"Bearer {engine.key(endpoint)}"}
        if pin:
            self.headers["x-deployment"] = pin
        self.results: list[tuple[int, str, dict[str, Any] | None]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(headers=self.headers, timeout=30) as http:
            for _ in range(100_000):
                if self.stop.is_set():
                    return
                try:
                    resp = http.post(self.url, json={"inputs": [ROW]})
                    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else None
                    self.results.append((resp.status_code, resp.headers.get("x-deployment", ""), body))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.stop.wait(0.005)  # pacing, so the replicas being started still get CPU

    def __enter__(self) -> Load:
        self.thread.start()
        wait_until(lambda: len(self.results) >= 5, 30, what="the load to get its first answers")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()

    def failures(self) -> list[Any]:
        return self.errors + [r for r in self.results if r[0] != 200]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("apply") / "state")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def first_apply(engine: RunningEngine) -> subprocess.CompletedProcess[str]:
    """The demo applied once through the CLI, every deployment Ready."""
    done = cli(engine, "apply", "-f", str(DEMO))
    assert done.returncode == 0, done.stderr
    engine.wait_ready("fraud")
    return done


def test_cli_apply_creates_everything_once(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]
) -> None:
    assert first_apply.stdout.split("\n")[:4] == [f"{name} created" for name in DEMO_NAMES]
    ep = get(engine, "/v1/endpoints/fraud")
    assert ep["traffic"] == {"fraud-v1": 90, "fraud-v2": 10}
    assert ep["revision"] == ep["applied_revision"] == 1
    assert {d["name"]: d["replicas_ready"] for d in ep["deployments"]} == {"fraud-v1": 2, "fraud-v2": 1, "fraud-v3": 1}
    (rev,) = get(engine, "/v1/endpoints/fraud/revisions")
    assert rev["kind"] == "create" and rev["number"] == 1
    creations = [e for e in get(engine, "/v1/audit") if e["action"].endswith(".create")]
    assert [(e["action"], e["endpoint"], e["deployment"]) for e in creations][:4] == [
        ("endpoint.create", "fraud", None),
        ("deployment.create", "fraud", "fraud-v1"),
        ("deployment.create", "fraud", "fraud-v2"),
        ("deployment.create", "fraud", "fraud-v3"),
    ]
    # Model paths in the spec are relative to the spec file; the engine keeps them absolute.
    v1 = get(engine, "/v1/deployments/fraud-v1")
    assert v1["model"]["path"] == str((DEMO.parent / "models" / "fraud-v1.onnx").resolve())


def test_second_apply_changes_nothing(engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]) -> None:
    apply_docs(engine, demo_docs())  # whatever other tests left behind, the demo is what is applied now
    engine.wait_ready("fraud")
    revisions = get(engine, "/v1/endpoints/fraud/revisions")
    audit = get(engine, "/v1/audit")
    pids = {r["pid"] for d in get(engine, "/v1/deployments") for r in d["replicas"]}

    again = cli(engine, "apply", "-f", str(DEMO))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"{name} unchanged" for name in DEMO_NAMES]
    with engine.client() as client:
        answer = client.apply_yaml(DEMO.read_text(), DEMO.parent)
    assert answer == {"created": [], "updated": [], "unchanged": DEMO_NAMES}

    assert get(engine, "/v1/endpoints/fraud/revisions") == revisions
    assert get(engine, "/v1/audit") == audit
    assert {r["pid"] for d in get(engine, "/v1/deployments") for r in d["replicas"]} == pids


def test_reapply_never_overwrites_a_live_split(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]
) -> None:
    with engine.client() as client:
        ep = client.endpoint("fraud")
        shifted = client.set_traffic("fraud", ep["revision"], {"fraud-v1": 50, "fraud-v2": 50}, {}, "half")
    answer = apply_docs(engine, demo_docs(fraud={"description": "edited", "traffic": {"fraud-v1": 10, "fraud-v2": 90}}))
    assert answer["updated"] == ["endpoint/fraud"]
    ep = get(engine, "/v1/endpoints/fraud")
    assert ep["description"] == "edited"
    assert ep["traffic"] == {"fraud-v1": 50, "fraud-v2": 50}
    assert ep["revision"] == ep["applied_revision"] == shifted["revision"]
    update = get(engine, "/v1/audit")[-1]
    assert update["action"] == "endpoint.update" and update["before"]["description"] != update["after"]["description"]


def test_scaling_up_and_down_fails_no_request(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]
) -> None:
    apply_docs(engine, demo_docs())
    engine.wait_ready("fraud")

    def replicas() -> dict[str, Any]:
        return get(engine, "/v1/deployments/fraud-v1")

    before = {r["pid"] for r in replicas()["replicas"]}
    assert len(before) == 2
    with Load(engine, "fraud", pin="fraud-v1") as load:
        assert apply_docs(engine, demo_docs(fraud_v1={"replicas": 3}))["updated"] == ["deployment/fraud-v1"]
        up = wait_until(
            lambda: (d := replicas())["state"] == "Ready" and d["replicas_ready"] == 3 and len(d["replicas"]) == 3
            and d, 60, what="fraud-v1 at 3 ready replicas",
        )
        assert before <= {r["pid"] for r in up["replicas"]}, "scaling up must keep the running replicas"
        served_while_up = len(load.results)
        apply_docs(engine, demo_docs(fraud_v1={"replicas": 1}))
        down = wait_until(
            lambda: (d := replicas())["state"] == "Ready" and len(d["replicas"]) == 1 and d,
            60, what="fraud-v1 down to 1 replica",
        )
        gone = {r["pid"] for r in up["replicas"]} - {r["pid"] for r in down["replicas"]}
        assert len(gone) == 2
        wait_until(lambda: not any(alive(p) for p in gone), 30, what="the scaled-down replicas to exit")
        wait_until(lambda: len(load.results) > served_while_up + 20, 30, what="more answers after scaling down")
    assert load.failures() == []
    assert {r[1] for r in load.results} == {"fraud-v1"}
    apply_docs(engine, demo_docs())
    engine.wait_ready("fraud")


def test_env_change_restarts_replicas_without_failing_requests(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]
) -> None:
    def lab(flavour: str) -> list[dict[str, Any]]:
        return [
            {"kind": "Endpoint", "name": "lab", "traffic": {"lab-echo": 100}},
            {"kind": "Deployment", "endpoint": "lab", "name": "lab-echo",
             "model": {"name": "echo", "version": "1", "path": "echo_env.py"}, "runtime": "python",
             "replicas": 1, "readiness": {"path": "/ready", "period": 0.5, "failure_threshold": 3},
             "env": {"FLAVOUR": flavour}},
        ]

    apply_docs(engine, lab("vanilla"), DATA)
    engine.wait_ready("lab")
    (old,) = get(engine, "/v1/deployments/lab-echo")["replicas"]
    with Load(engine, "lab") as load:
        assert apply_docs(engine, lab("chocolate"), DATA)["updated"] == ["deployment/lab-echo"]

        def replaced() -> int | None:
            dep = get(engine, "/v1/deployments/lab-echo")
            pids = [r["pid"] for r in dep["replicas"]]
            return pids[0] if dep["state"] == "Ready" and len(pids) == 1 and pids[0] != old["pid"] else None

        new_pid = wait_until(replaced, 60, what="lab-echo's replica replaced")
        wait_until(lambda: not alive(old["pid"]), 30, what="the old replica to exit")
        served = len(load.results)
        wait_until(lambda: len(load.results) > served + 10, 30, what="answers from the new replica")
    assert load.failures() == []
    flavours = [body["flavour"] for _, _, body in load.results if body]
    assert flavours[0] == "vanilla"
    assert "chocolate" in flavours
    # Old and new replicas may overlap while the old one drains; once it has exited, only the
    # new replica, with the new environment, answers.
    after = [body for _, _, body in load.results[served:] if body]
    assert {b["pid"] for b in after} == {new_pid} and {b["flavour"] for b in after} == {"chocolate"}
    event = get(engine, "/v1/audit")[-1]
    assert event["action"] == "deployment.update" and event["deployment"] == "lab-echo"
    assert event["before"]["env"] == {"FLAVOUR": "vanilla"} and event["after"]["env"] == {"FLAVOUR": "chocolate"}


# -- errors name the document, the field and the line --------------------------------------------

BAD_FIELD = """\
kind: Endpoint
name: wrong
---
kind: Deployment
endpoint: wrong
name: wrong-v1
model: {name: wrong, version: "1", path: x.onnx}
runtime: onnx
replicas: -1
"""
UNKNOWN_KIND = "kind: Endpoint\nname: wrong\n---\nname: wrong-v1\nkind: Model\n"
MALFORMED = "kind: Endpoint\nname: wrong\n---\nkind: Endpoint\nname: other\ndescription: [unclosed\n"
BAD_NESTED = "kind: Endpoint\nname: wrong\n---\nkind: Deployment\nendpoint: wrong\nname: wrong-v1\n" \
             "runtime: python\nmodel:\n  name: wrong\n  version: ''\n  path: s.py\n"

CASES = [
    pytest.param(BAD_FIELD, "document 2 (Deployment): field 'replicas' (line 9): ", id="bad-field"),
    pytest.param(BAD_NESTED, "document 2 (Deployment): field 'model.version' (line 10): ", id="bad-nested-field"),
    pytest.param(UNKNOWN_KIND, "document 2 (line 5): field 'kind': must be one of ['Deployment', 'Endpoint']",
                 id="unknown-kind"),
    pytest.param(MALFORMED, "document 2: line 7: malformed YAML", id="malformed"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cli_errors_name_document_field_and_line(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str], tmp_path: Path, text: str, expected: str
) -> None:
    audit = get(engine, "/v1/audit")
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    done = cli(engine, "apply", "-f", str(spec))
    assert done.returncode == 1
    assert f"{spec}: {expected}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert get(engine, "/v1/audit") == audit
    assert [e["name"] for e in get(engine, "/v1/endpoints")].count("wrong") == 0


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_api_errors_name_document_field_and_line(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str], text: str, expected: str
) -> None:
    audit = get(engine, "/v1/audit")
    with engine.client() as client:
        resp = client.http.post("/v1/apply", json={"yaml": text, "base_dir": str(DATA)})
    assert resp.status_code == 422
    body = resp.json()
    assert any(p.startswith(f"request: {expected}") for p in body["problems"]), body
    assert expected in body["error"]
    assert get(engine, "/v1/audit") == audit


def test_api_spec_objects_name_the_field(engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]) -> None:
    doc = {"kind": "Deployment", "endpoint": "fraud", "name": "fraud-v9", "runtime": "onnx",
           "model": {"name": "fraud", "version": "9", "path": "/nowhere.onnx"}, "replicas": "many"}
    with engine.client() as client:
        resp = client.http.post("/v1/apply", json={"specs": [doc]})
    assert resp.status_code == 422
    assert any("document 1 (Deployment): field 'replicas'" in p for p in resp.json()["problems"])


def test_semantic_errors_apply_nothing(engine: RunningEngine, first_apply: subprocess.CompletedProcess[str]) -> None:
    audit = get(engine, "/v1/audit")
    text = (
        "kind: Endpoint\nname: ghost\n---\n"
        "kind: Deployment\nendpoint: nowhere\nname: ghost-v1\nruntime: python\n"
        "model: {name: ghost, version: '1', path: echo_env.py}\n---\n"
        "kind: Endpoint\nname: split\ntraffic: {nobody: 100}\n"
    )
    with engine.client() as client:
        resp = client.http.post("/v1/apply", json={"yaml": text, "base_dir": str(DATA)})
        assert resp.status_code == 422
        problems = resp.json()["problems"]
        assert "deployment 'ghost-v1': endpoint 'nowhere' does not exist" in problems
        assert any(p.startswith("endpoint 'split': traffic: unknown deployment 'nobody'") for p in problems)
        assert client.http.get("/v1/endpoints/ghost").status_code == 404
        assert client.http.get("/v1/deployments/ghost-v1").status_code == 404
        moving = {"kind": "Deployment", "endpoint": "ghost-x", "name": "fraud-v1", "runtime": "python",
                  "model": {"name": "m", "version": "1", "path": str(DATA / "echo_env.py")}}
        resp = client.http.post("/v1/apply", json={"specs": [{"kind": "Endpoint", "name": "ghost-x"}, moving]})
        assert resp.status_code == 422 and "cannot move to another endpoint" in resp.json()["error"]
        assert client.http.post("/v1/apply", json={}).status_code == 422
        resp = client.http.post("/v1/apply", json={"yaml": "kind: Endpoint\nname: ghost\n", "base_dir": "relative"})
        assert resp.status_code == 422 and "absolute" in resp.json()["error"]
    assert get(engine, "/v1/audit") == audit


def test_cli_reports_engine_side_problems(
    engine: RunningEngine, first_apply: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    spec = tmp_path / "orphan.yaml"
    spec.write_text("kind: Deployment\nendpoint: nowhere\nname: orphan\nruntime: python\n"
                    "model: {name: o, version: '1', path: s.py}\n")
    done = cli(engine, "apply", "-f", str(spec))
    assert done.returncode == 1
    assert "422" in done.stderr and "endpoint 'nowhere' does not exist" in done.stderr
    missing = cli(engine, "apply", "-f", str(tmp_path / "absent.yaml"))
    assert missing.returncode != 0 and "cannot read" in missing.stderr
