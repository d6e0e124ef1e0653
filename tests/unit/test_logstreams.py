"""The live reader's bulk path: lines split across network chunks come out whole, and the engine's
router lines (the short way) read the same as any other line would."""

from __future__ import annotations

import threading

import httpx

from console.backends.logstreams import engine_entry, stream_lines
from console.domain.logparse import ERROR, INFO, WARNING


def lines_of(*chunks: bytes) -> list[str]:
    response = httpx.Response(200, content=iter(chunks))
    return [line for batch in stream_lines(response, threading.Event()) for line in batch]


def test_lines_split_across_chunks_come_out_whole():
    assert lines_of(b"one\ntw", b"o\r\nthr", b"ee", b"\nfour") == ["one", "two", "three", "four"]
    assert lines_of(b"caf\xc3", b"\xa9 \xff\n") == ["caf\u00e9 \ufffd"]  # a character cut between chunks, a bad byte
    assert lines_of(b"", b"a\n\nb\n") == ["a", "", "b"]


def test_a_stopped_reader_reads_no_further():
    stop = threading.Event()
    response = httpx.Response(200, content=iter([b"a\n", b"b\n"]))
    seen = []
    for batch in stream_lines(response, stop):
        seen += batch
        stop.set()
    assert seen == ["a"]


def test_router_lines_are_levelled_by_status_with_their_request_id():
    def entry(text: str):
        return engine_entry(f"2026-11-22T00:30:52.123Z router {text}", "fraud-v1")

    ok, missing, failed = (entry(f"request req-{code} status {code} 1.5ms") for code in (200, 404, 503))
    assert (ok.source, ok.level, ok.request_id, ok.text) == ("fraud-v1/router", INFO, "req-200",
                                                             "request req-200 status 200 1.5ms")
    assert ok.time == 1795307452.123
    assert (missing.level, failed.level) == (WARNING, ERROR)
    odd = entry("ERROR upstream closed")  # not a request line: read like any other
    assert (odd.level, odd.request_id) == (ERROR, "")
    replica = engine_entry("2026-11-22T00:30:52.123Z fraud-v1-2 WARNING slow batch request_id=abcd1234", "fraud-v1")
    assert (replica.source, replica.level, replica.request_id) == ("fraud-v1/fraud-v1-2", WARNING, "abcd1234")
