"""Local log files opened without reading them into memory: a line index built in chunks.

`LogFile(path)` detects plain text, JSON lines or gzip (by its magic bytes, whatever the
name). `build(progress, cancel)` runs on a worker: it reads 16 MiB chunks and records the
offset of every line end in a growing numpy int64 array (8 bytes a line: a 1 GB file of
250-byte lines needs 32 MB), publishing the count after each chunk so a view can show the
first lines while the rest is indexed. A gzip file is decompressed in one streaming pass
into a private cache file (a temp dir of mode 0700, deleted by `close()`), which is indexed
as it is written; random access then reads the cache, never the compressed stream.

Lines are read by offset with `os.pread` (safe from any thread). Invalid UTF-8 is decoded
with U+FFFD replacement characters; a line longer than `VIEW_LIMIT` bytes is cut for the
view with a marker, while `raw_line` (copy, export) gives it whole. A last line without a
line end (a file cut short, or still being written) is indexed and flagged.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK = 16 * 1024 * 1024
FIRST_CHUNK = 256 * 1024
VIEW_LIMIT = 16 * 1024  # bytes of one line shown in the view
GZIP_MAGIC = b"\x1f\x8b"


class LogFileError(Exception):
    """A log file that cannot be opened or read, with the reason in words."""


@dataclass
class Progress:
    """Written by the worker, read by the GUI thread (plain attributes: each write is atomic)."""

    done_bytes: int = 0
    total_bytes: int = 0
    lines: int = 0
    finished: bool = False
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return 1.0 if self.finished or not self.total_bytes else min(1.0, self.done_bytes / self.total_bytes)


class LineIndex:
    """Line ends of a file, appended by one writer thread, read by any thread."""

    def __init__(self) -> None:
        self._ends = np.empty(1 << 16, dtype=np.int64)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def extend(self, ends: np.ndarray) -> None:
        need = self._count + len(ends)
        array = self._ends
        if need > len(array):
            grown = np.empty(max(need, len(array) * 2), dtype=np.int64)
            grown[: self._count] = array[: self._count]
            array = grown
        array[self._count : need] = ends
        self._ends = array  # published before the count, so readers never see unwritten entries
        self._count = need

    def compact(self) -> None:
        """Give back the spare capacity once no line will be added."""
        self._ends = self._ends[: self._count].copy()

    def ends(self) -> np.ndarray:
        """A read-only view of the line ends indexed so far."""
        view = self._ends[: self._count]
        view.flags.writeable = False
        return view

    def span(self, line: int) -> tuple[int, int]:
        """(start, end) byte offsets of `line`, the line end excluded."""
        ends = self._ends
        start = 0 if line == 0 else int(ends[line - 1]) + 1
        return start, int(ends[line])

    def line_of(self, offsets: np.ndarray) -> np.ndarray:
        """The line holding each byte offset."""
        return np.searchsorted(self.ends(), offsets, side="left")

    def nbytes(self) -> int:
        return int(self._ends.nbytes)


class LogFile:
    """One local log file (plain, JSON lines or gzip) and its line index."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(4096)
            self.size = self.path.stat().st_size
        except IsADirectoryError as exc:
            raise LogFileError(f"{self.path} is a folder, not a log file") from exc
        except OSError as exc:
            raise LogFileError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        self.compressed = head.startswith(GZIP_MAGIC)
        first = head.lstrip()[:1]
        self.kind = "gzip" if self.compressed else ("json lines" if first == b"{" else "text")
        self._cache_dir = Path(tempfile.mkdtemp(prefix="switchboard-log-")) if self.compressed else None
        self.data_path = self._cache_dir / (self.path.stem or "log") if self._cache_dir else self.path
        if self._cache_dir is not None:
            self.data_path.touch(mode=0o600)
        self._fd = os.open(self.data_path, os.O_RDONLY)
        self.index = LineIndex()
        self.progress = Progress(total_bytes=self.size)
        self.unterminated = False  # the last line has no line end
        self.data_size = 0  # bytes of text (decompressed, for gzip), known when indexed
        self._lock = threading.Lock()

    # ------------------------------------------------------------ indexing (on a worker)
    def build(self, cancel: threading.Event | None = None) -> Progress:
        """Index every line (decompressing first for gzip); returns `progress` when done or cancelled."""
        cancel = cancel or threading.Event()
        try:
            if self.compressed:
                self._inflate_and_index(cancel)
            else:
                self._index_plain(cancel)
        except OSError as exc:
            self.progress.error = f"reading {self.path} failed: {exc.strerror or exc}"
        self.progress.finished = True
        return self.progress

    def _index_plain(self, cancel: threading.Event) -> None:
        offset = 0
        size = FIRST_CHUNK  # a small first read: the first screen shows sooner
        with open(self.path, "rb", buffering=0) as handle:
            while not cancel.is_set():
                chunk = handle.read(size)
                size = CHUNK
                if not chunk:
                    break
                self._add_chunk(chunk, offset)
                offset += len(chunk)
                self.progress.done_bytes = offset
        if not cancel.is_set():
            self._finish(offset)

    def _inflate_and_index(self, cancel: threading.Event) -> None:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
        offset = 0
        with open(self.path, "rb", buffering=0) as source, open(self.data_path, "wb") as cache:
            while not cancel.is_set():
                packed = source.read(CHUNK // 4)
                if not packed:
                    break
                self.progress.done_bytes += len(packed)
                try:
                    data = inflater.decompress(packed)
                    while inflater.eof and inflater.unused_data:  # a file of several gzip members
                        rest = inflater.unused_data
                        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
                        data += inflater.decompress(rest)
                except zlib.error as exc:
                    self.progress.notes.append(
                        f"the gzip data is damaged after {offset:,} decompressed bytes ({exc}); "
                        "showing the lines before the damage")
                    break
                if data:
                    cache.write(data)
                    cache.flush()
                    self._add_chunk(data, offset)
                    offset += len(data)
            else:
                return
            if not inflater.eof and not self.progress.notes:
                self.progress.notes.append("the gzip file ends early (cut short?): showing what it holds")
        self._finish(offset)

    def _add_chunk(self, chunk: bytes, offset: int) -> None:
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        if len(ends):
            self.index.extend(ends + offset)
            self.progress.lines = len(self.index)

    def _finish(self, data_size: int) -> None:
        self.data_size = data_size
        last_end = int(self.index.ends()[-1]) + 1 if len(self.index) else 0
        if data_size > last_end:
            self.unterminated = True
            self.index.extend(np.array([data_size], dtype=np.int64))
            self.progress.lines = len(self.index)
            self.progress.notes.append("the last line has no line end (the file may be cut short or still "
                                       "being written)")
        self.index.compact()

    # ------------------------------------------------------------ reading (any thread)
    def __len__(self) -> int:
        return len(self.index)

    def raw_line(self, line: int, limit: int | None = None) -> tuple[bytes, int]:
        """The bytes of `line` (at most `limit`) and its whole length, without its line end."""
        if not 0 <= line < len(self.index):
            raise LogFileError(f"{self.path.name} has no line {line + 1} (it has {len(self.index):,})")
        start, end = self.index.span(line)
        length = end - start
        data = self._pread(min(length, limit) if limit is not None else length, start)
        if data.endswith(b"\r") and (limit is None or length <= limit):
            data, length = data[:-1], length - 1
        return data, length

    def text(self, line: int, limit: int | None = VIEW_LIMIT) -> str:
        """`line` decoded (invalid UTF-8 replaced), cut at `limit` bytes with a marker saying so."""
        data, length = self.raw_line(line, limit)
        text = data.decode("utf-8", "replace")
        if length > len(data):
            text += f" … [line cut here for the view: {length:,} bytes in all; copy or export gives it whole]"
        return text

    def blocks(self, first: int = 0, last: int | None = None,
               size: int = CHUNK) -> Iterator[tuple[int, int, bytes]]:
        """(first line, stop line, bytes) of consecutive whole lines from `first` to `last` (exclusive),
        about `size` bytes each, joined by their line ends."""
        ends = self.index.ends()
        last = len(ends) if last is None else min(last, len(ends))
        line = first
        while line < last:
            start = 0 if line == 0 else int(ends[line - 1]) + 1
            stop_line = max(line + 1, min(last, int(np.searchsorted(ends, start + size, side="left"))))
            stop = int(ends[stop_line - 1])
            yield line, stop_line, self._pread(stop - start, start)
            line = stop_line

    def search(self, pattern: re.Pattern[bytes], cancel: threading.Event | None = None,
               on_progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Line numbers (ascending) where `pattern` matches, over the lines indexed so far."""
        found: list[np.ndarray] = []
        total = max(1, len(self.index))
        ends = self.index.ends()
        for first, stop, data in self.blocks():
            if cancel is not None and cancel.is_set():
                break
            base = 0 if first == 0 else int(ends[first - 1]) + 1
            starts = [m.start() for m in pattern.finditer(data)]
            if starts:
                found.append(np.unique(np.searchsorted(ends, np.asarray(starts, dtype=np.int64) + base)))
            if on_progress is not None:
                on_progress(stop / total)
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    def _pread(self, size: int, offset: int) -> bytes:
        with self._lock:  # close() may come from another thread: never read a closed (or reused) descriptor
            if self._fd < 0:
                raise LogFileError(f"{self.path.name} was closed")
            return os.pread(self._fd, size, offset)

    def memory_bytes(self) -> int:
        return self.index.nbytes()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        if self._cache_dir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._cache_dir)


def compile_search(text: str, regex: bool, case: bool = False) -> re.Pattern[bytes]:
    """A bytes pattern for `text` (plain or a regular expression); LogFileError says what is wrong."""
    if not text:
        raise LogFileError("type something to search for")
    try:
        flags = re.MULTILINE | (0 if case else re.IGNORECASE)
        return re.compile(text.encode() if regex else re.escape(text.encode()), flags)
    except re.error as exc:
        raise LogFileError(f"not a valid regular expression: {exc}") from exc
