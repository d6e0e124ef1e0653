"""What every in-process runtime provides: a Scorer, and the two errors a replica tells apart.

`BadInput` is the client's fault (the replica answers 400 with its message); `LoadError` means
the model cannot be loaded at all (the replica exits and reports the message, which names the
path). Any other exception from `score` is the model's fault (the replica answers 500).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

RUNTIMES = ("onnx", "python")


class BadInput(ValueError):
    """The request body cannot be scored; the message tells the client what to change."""


class LoadError(RuntimeError):
    """The model cannot be loaded; the message is specific and names the path."""


@runtime_checkable
class Scorer(Protocol):
    """A loaded model: JSON-compatible payload in, JSON-compatible result out."""

    def score(self, payload: Any) -> Any: ...


def load_scorer(runtime: str, model_path: Path | None, env: Mapping[str, str]) -> Scorer:
    """Load `model_path` with `runtime` ("onnx" or "python"); raises LoadError."""
    if runtime == "onnx":
        from console.engine.runtimes.onnx import OnnxScorer

        return OnnxScorer.load(model_path, env)
    if runtime == "python":
        from console.engine.runtimes.python import PythonScorer

        return PythonScorer.load(model_path, env)
    raise LoadError(f"runtime {runtime!r} has no in-process scorer (expected one of: {', '.join(RUNTIMES)})")


def require_file(runtime: str, model_path: Path | None) -> Path:
    """`model_path` made absolute, or LoadError when it is missing or not a regular file."""
    if model_path is None:
        raise LoadError(f"runtime {runtime!r} needs model.path, and none was given")
    path = Path(model_path).expanduser().absolute()
    if not path.exists():
        raise LoadError(f"model file not found: {path}")
    if not path.is_file():
        raise LoadError(f"model path is not a regular file: {path}")
    return path
