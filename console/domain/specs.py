"""YAML spec documents → EndpointSpec / DeploymentSpec, with errors that name the
document, the field and the line."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from console.domain.models import DeploymentSpec, EndpointSpec

Spec = EndpointSpec | DeploymentSpec
KINDS: dict[str, type[EndpointSpec] | type[DeploymentSpec]] = {
    "Endpoint": EndpointSpec,
    "Deployment": DeploymentSpec,
}
MAX_SPEC_BYTES = 1024 * 1024


class SpecError(ValueError):
    """One or more problems in a spec file; `problems` are complete sentences."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _plain(node: yaml.Node, lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            is_str = key_node.tag == "tag:yaml.org,2002:str"
            key = key_node.value if is_str else _scalar(key_node)
            if not isinstance(key, str | int | float | bool | None):
                raise SpecError([f"line {key_node.start_mark.line + 1}: a key must be a plain value, got {key!r}"])
            if key in out:
                raise SpecError([f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"])
            out[key] = _plain(value_node, lines, (*path, key))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, lines, (*path, i)) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """A scalar's value by the safe tag rules (a null scalar is None; unsafe tags are refused)."""
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"line {node.start_mark.line + 1}: {problem}"]) from None


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    path = tuple(loc)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, lines.get((), 0))


def parse_specs(text: str, source: str = "<spec>") -> list[Spec]:
    """Every document in `text`, validated; raises SpecError listing all problems."""
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecError([f"{source}: spec is larger than {MAX_SPEC_BYTES} bytes"])
    nodes: list[yaml.Node | None] = []
    try:
        for composed in yaml.compose_all(text, Loader=yaml.SafeLoader):
            nodes.append(composed)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        problem = getattr(exc, "problem", None) or str(exc)
        document = len(nodes) + 1  # the documents before it were read whole
        raise SpecError([f"{source}: document {document}: {where}: malformed YAML: {problem}"]) from None
    specs: list[Spec] = []
    problems: list[str] = []
    for index, node in enumerate(nodes, start=1):
        if node is None:
            continue
        lines: dict[tuple[Any, ...], int] = {}
        try:
            data = _plain(node, lines, ())
        except SpecError as exc:
            problems.extend(f"{source}: document {index}: {p}" for p in exc.problems)
            continue
        if data is None:  # an empty document, e.g. after a trailing '---'
            continue
        where = f"{source}: document {index} (line {lines[()]})"
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a mapping with 'kind', got {type(data).__name__}")
            continue
        kind = data.pop("kind", None)
        data.pop("apiVersion", None)
        model = KINDS.get(kind) if isinstance(kind, str) else None
        if model is None:
            kind_line = lines.get(("kind",), lines[()])
            problems.append(
                f"{source}: document {index} (line {kind_line}): field 'kind': "
                f"must be one of {sorted(KINDS)}, got {kind!r}"
            )
            continue
        try:
            specs.append(model.model_validate(data))
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                field = ".".join(str(part) for part in loc) or "(document)"
                line = _line_of(lines, loc)
                message = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{source}: document {index} ({kind}): field '{field}' (line {line}): {message}")
    if problems:
        raise SpecError(problems)
    if not specs:
        raise SpecError([f"{source}: no documents found"])
    return specs
