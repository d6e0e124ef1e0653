"""Build the demo fraud models: logistic regression over 8 normalised card-transaction features.

    probability = sigmoid(features · w + b),  features float32 [N, 8] -> probability float32 [N, 1]

The weights are fixed, so the output files are byte-for-byte reproducible. Run from anywhere:

    python resources/demo/make_models.py
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from console.engine.demo import FEATURES  # the one list of the demo's features

HERE = Path(__file__).resolve().parent
OPSET = 17  # supported by onnxruntime >= 1.14
IR_VERSION = 8  # the IR version that goes with opset 17

WEIGHTS: dict[str, tuple[tuple[float, ...], float]] = {
    "1": ((0.80, -0.30, 0.40, 2.00, 0.60, -1.20, 0.90, -0.50), -3.00),
    "2": ((0.85, -0.25, 0.45, 2.10, 0.65, -1.30, 0.95, -0.55), -3.10),
}


def build(version: str) -> onnx.ModelProto:
    weights, bias = WEIGHTS[version]
    w = helper.make_tensor("w", TensorProto.FLOAT, [len(FEATURES), 1], list(weights))
    b = helper.make_tensor("b", TensorProto.FLOAT, [1], [bias])
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logit_raw"]),
            helper.make_node("Add", ["logit_raw", "b"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["probability"]),
        ],
        f"fraud_v{version}",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        initializer=[w, b],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="switchboard-demo",
        model_version=int(version),
        doc_string="Card fraud probability from features: " + ", ".join(FEATURES),
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    out = HERE / "models"
    out.mkdir(exist_ok=True)
    for version in WEIGHTS:
        target = out / f"fraud-v{version}.onnx"
        onnx.save_model(build(version), target)
        print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
