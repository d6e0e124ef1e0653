"""Local log files: each awkward kind opens, with what is odd about it said plainly."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from console.backends.logfiles import VIEW_LIMIT, LogFile, LogFileError, compile_search

BIG = 1024 * 1024


def opened(path):
    logfile = LogFile(path)
    progress = logfile.build()
    assert progress.finished and not progress.error
    return logfile


@pytest.fixture
def awkward(tmp_path):
    """Text with invalid UTF-8, a CRLF line, a 1 MB line, and a last line with no line end."""
    path = tmp_path / "awkward.log"
    path.write_bytes(b"first\nbad \xff\xfe bytes\r\n" + b"x" * BIG + b"\nlast without end")
    return path


def test_text_file_lines_with_invalid_utf8_a_long_line_and_no_final_newline(awkward):
    logfile = opened(awkward)
    try:
        assert (logfile.kind, len(logfile)) == ("text", 4)
        assert logfile.text(0) == "first"
        assert logfile.text(1) == "bad \ufffd\ufffd bytes"  # replaced, and the CR of CRLF gone
        shown = logfile.text(2)
        assert shown.startswith("x" * 100) and "1,048,576 bytes in all" in shown and len(shown) < VIEW_LIMIT + 200
        assert logfile.raw_line(2) == (b"x" * BIG, BIG)  # copy and export get it whole
        assert logfile.text(3) == "last without end"
        assert logfile.unterminated
        assert any("no line end" in note for note in logfile.progress.notes)
    finally:
        logfile.close()


def test_gzip_is_decompressed_once_into_a_private_cache_removed_on_close(tmp_path, awkward):
    packed = tmp_path / "rotated.1"  # no .gz name: recognised by its bytes
    packed.write_bytes(gzip.compress(awkward.read_bytes()))
    logfile = opened(packed)
    assert logfile.kind == "gzip" and len(logfile) == 4
    assert logfile.raw_line(2)[1] == BIG
    cache = logfile.data_path
    assert cache != packed and oct(os.stat(cache.parent).st_mode & 0o777) == "0o700"
    logfile.close()
    assert not cache.exists()


def test_gzip_cut_short_shows_what_it_holds(tmp_path):
    lines = b"".join(b"line %d of the rotated log\n" % i for i in range(20000))
    packed = tmp_path / "cut.log.gz"
    packed.write_bytes(gzip.compress(lines)[:3000])
    logfile = opened(packed)
    try:
        assert 0 < len(logfile) < 20000
        assert logfile.text(0) == "line 0 of the rotated log"
        assert any("ends early" in note for note in logfile.progress.notes)
    finally:
        logfile.close()


def test_json_lines_and_search(tmp_path):
    path = tmp_path / "app.jsonl"
    path.write_text("".join(f'{{"level": "{"error" if i % 10 == 0 else "info"}", "msg": "m{i}"}}\n'
                            for i in range(1000)))
    logfile = opened(path)
    try:
        assert logfile.kind == "json lines" and len(logfile) == 1000 and not logfile.unterminated
        errors = logfile.search(compile_search('"error"', regex=False))
        assert np.array_equal(errors, np.arange(0, 1000, 10))
        assert list(logfile.search(compile_search(r'"m99\d"', regex=True))) == list(range(990, 1000))
        assert list(logfile.search(compile_search("M999", regex=False, case=True))) == []
    finally:
        logfile.close()


def test_index_grows_in_chunks_and_blocks_cover_every_line(tmp_path, monkeypatch):
    import console.backends.logfiles as logfiles

    monkeypatch.setattr(logfiles, "CHUNK", 4096)
    path = tmp_path / "many.log"
    path.write_bytes(b"".join(b"%06d\n" % i for i in range(10000)))
    logfile = opened(path)
    try:
        assert len(logfile) == 10000 and logfile.text(9999) == "009999"
        lines = [ln for _first, _stop, data in logfile.blocks(size=1000) for ln in data.split(b"\n")]
        assert lines == [b"%06d" % i for i in range(10000)]
    finally:
        logfile.close()


def test_clear_errors(tmp_path):
    with pytest.raises(LogFileError, match="cannot open"):
        LogFile(tmp_path / "missing.log")
    with pytest.raises(LogFileError, match="is a folder"):
        LogFile(tmp_path)
    with pytest.raises(LogFileError, match="not a valid regular expression"):
        compile_search("(unclosed", regex=True)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    logfile = opened(empty)
    assert len(logfile) == 0
    with pytest.raises(LogFileError, match="has no line 1"):
        logfile.text(0)
    logfile.close()
    one = tmp_path / "one.log"
    one.write_bytes(b"only\n")
    logfile = opened(one)
    logfile.close()
    with pytest.raises(LogFileError, match="closed"):
        logfile.text(0)
