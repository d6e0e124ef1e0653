"""Python scoring-script runtime: the script defines `init()` (called once) and `run(data)`.

`run` raising ValueError, TypeError or KeyError is the client's fault (BadInput → 400); any
other exception is the model's fault and propagates (500). The deployment's `env` is laid over
`os.environ` while the script is imported and `init()` runs, so `init()` can read it there; a
replica process also has it as its real environment.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from console.engine.runtimes.base import BadInput, LoadError, require_file

CLIENT_ERRORS = (ValueError, TypeError, KeyError)


def module_name_for(path: Path) -> str:
    """A module name unique to the script's resolved path (and readable in tracebacks)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"switchboard_scoring_{stem}_{digest}"


@contextmanager
def overlaid_environ(env: Mapping[str, str]) -> Iterator[None]:
    """`env` set in os.environ for the duration of the block, previous values restored after."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class PythonScorer:
    """A loaded scoring script; `score(payload)` calls its `run(payload)`."""

    def __init__(self, path: Path, module: ModuleType, run: Callable[[Any], Any]) -> None:
        self.path = path
        self.module = module
        self._run = run

    @classmethod
    def load(cls, model_path: Path | None, env: Mapping[str, str]) -> PythonScorer:
        path = require_file("python", model_path)
        name = module_name_for(path)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LoadError(f"scoring script {path} cannot be imported (is it a .py file?)")
        module = importlib.util.module_from_spec(spec)
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # sibling helper modules import as they would with `python script.py`
        sys.modules[name] = module
        with overlaid_environ(env):
            try:
                spec.loader.exec_module(module)
            except BaseException as exc:
                sys.modules.pop(name, None)
                if not isinstance(exc, Exception):
                    raise
                raise LoadError(f"scoring script {path} failed to import: {type(exc).__name__}: {exc}") from exc
            init, run = _entry_points(path, module)
            try:
                init()
            except Exception as exc:
                raise LoadError(f"init() in scoring script {path} raised {type(exc).__name__}: {exc}") from exc
        return cls(path, module, run)

    def score(self, payload: Any) -> Any:
        try:
            return self._run(payload)
        except BadInput:
            raise
        except KeyError as exc:
            raise BadInput(f"missing key {exc.args[0]!r}" if exc.args else "missing key") from exc
        except CLIENT_ERRORS as exc:
            raise BadInput(str(exc) or type(exc).__name__) from exc


def _entry_points(path: Path, module: ModuleType) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    init = getattr(module, "init", None)
    run = getattr(module, "run", None)
    missing = [f"{name}()" for name, fn in (("init", init), ("run", run)) if not callable(fn)]
    if missing:
        raise LoadError(f"scoring script {path} must define {' and '.join(missing)}; it does not")
    assert init is not None and run is not None
    _check_arity(path, "init", init, 0)
    _check_arity(path, "run", run, 1)
    return init, run


def _check_arity(path: Path, name: str, fn: Callable[..., Any], args: int) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(*([None] * args))
    except TypeError as exc:
        wanted = "no arguments" if args == 0 else f"{args} argument"
        raise LoadError(f"scoring script {path}: {name}{signature} must accept {wanted} ({exc})") from None
