"""The engine's one error type: an HTTP status, a message a person can act on, and detail."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class EngineError(Exception):
    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


def parse_object_or_null(raw: bytes, model: type[M], expected: str) -> M | None:
    """A PUT body that replaces one setting of an endpoint: a JSON object validated as `model`,
    or null to clear it. `expected` tells a person what to send ("send an SLO object (...)")."""
    if not raw.strip():
        raise EngineError(422, f"the body is empty: {expected}", problems=["body: empty"])
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise EngineError(422, f"the body is not JSON ({exc}): {expected}",
                          problems=[f"body: not JSON: {exc}"]) from None
    if body is None:
        return None
    if not isinstance(body, dict):
        raise EngineError(422, f"the body is a JSON {type(body).__name__}: {expected}",
                          problems=[f"body: expected an object or null, got {type(body).__name__}"])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {str(e['msg']).removeprefix('Value error, ')}"
                    for e in exc.errors()]
        raise EngineError(422, "; ".join(problems), problems=problems) from None
