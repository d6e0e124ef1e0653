"""What a log view shows: level, source, text and time range. Pure Python (no Qt)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from console.domain.logparse import LogEntry


@dataclass(frozen=True)
class LogFilter:
    min_level: int = 0  # 0: every line, also those without a level
    sources: frozenset[str] = field(default_factory=frozenset)  # empty: every source
    text: str = ""
    regex: bool = False
    since: float | None = None
    until: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.min_level or self.sources or self.text or self.since is not None or self.until is not None)

    def pattern(self) -> re.Pattern[str] | None:
        """The text criterion compiled (case-insensitive); raises re.error for a bad expression."""
        if not self.text:
            return None
        return re.compile(self.text if self.regex else re.escape(self.text), re.IGNORECASE)

    def matcher(self) -> Any:
        """A fast predicate LogEntry -> bool."""
        pattern = self.pattern()
        search = pattern.search if pattern is not None else None
        min_level, sources, since, until = self.min_level, self.sources, self.since, self.until

        def matches(entry: LogEntry) -> bool:
            if min_level and entry.level < min_level:
                return False
            if sources and entry.source not in sources:
                return False
            if since is not None and (entry.time is None or entry.time < since):
                return False
            if until is not None and (entry.time is None or entry.time > until):
                return False
            return search is None or search(entry.text) is not None or search(entry.source) is not None

        return matches

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = sorted(self.sources)
        return data

    @classmethod
    def from_json(cls, data: Any) -> LogFilter:
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(min_level=int(data.get("min_level", 0)), sources=frozenset(map(str, data.get("sources", []))),
                       text=str(data.get("text", "")), regex=bool(data.get("regex", False)),
                       since=_number(data.get("since")), until=_number(data.get("until")))
        except (TypeError, ValueError):
            return cls()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
