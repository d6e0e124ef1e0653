"""Maximum throughput through the engine's router, and through nginx as an equivalent weighted
proxy, in the same run, with wrk at 32 connections.

    .venv/bin/python tests/bench/bench_engine_throughput.py [--seconds 10] [--nginx-workers 1]

The trivial backend is nginx itself (`return 200` with a fixed JSON body, one worker) listening
on two ports. The engine gets an endpoint with two `upstream` deployments, one per backend port,
weighted 90/10; a second nginx (its own worker count, default 1 like the router's one event
loop) proxies to the same two ports with `weight=90` / `weight=10` and upstream keep-alive.
Each is loaded with `wrk -c 32 -t 2 -d 10s` POSTing the demo body with an Authorization
header (Lua script), after a 2 s warm-up. Target: router/nginx >= 0.3.

Besides req/s (which depends on what else the machine runs) it prints the CPU time each proxy
process spent per request, which does not. wrk and nginx are installed with apt-get if missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _benchlib import HOST, SCORE_BODY, OtherLoad, apply_and_wait, engine, free_port, header, upstream_specs, wait_port

TARGET_RATIO = 0.3
BODY = '{"outputs": [0.5]}'


def ensure_tools() -> None:
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("nginx", "nginx-light")) if shutil.which(tool) is None]
    if not missing:
        print(f"tools: wrk {shutil.which('wrk')}, nginx {shutil.which('nginx')} (already installed)")
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {missing}: install them (apt-get install {' '.join(missing)}) or run as root")
    print(f"installing with apt-get: {' '.join(missing)}", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, timeout=600,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    print(f"installed: {' '.join(missing)}")


def nginx_conf(prefix: Path, workers: int, servers: str) -> Path:
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{servers}
}}
""")
    return conf


class Nginx:
    def __init__(self, prefix: Path, workers: int, servers: str) -> None:
        prefix.mkdir(parents=True)
        self.conf = nginx_conf(prefix, workers, servers)
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(prefix), "-c", str(self.conf), "-e", str(prefix / "error.log")],
            stdin=subprocess.DEVNULL,
        )

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wrk(url: str, script: Path, seconds: int, pids: list[int]) -> dict[str, Any]:
    command = ["wrk", "-c", "32", "-t", "2", "-d", f"{seconds}s", "--latency", "-s", str(script), url]
    before = cpu_seconds(pids)
    with OtherLoad() as other:
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(pids) - before
    def grab(pattern: str) -> str | None:
        match = re.search(pattern, out)
        return match.group(1) if match else None

    requests = int(grab(r"(\d+) requests in") or 0)
    return {
        "command": " ".join(command), "rps": float(grab(r"Requests/sec:\s+([\d.]+)") or 0), "requests": requests,
        "p50": grab(r"\n\s+50%\s+(\S+)"), "p99": grab(r"\n\s+99%\s+(\S+)"),
        "non2xx": int(grab(r"Non-2xx or 3xx responses: (\d+)") or 0),
        "socket_errors": grab(r"Socket errors: (.*)") or "none",
        "cpu_us": 1e6 * cpu / requests if requests else float("nan"), "raw": out,
        "other": other.line(),
    }


def report(name: str, result: dict[str, Any]) -> None:
    print(f"{name}: {result['rps']:.0f} req/s ({result['requests']} requests), latency p50 {result['p50']} "
          f"p99 {result['p99']}, non-2xx {result['non2xx']}, socket errors {result['socket_errors']}, "
          f"{result['cpu_us']:.0f} CPU-us per request in the proxy process(es)")
    print(f"  ({result['command']}); {result['other']}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per target (max 60)")
    parser.add_argument("--nginx-workers", type=int, default=1, help="worker_processes of the nginx proxy")
    parser.add_argument("--skip-backend", action="store_true", help="do not measure the backend directly")
    args = parser.parse_args()
    seconds = max(1, min(args.seconds, 60))
    header("throughput: router vs nginx weighted proxy (wrk -c 32 -t 2)")
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-nginx-") as tmp_name:
        tmp = Path(tmp_name)
        b1, b2, proxy_port = free_port(), free_port(), free_port()
        backend = Nginx(tmp / "backend", 1, f"""    server {{
        listen {HOST}:{b1}; listen {HOST}:{b2};
        location / {{ default_type application/json; return 200 '{BODY}'; }}
    }}""")
        proxy = Nginx(tmp / "proxy", args.nginx_workers, f"""    upstream trivial {{
        server {HOST}:{b1} weight=90;
        server {HOST}:{b2} weight=10;
        keepalive 64;
    }}
    server {{
        listen {HOST}:{proxy_port};
        location / {{
            proxy_pass http://trivial;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""")
        try:
            for port in (b1, b2, proxy_port):
                wait_port(port)
            print(f"backend: nginx 1 worker on {HOST}:{b1} and {HOST}:{b2}; "
                  f"nginx proxy: {args.nginx_workers} worker(s) on {HOST}:{proxy_port}, weights 90/10, keepalive 64")
            with engine() as running:
                specs = upstream_specs("bench", {
                    "bench-a": (f"http://{HOST}:{b1}", 90), "bench-b": (f"http://{HOST}:{b2}", 10),
                })
                key = apply_and_wait(running, specs, "bench")
                router_url = f"{running.data_url}/endpoints/bench/score"
                script = tmp / "score.lua"
                script.write_text(
                    'wrk.method = "POST"\n'
                    f"wrk.body = '{SCORE_BODY.decode()}'\n"
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["Authorization"] = "Bearer {key}"\n'
                )
                # Sanity: both answer, and the router splits about 90/10.
                split: Counter[str] = Counter()
                with httpx.Client(timeout=5) as client:
                    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
                    for _ in range(300):
                        resp = client.post(router_url, content=SCORE_BODY, headers=auth)
                        resp.raise_for_status()
                        split[resp.headers["x-deployment"]] += 1
                    client.post(f"http://{HOST}:{proxy_port}/score", content=SCORE_BODY).raise_for_status()
                print(f"router split over 300 requests: {dict(sorted(split.items()))}")
                engine_pid = [running.proc.pid]
                nginx_pids = proxy.worker_pids()
                targets = [("router", router_url, engine_pid),
                           ("nginx", f"http://{HOST}:{proxy_port}/endpoints/bench/score", nginx_pids)]
                if not args.skip_backend:
                    targets.append(("backend direct", f"http://{HOST}:{b1}/score", backend.worker_pids()))
                for _, url, pids in targets:  # warm-up, not reported
                    wrk(url, script, 2, pids)
                results = {}
                for name, url, pids in targets:
                    time.sleep(1)
                    results[name] = wrk(url, script, seconds, pids)
                    report(name, results[name])
        finally:
            proxy.stop()
            backend.stop()
        print("nginx stopped")
    ratio = results["router"]["rps"] / results["nginx"]["rps"] if results["nginx"]["rps"] else 0.0
    met = ratio >= TARGET_RATIO
    print(f"ratio router/nginx: {ratio:.3f} (target >= {TARGET_RATIO}: {'met' if met else 'MISSED'}); "
          f"load average now {os.getloadavg()[0]:.2f}")
    errors = sum(r["non2xx"] for r in results.values())
    return 0 if met and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
