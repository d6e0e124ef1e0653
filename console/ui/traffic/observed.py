"""ObservedTraffic: the recent telemetry samples of the endpoints the traffic controls watch.

Fed by the console's TelemetryFeed (`add_batch`); keeps the samples of at most `max_endpoints`
watched endpoints (the most recently watched), each for `keep_s` seconds, so memory stays
bounded however many places and deployments the console shows.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from PySide6.QtCore import QObject, Signal

from console.domain.telemetry import Sample, TelemetryBatch

Key = tuple[str, str]  # place id, endpoint


class ObservedTraffic(QObject):
    sig_samples_added = Signal(str, str)  # place id, endpoint

    def __init__(self, keep_s: float = 3600.0, max_endpoints: int = 8, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.keep_s = keep_s
        self.max_endpoints = max_endpoints
        self._samples: OrderedDict[Key, deque[Sample]] = OrderedDict()

    def watch(self, place_id: str, endpoint: str) -> None:
        key = (place_id, endpoint)
        if key in self._samples:
            self._samples.move_to_end(key)
            return
        self._samples[key] = deque()
        while len(self._samples) > self.max_endpoints:
            self._samples.popitem(last=False)

    def add_batch(self, batch: TelemetryBatch) -> None:
        touched: set[Key] = set()
        for sample in batch.samples:
            key = (batch.place_id, sample.endpoint)
            kept = self._samples.get(key)
            if kept is not None:
                kept.append(sample)
                touched.add(key)
        for key in touched:
            kept = self._samples[key]
            newest = max(s.time for s in kept)
            while kept and kept[0].time < newest - self.keep_s:
                kept.popleft()
            self.sig_samples_added.emit(*key)

    def samples(self, place_id: str, endpoint: str) -> list[Sample]:
        return list(self._samples.get((place_id, endpoint), ()))

    def latest_time(self, place_id: str, endpoint: str) -> float | None:
        kept = self._samples.get((place_id, endpoint))
        return max((s.time for s in kept), default=None) if kept else None
