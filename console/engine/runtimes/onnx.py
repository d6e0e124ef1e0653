"""ONNX runtime: `{"inputs": rows}` or `{"inputs": {name: rows}}` in, `{"outputs": ...}` out.

Inputs are checked against the model's declared shapes and element types before they reach
onnxruntime, so a client gets a 400 that says which row or value is wrong. A single-output
model answers `{"outputs": [...]}` (an [N, 1] output is flattened to N numbers); a model with
several outputs answers `{"outputs": {name: ...}}`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from console.engine.runtimes.base import BadInput, LoadError, require_file

_DTYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


@dataclass(frozen=True)
class TensorInput:
    """One declared model input: `shape` has None for symbolic (any-size) dimensions."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype[Any]

    @property
    def integer(self) -> bool:
        return self.dtype.kind in "iu"

    def describe(self) -> str:
        dims = ", ".join("N" if d is None else str(d) for d in self.shape)
        return f"model input {self.name!r} expects shape [{dims}] of {self.dtype.name}"


def choose_providers(available: list[str], env: Mapping[str, str]) -> list[str]:
    """CUDA then CPU where onnxruntime offers CUDA and no GPU is hidden from us; else CPU."""
    visible = env.get("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"))
    hidden = visible is not None and visible.strip() in ("", "-1")
    if "CUDAExecutionProvider" in available and not hidden:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxScorer:
    """A loaded ONNX model. `providers` are the execution providers the session really uses."""

    def __init__(self, path: Path, session: Any) -> None:
        self.path = path
        self._session = session
        self.providers: list[str] = [str(p) for p in session.get_providers()]
        self.inputs: tuple[TensorInput, ...] = tuple(_tensor_input(path, arg) for arg in session.get_inputs())
        self.output_names: tuple[str, ...] = tuple(str(arg.name) for arg in session.get_outputs())
        if not self.inputs:
            raise LoadError(f"ONNX model {path} declares no inputs")

    @classmethod
    def load(cls, model_path: Path | None, env: Mapping[str, str]) -> OnnxScorer:
        path = require_file("onnx", model_path)
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
            raise LoadError(f"cannot load ONNX model {path}: onnxruntime is not installed ({exc})") from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; provider fallbacks are reported via `providers`
        providers = choose_providers(list(ort.get_available_providers()), env)
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:
            detail = str(exc).strip() or type(exc).__name__
            raise LoadError(f"cannot load ONNX model {path}: {detail}") from exc
        return cls(path, session)

    def score(self, payload: Any) -> Any:
        feeds = self._feeds(payload)
        try:
            results = self._session.run(None, feeds)
        except Exception as exc:
            if type(exc).__name__ == "InvalidArgument":  # onnxruntime's own shape/type check
                raise BadInput(f"the model rejected the input: {exc}") from exc
            raise
        values = [_jsonable(r) for r in results]
        if len(values) == 1:
            return {"outputs": values[0]}
        return {"outputs": dict(zip(self.output_names, values, strict=True))}

    def _feeds(self, payload: Any) -> dict[str, npt.NDArray[Any]]:
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise BadInput(f'expected a JSON object {{"inputs": ...}}, got {_describe(payload)}')
        inputs = payload["inputs"]
        if isinstance(inputs, dict):
            names = [t.name for t in self.inputs]
            missing = [n for n in names if n not in inputs]
            unknown = [str(n) for n in inputs if n not in names]
            if missing or unknown:
                problems = []
                if missing:
                    problems.append(f"missing {', '.join(map(repr, missing))}")
                if unknown:
                    problems.append(f"unknown {', '.join(map(repr, unknown))}")
                raise BadInput(f"inputs: {'; '.join(problems)} (the model's inputs are {', '.join(map(repr, names))})")
            return {t.name: _to_array(t, inputs[t.name], f"inputs[{t.name!r}]") for t in self.inputs}
        if len(self.inputs) > 1:
            listed = ", ".join(repr(t.name) for t in self.inputs)
            raise BadInput(f'the model has several inputs ({listed}); send {{"inputs": {{name: rows, ...}}}}')
        only = self.inputs[0]
        return {only.name: _to_array(only, inputs, "inputs")}


def _tensor_input(path: Path, arg: Any) -> TensorInput:
    type_name = str(arg.type)
    dtype = _DTYPES.get(type_name)
    if dtype is None:
        supported = ", ".join(_DTYPES)
        raise LoadError(f"ONNX model {path}: input {arg.name!r} is {type_name}; supported: {supported}")
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (arg.shape or []))
    if not shape:
        raise LoadError(f"ONNX model {path}: input {arg.name!r} is a scalar; a batch dimension is required")
    return TensorInput(str(arg.name), shape, np.dtype(dtype))


def _describe(value: Any) -> str:
    if isinstance(value, list | dict):
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value)}"
    text = repr(value)
    return f"{text[:40]}... ({type(value).__name__})" if len(text) > 40 else f"{text} ({type(value).__name__})"


def _to_array(spec: TensorInput, value: Any, where: str) -> npt.NDArray[Any]:
    """`value` as an array of `spec.dtype` and `spec.shape`, or BadInput naming the first problem."""
    if not isinstance(value, list) or not value:
        raise BadInput(f"{where} must be a non-empty list of rows, got {_describe(value)}; {spec.describe()}")
    try:
        array: npt.NDArray[Any] | None = np.asarray(value)
    except (ValueError, TypeError, OverflowError):  # ragged nesting, huge ints
        array = None
    kinds = "iu" if spec.integer else "iuf"
    fits = array is not None and array.dtype.kind in kinds and _shape_fits(array.shape, spec.shape)
    if array is None or not fits or _has_bool(value, len(spec.shape)):  # numpy reads true as 1.0
        _diagnose(value, spec.shape, spec.integer, where, spec)
        raise BadInput(f"{where} cannot be read as {spec.dtype.name}; {spec.describe()}")
    if spec.integer:
        info = np.iinfo(spec.dtype)
        if array.min() < info.min or array.max() > info.max:
            raise BadInput(f"{where} holds integers outside the {spec.dtype.name} range; {spec.describe()}")
    else:
        magnitudes = np.abs(array[np.isfinite(array)])
        if magnitudes.max(initial=0) > np.finfo(spec.dtype).max:
            raise BadInput(f"{where} holds numbers too large for {spec.dtype.name}; {spec.describe()}")
    return array.astype(spec.dtype, copy=False)


def _shape_fits(actual: tuple[int, ...], declared: tuple[int | None, ...]) -> bool:
    return len(actual) == len(declared) and all(d is None or d == a for a, d in zip(actual, declared, strict=True))


def _has_bool(value: list[Any], depth: int) -> bool:
    if depth == 1:
        return any(type(v) is bool for v in value)
    return any(_has_bool(item, depth - 1) for item in value)


def _diagnose(value: Any, shape: tuple[int | None, ...], integer: bool, where: str, spec: TensorInput) -> None:
    """Raise BadInput for the first element of `value` that does not fit `shape`; return if none."""
    if not shape:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadInput(f"{where} is {_describe(value)}; expected a number; {spec.describe()}")
        if integer and isinstance(value, float) and not value.is_integer():
            raise BadInput(f"{where} is {value!r}; expected an integer; {spec.describe()}")
        return
    if not isinstance(value, list):
        raise BadInput(f"{where} is {_describe(value)}; expected a list; {spec.describe()}")
    if not value:
        raise BadInput(f"{where} is empty; {spec.describe()}")
    if shape[0] is not None and len(value) != shape[0]:
        raise BadInput(f"{where} has {len(value)} values, expected {shape[0]}; {spec.describe()}")
    for index, item in enumerate(value):
        _diagnose(item, shape[1:], integer, f"{where}[{index}]", spec)


def _jsonable(result: Any) -> Any:
    if isinstance(result, np.ndarray):
        array = cast(npt.NDArray[Any], result)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        return array.tolist()
    return result
