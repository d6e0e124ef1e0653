"""Work on log files that runs on TaskRunner workers: filter, search, export, jump, request ids.

Plain functions of a LogFile and a `Job` (a cancel flag and a progress figure the pane's timer
reads); none touches Qt. A cancelled job returns what it has so far and nobody reads it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from console.backends.logfiles import VIEW_LIMIT, LogFile, LogFileError, compile_search
from console.domain.logparse import LogEntry, parse_line
from console.ui.logs.filters import LogFilter


@dataclass
class Job:
    what: str
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: float = 0.0
    task_id: int = 0


def _entry(data: bytes, source: str) -> LogEntry:
    text = data[:VIEW_LIMIT].decode("utf-8", "replace")
    parsed = parse_line(text)
    return LogEntry(parsed.time, source, parsed.level, parsed.request_id, text)


def filter_lines(logfile: LogFile, log_filter: LogFilter, first: int, last: int, job: Job) -> np.ndarray:
    """Line numbers in [first, last) that pass `log_filter`."""
    source = logfile.path.name
    if log_filter.sources and source not in log_filter.sources:
        return np.empty(0, dtype=np.int64)
    pattern = compile_search(log_filter.text, log_filter.regex) if log_filter.text else None
    match = LogFilter(min_level=log_filter.min_level, since=log_filter.since, until=log_filter.until).matcher()
    parse = bool(log_filter.min_level or log_filter.since is not None or log_filter.until is not None)
    ends = logfile.index.ends()
    found: list[np.ndarray] = []
    span = max(1, last - first)
    for start, stop, data in logfile.blocks(first, last):
        if job.cancel.is_set():
            break
        if pattern is not None:
            base = 0 if start == 0 else int(ends[start - 1]) + 1
            hits = [m.start() for m in pattern.finditer(data)]
            candidates = np.unique(np.searchsorted(ends, np.asarray(hits, dtype=np.int64) + base)) if hits \
                else np.empty(0, dtype=np.int64)
        else:
            candidates = np.arange(start, stop, dtype=np.int64)
        if parse and len(candidates):
            lines = data.split(b"\n")
            keep = [line for line in candidates.tolist() if match(_entry(lines[line - start], source))]
            candidates = np.asarray(keep, dtype=np.int64)
        found.append(candidates)
        job.progress = (stop - first) / span
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def search_lines(logfile: LogFile, text: str, regex: bool, case: bool, job: Job) -> np.ndarray:
    pattern = compile_search(text, regex, case)
    return logfile.search(pattern, job.cancel, lambda fraction: setattr(job, "progress", fraction))


def export_file(logfile: LogFile, rows: np.ndarray | None, target: Path, job: Job) -> int:
    """Write the lines (whole, as in the file) of `rows` (None: all) to `target`; returns the count."""
    if target.resolve() == logfile.path.resolve():
        raise LogFileError(f"{target} is the log file itself: choose another file to export to")
    count = 0
    try:
        with open(target, "wb") as out:
            if rows is None:
                total = max(1, len(logfile))
                for _start, stop, data in logfile.blocks():
                    if job.cancel.is_set():
                        break
                    out.write(data + b"\n")
                    count, job.progress = stop, stop / total
                return count
            for position, line in enumerate(rows.tolist()):
                if job.cancel.is_set():
                    break
                out.write(logfile.raw_line(line)[0] + b"\n")
                count = position + 1
                if position % 4096 == 0:
                    job.progress = position / max(1, len(rows))
    except OSError as exc:
        raise LogFileError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return count


def export_texts(texts: list[str], target: Path, job: Job) -> int:
    try:
        with open(target, "w", encoding="utf-8", errors="replace") as out:
            for text in texts:
                out.write(text + "\n")
    except OSError as exc:
        raise LogFileError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return len(texts)


def line_at_time(logfile: LogFile, moment: float, job: Job) -> int:
    """The first line at or after `moment`, by bisection (lines without a time take the next timed one's)."""
    low, high = 0, len(logfile)
    while low < high and not job.cancel.is_set():
        middle = (low + high) // 2
        probe, stamp = middle, None
        while probe < high and stamp is None and probe - middle < 200:
            stamp = parse_line(logfile.text(probe, 4096)).time
            probe += 1
        if stamp is None or stamp >= moment:
            high = middle
        else:
            low = middle + 1
    return min(low, max(0, len(logfile) - 1))


def request_entries(logfile: LogFile, request_id: str, job: Job) -> list[LogEntry]:
    lines = logfile.search(compile_search(request_id, False, case=True), job.cancel)
    source = logfile.path.name
    return [_entry(logfile.raw_line(line, VIEW_LIMIT)[0], source) for line in lines[:10_000].tolist()]
