"""The in-process runtimes: real demo ONNX models and the demo scoring script."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

from console.engine.runtimes.base import BadInput, LoadError, Scorer, load_scorer
from console.engine.runtimes.onnx import OnnxScorer, choose_providers
from console.engine.runtimes.python import PythonScorer, module_name_for

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
V1 = DEMO / "models" / "fraud-v1.onnx"
V2 = DEMO / "models" / "fraud-v2.onnx"
V3 = DEMO / "scoring" / "fraud_v3.py"

NORMAL = [0.1, 0.5, -0.8, 0.2, -0.3, 1.0, -0.5, 0.4]
SUSPICIOUS = [2.5, 0.2, 0.97, 0.75, 3.8, 0.0, 4.0, -3.5]
ROWS = [NORMAL, SUSPICIOUS, [0.0] * 8]


def _probabilities(result: object, rows: int) -> list[float]:
    assert isinstance(result, dict) and set(result) == {"outputs"}
    outputs = result["outputs"]
    assert isinstance(outputs, list) and len(outputs) == rows
    assert all(isinstance(p, float) and 0.0 < p < 1.0 for p in outputs), outputs
    return outputs


@pytest.fixture(autouse=True)
def _restore_import_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a script adds its folder to sys.path and its module to sys.modules; undo both."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- onnx ---------------------------------------------------------------------------------


def test_onnx_demo_models_give_probabilities_and_differ() -> None:
    v1 = load_scorer("onnx", V1, {})
    v2 = load_scorer("onnx", V2, {})
    assert isinstance(v1, OnnxScorer) and isinstance(v1, Scorer)
    assert "CPUExecutionProvider" in v1.providers
    p1 = _probabilities(v1.score({"inputs": ROWS}), 3)
    p2 = _probabilities(v2.score({"inputs": ROWS}), 3)
    assert p1 != p2
    assert p1[1] > 0.9 > 0.1 > p1[0]  # the suspicious row scores high, the normal one low
    expected = 1 / (1 + math.exp(3.0))  # all-zero row: sigmoid(bias) of v1
    assert p1[2] == pytest.approx(expected, rel=1e-6)


def test_onnx_accepts_named_inputs_and_integers() -> None:
    scorer = load_scorer("onnx", V1, {})
    by_name = scorer.score({"inputs": {"features": [NORMAL]}})
    assert by_name == scorer.score({"inputs": [NORMAL]})
    _probabilities(scorer.score({"inputs": [[0, 1, 0, 0, 0, 1, 0, 0]]}), 1)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([NORMAL], 'expected a JSON object {"inputs": ...}'),
        ({"rows": [NORMAL]}, 'expected a JSON object {"inputs": ...}'),
        ({"inputs": []}, "inputs must be a non-empty list of rows"),
        ({"inputs": NORMAL}, "inputs[0] is 0.1 (float); expected a list"),
        ({"inputs": [NORMAL[:7]]}, "inputs[0] has 7 values, expected 8"),
        ({"inputs": [NORMAL, [*NORMAL, 1.0]]}, "inputs[1] has 9 values, expected 8"),
        ({"inputs": [[*NORMAL[:3], "x", *NORMAL[4:]]]}, "inputs[0][3] is 'x' (str); expected a number"),
        ({"inputs": [[*NORMAL[:7], True]]}, "inputs[0][7] is True (bool); expected a number"),
        ({"inputs": [[*NORMAL[:7], None]]}, "inputs[0][7] is None (NoneType); expected a number"),
        ({"inputs": [[[v] for v in NORMAL]]}, "inputs[0][0] is a list of 1; expected a number"),
        ({"inputs": [[*NORMAL[:7], 1e300]]}, "inputs holds numbers too large for float32"),
        ({"inputs": {"feature": [NORMAL]}}, "inputs: missing 'features'; unknown 'feature'"),
    ],
)
def test_onnx_bad_input_names_the_problem(payload: object, message: str) -> None:
    scorer = load_scorer("onnx", V1, {})
    with pytest.raises(BadInput) as caught:
        scorer.score(payload)
    assert message in str(caught.value)
    if "inputs[" in message:
        assert "model input 'features' expects shape [N, 8] of float32" in str(caught.value)


def test_onnx_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.onnx"
    with pytest.raises(LoadError, match="model file not found") as caught:
        load_scorer("onnx", missing, {})
    assert str(missing) in str(caught.value)


def test_onnx_corrupted_file_is_a_load_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot an onnx model\x13\x37" * 10)
    with pytest.raises(LoadError, match="cannot load ONNX model") as caught:
        load_scorer("onnx", junk, {})
    assert str(junk) in str(caught.value)


def test_load_errors_for_no_path_directory_and_unknown_runtime(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"needs model\.path"):
        load_scorer("onnx", None, {})
    with pytest.raises(LoadError, match="not a regular file") as caught:
        load_scorer("python", tmp_path, {})
    assert str(tmp_path) in str(caught.value)
    with pytest.raises(LoadError, match="runtime 'upstream' has no in-process scorer"):
        load_scorer("upstream", None, {})


def test_cuda_is_preferred_only_when_available_and_visible() -> None:
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(cuda, {"CUDA_VISIBLE_DEVICES": "0"}) == cuda
    assert choose_providers(cuda, {"CUDA_VISIBLE_DEVICES": ""}) == ["CPUExecutionProvider"]
    assert choose_providers(["CPUExecutionProvider"], {"CUDA_VISIBLE_DEVICES": "0"}) == ["CPUExecutionProvider"]


# --- python -------------------------------------------------------------------------------


def test_python_demo_script_scores() -> None:
    scorer = load_scorer("python", V3, {"DEMO_LATENCY_MS": "0", "DEMO_ERROR_RATE": "0"})
    assert isinstance(scorer, PythonScorer)
    p3 = _probabilities(scorer.score({"inputs": ROWS}), 3)
    assert p3[1] > 0.9 > 0.1 > p3[0]
    p1 = _probabilities(load_scorer("onnx", V1, {}).score({"inputs": ROWS}), 3)
    assert p3 != pytest.approx(p1)


def test_python_demo_script_bad_input_is_bad_input() -> None:
    scorer = load_scorer("python", V3, {})
    with pytest.raises(BadInput, match=r"inputs\[0\] must be a list of 8 numbers, got 3 values"):
        scorer.score({"inputs": [[1, 2, 3]]})
    with pytest.raises(BadInput, match="expected a JSON object"):
        scorer.score("hello")


def test_python_demo_error_rate_one_makes_every_request_fail() -> None:
    scorer = load_scorer("python", V3, {"DEMO_ERROR_RATE": "1"})
    for _ in range(5):
        with pytest.raises(RuntimeError, match="injected failure") as caught:
            scorer.score({"inputs": [NORMAL]})
        assert not isinstance(caught.value, BadInput)


def test_python_env_is_restored_after_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_ERROR_RATE", raising=False)
    monkeypatch.setenv("DEMO_LATENCY_MS", "7")
    load_scorer("python", V3, {"DEMO_ERROR_RATE": "0", "DEMO_LATENCY_MS": "0"})
    assert "DEMO_ERROR_RATE" not in os.environ
    assert os.environ["DEMO_LATENCY_MS"] == "7"


def test_python_bad_env_value_fails_init_with_the_reason() -> None:
    with pytest.raises(LoadError, match=r"init\(\) .* raised ValueError: DEMO_ERROR_RATE=2.0 is outside 0.0..1.0"):
        load_scorer("python", V3, {"DEMO_ERROR_RATE": "2"})


def test_python_script_without_run_is_a_load_error(tmp_path: Path) -> None:
    path = _script(tmp_path, "no_run_script.py", "def init():\n    pass\n")
    with pytest.raises(LoadError, match=r"must define run\(\)") as caught:
        load_scorer("python", path, {})
    assert str(path) in str(caught.value)


def test_python_script_without_init_or_run_names_both(tmp_path: Path) -> None:
    path = _script(tmp_path, "empty_script.py", "X = 1\n")
    with pytest.raises(LoadError, match=r"must define init\(\) and run\(\)"):
        load_scorer("python", path, {})


def test_python_init_raising_is_a_load_error_with_its_text(tmp_path: Path) -> None:
    path = _script(
        tmp_path,
        "init_fails_script.py",
        "def init():\n    raise FileNotFoundError('weights.bin is missing')\n\ndef run(data):\n    return data\n",
    )
    with pytest.raises(LoadError) as caught:
        load_scorer("python", path, {})
    text = str(caught.value)
    assert str(path) in text and "FileNotFoundError" in text and "weights.bin is missing" in text


def test_python_import_failure_and_wrong_arity_are_load_errors(tmp_path: Path) -> None:
    broken = _script(tmp_path, "syntax_error_script.py", "def init(:\n")
    with pytest.raises(LoadError, match="failed to import: SyntaxError") as caught:
        load_scorer("python", broken, {})
    assert str(broken) in str(caught.value)
    arity = _script(tmp_path, "arity_script.py", "def init():\n    pass\n\ndef run():\n    return 1\n")
    with pytest.raises(LoadError, match=r"run\(\) must accept 1 argument"):
        load_scorer("python", arity, {})


def test_python_run_errors_split_client_and_server(tmp_path: Path) -> None:
    path = _script(
        tmp_path,
        "errors_script.py",
        "def init():\n    pass\n\n"
        "def run(data):\n"
        "    kind = data['kind']\n"
        "    if kind == 'value':\n        raise ValueError('amount must be positive')\n"
        "    if kind == 'type':\n        raise TypeError('rows must be lists')\n"
        "    if kind == 'boom':\n        raise ZeroDivisionError('model bug')\n"
        "    return {'ok': kind}\n",
    )
    scorer = load_scorer("python", path, {})
    assert scorer.score({"kind": "fine"}) == {"ok": "fine"}
    with pytest.raises(BadInput, match="amount must be positive"):
        scorer.score({"kind": "value"})
    with pytest.raises(BadInput, match="rows must be lists"):
        scorer.score({"kind": "type"})
    with pytest.raises(BadInput, match="missing key 'kind'"):
        scorer.score({})
    with pytest.raises(ZeroDivisionError):
        scorer.score({"kind": "boom"})


def test_python_module_names_are_unique_per_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _script(tmp_path / "a", "score.py", "def init():\n    pass\n\ndef run(data):\n    return 'a'\n")
    b = _script(tmp_path / "b", "score.py", "def init():\n    pass\n\ndef run(data):\n    return 'b'\n")
    assert module_name_for(a) != module_name_for(b)
    assert module_name_for(a) == module_name_for(tmp_path / "b" / ".." / "a" / "score.py")
    scorer_a, scorer_b = load_scorer("python", a, {}), load_scorer("python", b, {})
    assert (scorer_a.score(None), scorer_b.score(None)) == ("a", "b")
