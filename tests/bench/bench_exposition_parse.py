"""Parse time of a 5,000-sample Prometheus exposition, as a serving host's /metrics is read
every 5 s on a worker thread: prometheus_client's text parser into a Scrape
(console/backends/exposition.py), then the figures of the interval between two such scrapes
(recognise the server, bucket differences, percentiles: console/backends/recognisers.py).

The exposition is the recorded vLLM one (tests/data/expositions/vllm-*.prom) with its series
repeated for as many models as it takes to reach 5,000 samples: three histograms of 19 to 22
buckets per model, counters and gauges, families kept together as a server writes them.

Run: .venv/bin/python tests/bench/bench_exposition_parse.py [--samples 5000] [--rounds 30]
Target: parse median under 500 ms of CPU time, so that reading such a host every 5 s takes
under 10% of one core. prometheus_client's parser is pure Python (about 50 us a sample here,
most of it in label parsing); a typical host (one vLLM model: a few hundred samples) parses in
a few tens of ms. The wall time is printed too; on a shared machine it includes waiting for a core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from console.backends.exposition import parse
from console.backends.recognisers import figures
from tests.bench._benchlib import OtherLoad, header, summary

DATA = Path(__file__).resolve().parents[1] / "data" / "expositions"
MODEL = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'
TARGET_MS = 500.0


def blocks(text: str) -> list[tuple[list[str], list[str]]]:
    """(comment lines, sample lines) per metric family, in order."""
    found: list[tuple[list[str], list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# HELP") or (line.startswith("# TYPE") and (not found or found[-1][1])):
            found.append(([line], []))
        elif line.startswith("#"):
            found[-1][0].append(line)
        elif line.strip():
            found[-1][1].append(line)
    return found


def exposition(recorded: str, samples: int) -> tuple[str, int]:
    """The recorded exposition with its series repeated for enough models, padded with one
    gauge family to exactly `samples` samples."""
    families = blocks(recorded)
    per_model = sum(len(lines) for _comments, lines in families)
    models = max(1, samples // per_model)
    out: list[str] = []
    for comments, lines in families:
        out += comments
        for m in range(models):
            out += [line.replace(MODEL, f'model_name="bench-model-{m:03d}"') for line in lines]
    pad = samples - models * per_model
    if pad > 0:
        out += ["# HELP bench_padding_bytes Padding to reach the sample count.", "# TYPE bench_padding_bytes gauge"]
        out += [f'bench_padding_bytes{{shard="{i}"}} {i * 1.5}' for i in range(pad)]
    return "\n".join(out) + "\n", models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    header(f"Prometheus exposition parse, {args.samples:,} samples")
    first, models = exposition((DATA / "vllm-1.prom").read_text(), args.samples)
    second, _ = exposition((DATA / "vllm-2.prom").read_text(), args.samples)
    counted = sum(len(v) for v in parse(first, 0.0).samples.values())
    print(f"exposition: {counted:,} samples, {len(first.encode()) / 1024:.0f} KiB, {models} vLLM models")

    parse_ms: list[float] = []
    parse_cpu_ms: list[float] = []  # this thread's CPU time: less disturbed by a shared machine
    figures_ms: list[float] = []
    with OtherLoad() as other:
        for _ in range(args.rounds):
            c0, t0 = time.thread_time(), time.perf_counter()
            before = parse(first, 0.0)
            c1, t1 = time.thread_time(), time.perf_counter()
            parse_cpu_ms.append((c1 - c0) * 1000)
            after = parse(second, 5.0)
            t2 = time.perf_counter()
            found = figures(before, after)
            t3 = time.perf_counter()
            parse_ms += [(t1 - t0) * 1000, (t2 - t1) * 1000]
            figures_ms.append((t3 - t2) * 1000)
    assert len(found.models) == models, "every model's figures were computed"
    print(f"parse (prometheus_client text parser -> Scrape), wall: {summary(parse_ms)}")
    print(f"parse, CPU time of the parsing thread: {summary(parse_cpu_ms)}")
    print(f"figures of one interval (recognise, bucket differences, p50/p90/p95/p99 of 3 histograms per model): "
          f"{summary(figures_ms)}")
    median = statistics.median(parse_cpu_ms)
    print(f"per sample: {median * 1000 / counted:.2f} us to parse")
    print(other.line())
    verdict = "met" if median < TARGET_MS else "MISSED"
    print(f"target parse median (CPU time) < {TARGET_MS:.0f} ms: {verdict} ({median:.1f} ms)")
    return 0 if median < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
