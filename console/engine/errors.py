"""The engine's one error type: an HTTP status, a message a person can act on, and detail."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
