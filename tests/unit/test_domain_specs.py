"""The YAML spec parser (console/domain/specs.py): errors name the document, the field and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain.models import DeploymentSpec, EndpointSpec, Runtime
from console.domain.specs import MAX_SPEC_BYTES, SpecError, parse_specs

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "demo.yaml"

GOOD = """\
kind: Endpoint
name: fraud
traffic: {fraud-v1: 100}
---
kind: Deployment
endpoint: fraud
name: fraud-v1
model: {name: fraud, version: "1", path: models/fraud-v1.onnx}
runtime: onnx
replicas: 2
"""


def problems_of(text: str, source: str = "specs.yaml") -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_specs(text, source)
    assert caught.value.problems, "a SpecError without problems"
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_the_demo_parses() -> None:
    specs = parse_specs(DEMO.read_text(), str(DEMO))
    assert [type(s).__name__ for s in specs] == ["EndpointSpec", "DeploymentSpec", "DeploymentSpec", "DeploymentSpec"]
    endpoint = specs[0]
    assert isinstance(endpoint, EndpointSpec)
    assert endpoint.traffic == {"fraud-v1": 90, "fraud-v2": 10}
    v3 = specs[3]
    assert isinstance(v3, DeploymentSpec)
    assert v3.runtime == Runtime.PYTHON and v3.env["DEMO_ERROR_RATE"] == "0"


def test_several_documents_and_defaults() -> None:
    endpoint, deployment = parse_specs(GOOD)
    assert isinstance(endpoint, EndpointSpec) and endpoint.mirror == {} and endpoint.production is False
    assert isinstance(deployment, DeploymentSpec)
    assert deployment.replicas == 2 and deployment.readiness.path == "/ready" and deployment.env == {}


def test_empty_documents_and_api_version_are_ignored() -> None:
    specs = parse_specs("---\napiVersion: switchboard/v1\n" + GOOD + "---\n")
    assert len(specs) == 2


def test_malformed_yaml_names_source_document_and_line() -> None:
    text = GOOD + "---\nkind: Endpoint\nname: other\ndescription: [unclosed\n"
    (problem,) = problems_of(text)
    assert problem.startswith("specs.yaml: document 3: line ")
    assert "malformed YAML" in problem
    line = int(problem.split("line ")[1].split(":")[0])
    assert line >= 14  # the error is at or after the unclosed bracket, never in the good documents


def test_bad_indentation_names_its_line() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: a\n  description: b\n")
    assert problem.startswith("specs.yaml: document 1: line 3: malformed YAML")


def test_unknown_kind_names_document_field_and_line_of_kind() -> None:
    text = GOOD + "---\n# a comment\nname: x\nkind: Thing\n"
    (problem,) = problems_of(text)
    assert problem == (
        "specs.yaml: document 3 (line 14): field 'kind': must be one of ['Deployment', 'Endpoint'], got 'Thing'"
    )


def test_missing_kind_is_named() -> None:
    (problem,) = problems_of("name: x\n")
    assert "document 1" in problem and "field 'kind'" in problem and "got None" in problem


def test_bad_field_names_document_field_and_line() -> None:
    text = GOOD.replace("replicas: 2", "replicas: -1")
    (problem,) = problems_of(text)
    assert problem.startswith("specs.yaml: document 2 (Deployment): field 'replicas' (line 10): ")
    assert "greater than or equal to 0" in problem


def test_nested_field_names_its_dotted_path_and_line() -> None:
    text = GOOD.replace('model: {name: fraud, version: "1", path: models/fraud-v1.onnx}',
                        "model:\n  name: fraud\n  version: ''\n  path: models/fraud-v1.onnx")
    (problem,) = problems_of(text)
    assert problem.startswith("specs.yaml: document 2 (Deployment): field 'model.version' (line 10): ")


def test_bad_split_weight_names_its_key() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: fraud\ntraffic:\n  fraud-v1: lots\n")
    assert problem.startswith("specs.yaml: document 1 (Endpoint): field 'traffic.fraud-v1' (line 4): ")


def test_every_problem_in_every_document_is_reported() -> None:
    text = "kind: Endpoint\nname: Bad_Name\nsurprise: 1\n---\nkind: Deployment\nendpoint: fraud\nname: d\n"
    problems = problems_of(text)
    assert any("document 1 (Endpoint): field 'name' (line 2)" in p for p in problems)
    assert any("document 1 (Endpoint): field 'surprise' (line 3)" in p and "Extra inputs" in p for p in problems)
    assert any("document 2 (Deployment): field 'model' (line 5)" in p and "required" in p for p in problems)
    assert any("document 2 (Deployment): field 'runtime'" in p for p in problems)


def test_runtime_rules_are_checked() -> None:
    text = "kind: Deployment\nendpoint: e\nname: d\nmodel: {name: m, version: '1'}\nruntime: upstream\n"
    (problem,) = problems_of(text)
    assert "document 1 (Deployment)" in problem and "needs an 'upstream' URL" in problem
    text = "kind: Deployment\nendpoint: e\nname: d\nmodel: {name: m, version: '1'}\nruntime: onnx\n"
    (problem,) = problems_of(text)
    assert "needs model.path" in problem


def test_bad_env_name_is_named() -> None:
    text = GOOD + "env:\n  1BAD: x\n"
    (problem,) = problems_of(text)
    assert "document 2 (Deployment): field 'env' (line 12)" in problem and "'1BAD'" in problem


def test_duplicate_key_is_named() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: a\nname: b\n")
    assert problem == "specs.yaml: document 1: line 3: duplicate key 'name'"


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: a\n---\n- just\n- a list\n")
    assert problem == "specs.yaml: document 2 (line 4): expected a mapping with 'kind', got list"


def test_no_documents_is_an_error() -> None:
    assert problems_of("") == ["specs.yaml: no documents found"]
    assert problems_of("---\n---\n") == ["specs.yaml: no documents found"]


def test_oversized_spec_is_refused_before_parsing() -> None:
    (problem,) = problems_of("#" * (MAX_SPEC_BYTES + 1))
    assert "larger than" in problem


def test_a_trailing_document_separator_is_an_empty_document() -> None:
    assert len(parse_specs(GOOD + "---\n")) == 2
    assert len(parse_specs("---\n" + GOOD + "---\n---\n")) == 2


def test_an_empty_value_is_null_and_named_when_not_allowed() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: a\ndescription:\n")
    assert problem.startswith("specs.yaml: document 1 (Endpoint): field 'description' (line 3): ")


def test_yaml_tags_that_would_construct_objects_are_refused_with_their_line() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: a\ndescription: !!python/name:os.system ''\n")
    assert problem.startswith("specs.yaml: document 1: line 3: ")
    assert "python/name:os.system" in problem


def test_a_complex_key_is_refused_with_its_line() -> None:
    (problem,) = problems_of("kind: Endpoint\nname: a\n? [x, y]\n: 1\n")
    assert problem.startswith("specs.yaml: document 1: line 3: a key must be a plain value")


def test_anchors_and_aliases_resolve() -> None:
    (endpoint,) = parse_specs("kind: Endpoint\nname: &n fraud\ndescription: *n\n")
    assert isinstance(endpoint, EndpointSpec) and endpoint.description == "fraud"
