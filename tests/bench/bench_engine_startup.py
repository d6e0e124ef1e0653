"""Engine start-up: from launching `python -m console engine` on a fresh state dir, through
applying the demo, to every replica Ready and the first scoring request answered.

    .venv/bin/python tests/bench/bench_engine_startup.py [--runs 3]

Each run: launch the engine on a new temporary state dir (free ports); "engine up" is when
`GET /v1/engine` answers 200 with the token from the state dir (engine.json names the new
pid); then POST the demo (resources/demo/demo.yaml) to /v1/apply and poll
`GET /v1/endpoints/fraud` every 10 ms until every deployment is Ready ("all ready") and a
scoring request answers 200. The engine is stopped with SIGTERM after each run. Reports the
median of the runs (times from launch unless said otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _benchlib import DEMO, SCORE_BODY, OtherLoad, header, wait_until


def one_run(index: int) -> dict[str, float]:
    with OtherLoad() as other:
        figures = measured_run()
    print(f"run {index}: " + ", ".join(f"{name} {value:.2f} s" for name, value in figures.items()))
    print(f"  {other.line()}")
    sys.stdout.flush()
    return figures


def measured_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-startup-") as tmp:
        state = Path(tmp) / "state"
        log = open(Path(tmp) / "engine.log", "wb")
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "console", "engine", "--state-dir", str(state)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        try:
            def engine_file() -> dict[str, Any] | None:
                if proc.poll() is not None:
                    raise RuntimeError(f"engine exited with {proc.returncode}: see {tmp}/engine.log")
                info = json.loads((state / "engine.json").read_text())
                return info if info.get("pid") == proc.pid else None

            info = wait_until(engine_file, 30, interval=0.005, what="engine.json")
            token = (state / "token").read_text().strip()
            control = httpx.Client(base_url=info["control_url"], timeout=10,
                                   headers={"Authorization": f"Bearer {token}", "X-Actor": "bench@localhost"})
            with control:
                wait_until(lambda: control.get("/v1/engine").status_code == 200, 30, interval=0.005,
                           what="control API")
                up = time.perf_counter()
                control.post("/v1/apply", json={"yaml": DEMO.read_text(), "base_dir": str(DEMO.parent)}
                             ).raise_for_status()
                applied = time.perf_counter()

                def all_ready() -> dict[str, Any] | None:
                    endpoint = control.get("/v1/endpoints/fraud").json()
                    deps = endpoint["deployments"]
                    return endpoint if deps and all(d["state"] == "Ready" for d in deps) else None

                wait_until(all_ready, 90, interval=0.01, what="every demo deployment Ready")
                ready = time.perf_counter()
                key = control.get("/v1/endpoints/fraud/keys").json()["key"]
            url = f"{info['data_url']}/endpoints/fraud/score"
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            wait_until(lambda: httpx.post(url, content=SCORE_BODY, headers=headers, timeout=5).status_code == 200,
                       30, interval=0.01, what="first score 200")
            scored = time.perf_counter()
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    figures = {
        "engine up": up - start, "apply returned": applied - start, "all ready": ready - start,
        "all ready after apply returned": ready - applied, "first score 200": scored - start,
    }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="number of runs (max 10)")
    args = parser.parse_args()
    runs = max(1, min(args.runs, 10))
    header("engine start-up to demo Ready")
    results = [one_run(i + 1) for i in range(runs)]
    print(f"median of {runs}:")
    for name in results[0]:
        print(f"  {name}: {statistics.median(r[name] for r in results):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
