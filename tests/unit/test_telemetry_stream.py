"""The engine telemetry stream's parts: SSE parsing, sample conversion, batching, continuity."""

from __future__ import annotations

import json

import pytest

from console.backends.telemetry_stream import (
    Continuity,
    SampleBatcher,
    SseComment,
    SseEvent,
    SseParser,
    sample_from_engine,
)
from console.domain.telemetry import Sample, TelemetryBatch

ENGINE_SAMPLE = {
    "time": 1763700000.0, "endpoint": "fraud", "deployment": "fraud-v1", "mirror": False,
    "requests": 42, "errors_4xx": 0, "errors_5xx": 1,
    "latency_ms": {"p50": 1.2, "p90": 2.0, "p95": 2.4, "p99": 4.1},
    "in_flight": 1, "replicas_ready": 2, "replicas_desired": 2,
    "cpu_percent": 12.5, "rss_bytes": 81234944, "gpus": None,
}


def event(sample: dict, name: str = "sample") -> bytes:
    return f"event: {name}\ndata: {json.dumps(sample)}\n\n".encode()


def at(time: float, deployment: str = "fraud-v1", **extra) -> dict:
    return {**ENGINE_SAMPLE, "time": time, "deployment": deployment, **extra}


# ---------------------------------------------------------------- SSE


def test_events_comments_and_multi_line_data():
    items = SseParser().feed(b": live\n\nevent: sample\ndata: {\"a\":\ndata:  1}\nid: 7\n\n: heartbeat\n\n")
    assert items == [SseComment("live"), SseEvent("sample", '{"a":\n 1}', "7"), SseComment("heartbeat")]


def test_lines_split_across_chunks_and_every_line_ending():
    parser = SseParser()
    stream = b"event: sample\r\ndata: one\r\rdata: two\n\nevent: x\rdata: three\r\n\r\n"
    items = []
    for i in range(len(stream)):  # one byte at a time: every split point, a CR before its LF included
        items += parser.feed(stream[i:i + 1])
    assert items == [SseEvent("sample", "one"), SseEvent("message", "two"), SseEvent("x", "three")]


def test_a_utf8_character_split_across_chunks_survives():
    parser = SseParser()
    data = "data: café\n\n".encode()
    split = data.index(b"\xc3") + 1
    assert parser.feed(data[:split]) + parser.feed(data[split:]) == [SseEvent("message", "café")]


def test_an_event_without_data_is_not_dispatched_and_unknown_fields_are_ignored():
    assert SseParser().feed(b"event: sample\n\nretry: 10\nfoo: bar\ndata\n\n") == [SseEvent("message", "")]


# ---------------------------------------------------------------- samples


def test_engine_sample_becomes_a_domain_sample():
    sample = sample_from_engine(ENGINE_SAMPLE)
    assert sample == Sample(time=1763700000.0, endpoint="fraud", deployment="fraud-v1", requests=42, errors_4xx=0,
                            errors_5xx=1, latency_ms={"p50": 1.2, "p90": 2.0, "p95": 2.4, "p99": 4.1}, in_flight=1,
                            replicas_ready=2, replicas_desired=2, cpu_percent=12.5, rss_bytes=81234944, gpus=None)
    assert sample.rate == 42.0


def test_gpu_figures_with_the_deployments_memory_summed_over_its_replicas():
    gpus = [{"index": 0, "name": "NVIDIA H100", "utilization": 37, "memory_used": 9_000, "memory_total": 80_000,
             "replica_memory": {"fraud-v1-0": 1_000, "fraud-v1-1": 2_500}},
            {"index": 1, "name": "NVIDIA H100", "utilization": 0, "memory_used": 0, "memory_total": 80_000,
             "replica_memory": {}}]
    sample = sample_from_engine({**ENGINE_SAMPLE, "gpus": gpus, "added_by_a_newer_engine": 1})
    assert sample.gpus is not None
    first, second = sample.gpus
    assert (first.index, first.name, first.utilization_percent) == (0, "NVIDIA H100", 37)
    assert (first.memory_used_bytes, first.memory_total_bytes, first.deployment_memory_bytes) == (9_000, 80_000, 3_500)
    assert second.deployment_memory_bytes == 0
    assert sample_from_engine({**ENGINE_SAMPLE, "gpus": []}).gpus == ()  # looked, found none


@pytest.mark.parametrize("raw, why", [
    ([1, 2], "a sample must be a JSON object, not list"),
    ({**ENGINE_SAMPLE, "gpus": {"index": 0}}, "'gpus' must be a list or null, not dict"),
    ({**ENGINE_SAMPLE, "gpus": [{"name": "x"}]}, "a GPU entry has no 'index'"),
])
def test_malformed_samples_are_named(raw, why):
    with pytest.raises(ValueError, match=why):
        sample_from_engine(raw)


# ---------------------------------------------------------------- batches


def test_history_comes_one_batch_per_second_then_live_batches():
    batcher = SampleBatcher("p", clock=lambda: 99.0)
    parser = SseParser()
    history = event(at(1.0)) + event(at(1.0, "fraud-v2")) + event(at(2.0)) + event(at(2.0, "fraud-v2"))
    batches = batcher.add(parser.feed(history))
    assert [[s.time for s in b.samples] for b in batches] == [[1.0, 1.0]]  # second 2 may have more to come
    batches = batcher.add(parser.feed(b": live\n\n"))
    assert [(b.history, [s.deployment for s in b.samples]) for b in batches] == [(True, ["fraud-v1", "fraud-v2"])]
    assert batches[0].samples[0].time == 2.0 and batches[0].read_at == 99.0 and batches[0].place_id == "p"
    live = batcher.add(parser.feed(event(at(3.0)) + b": heartbeat\n\n" + event(at(3.0, "fraud-v2"))))
    assert [(b.history, len(b.samples)) for b in live] == [(False, 2)]  # live: handed on at the end of each read


def test_malformed_data_lines_are_skipped_and_counted():
    batcher = SampleBatcher("p")
    parser = SseParser()
    bad = (b"event: sample\ndata: {not json\n\n" + event({**at(1.0), "time": "yesterday"})
           + event({"endpoint": "fraud"}) + event(at(1.0, "fraud-v2")) + b": live\n\n")
    batches = batcher.add(parser.feed(bad))
    assert [s.deployment for b in batches for s in b.samples] == ["fraud-v2"]
    assert batcher.problems == 3
    assert batcher.last_problem == "time: Field required"
    assert batcher.add(parser.feed(event(at(2.0), name="other"))) == []  # other events are not samples


# ---------------------------------------------------------------- continuity


def batch(*times: float, deployments=("a", "b"), history=False) -> TelemetryBatch:
    samples = tuple(Sample(time=t, endpoint="e", deployment=d) for t in times for d in deployments)
    return TelemetryBatch(place_id="p", read_at=max(times), samples=samples, history=history)


def test_first_read_asks_for_an_hour_and_a_reconnect_for_the_outage():
    clock = [1000.0]
    cont = Continuity("p", clock=lambda: clock[0])
    assert cont.history_s() == 3600
    cont.accept(batch(998.0, 999.0))
    clock[0] = 1030.4
    assert cont.history_s() == 34  # 31.4 s since the last sample, 2 s of slack, rounded up
    clock[0] = 999.0 + 10_000
    assert cont.history_s() == 3600


def test_overlapping_history_after_a_reconnect_is_not_delivered_twice_and_leaves_no_gap():
    cont = Continuity("p")
    cont.accept(batch(10.0, 11.0))
    cont.accept(TelemetryBatch(place_id="p", read_at=12.0, samples=(Sample(time=12.0, endpoint="e", deployment="a"),)))
    cont.resumed()
    out = cont.accept(batch(11.0, 12.0, 13.0, history=True))
    assert len(out) == 1 and not out[0].gap_from
    assert [(s.time, s.deployment) for s in out[0].samples] == [(12.0, "b"), (13.0, "a"), (13.0, "b")]
    assert cont.accept(batch(13.0)) == []


def test_history_that_starts_later_than_the_last_sample_leaves_a_gap():
    cont = Continuity("p")
    cont.accept(batch(100.0))
    cont.resumed()
    gap, data = cont.accept(batch(140.0, 141.0, history=True))
    assert (gap.gap_from, gap.gap_to, gap.samples) == (100.0, 140.0, ())
    assert len(data.samples) == 4
    assert len(cont.accept(batch(150.0))) == 1  # missing seconds on a live connection are not gaps


def test_no_gap_on_the_first_connection():
    cont = Continuity("p")
    cont.resumed()
    assert len(cont.accept(batch(500.0))) == 1


def test_a_gap_the_source_names_itself_is_kept_and_not_doubled():
    cont = Continuity("p", slack_s=10.0)
    cont.accept(batch(100.0))
    cont.resumed()
    named = batch(160.0).model_copy(update={"gap_from": 100.0, "gap_to": 160.0})
    assert cont.accept(named) == [named]
    empty = TelemetryBatch(place_id="p", read_at=200.0, gap_from=160.0, gap_to=200.0)
    assert cont.accept(empty) == [empty]
