"""Fuzz the control API of a real engine from its own OpenAPI description (schemathesis 4):
no generated input, however odd, may cause a server error."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.harness import RunningEngine, running_demo

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def fuzzed_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    """A demo engine of its own: the fuzzer may change its split or delete what it finds."""
    with running_demo(tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@pytest.fixture(scope="module")
def auth(fuzzed_engine: RunningEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzzed_engine.token}", "X-Actor": "fuzzer@test"}


@pytest.fixture(scope="module")
def session(auth: dict[str, str]) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers.update(auth)
        yield http


@pytest.fixture(scope="module")
def api_schema(fuzzed_engine: RunningEngine, auth: dict[str, str]) -> Any:
    """The OpenAPI description, read from the running engine (it needs the bearer token too)."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_engine.control_url}/openapi.json", headers=auth, timeout=30)
    # Endless streams cannot be fuzzed request by request.
    return schema.exclude(path="/v1/telemetry/stream")


def test_the_openapi_description_needs_the_token(fuzzed_engine: RunningEngine, auth: dict[str, str]) -> None:
    url = f"{fuzzed_engine.control_url}/openapi.json"
    with requests.Session() as http:
        assert http.get(url, timeout=30).status_code == 401
        described = http.get(url, headers=auth, timeout=30).json()
    assert {"/v1/endpoints/{name}/traffic", "/v1/apply", "/v1/deployments/{name}"} <= set(described["paths"])


def test_no_generated_input_causes_a_server_error(
    api_schema: Any, session: requests.Session, fuzzed_engine: RunningEngine
) -> None:
    # schemathesis.pytest.from_fixture(...).parametrize() runs operations as subtests, which this
    # pytest does not support; the same per-operation Hypothesis strategies are driven here.
    failures: dict[str, str] = {}
    labels = []
    statuses: Counter[int] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        cases = st.one_of(*(operation.as_strategy(mode) for mode in modes))

        @given(case=cases)
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(session=session, timeout=30)
            statuses[response.status_code // 100 * 100] += 1
            case.validate_response(response, checks=[not_a_server_error])

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is fuzzed; all failures are reported
            failures[operation.label] = str(exc)
    assert len(labels) >= 14, labels
    assert "POST /v1/apply" in labels and "PUT /v1/endpoints/{name}/traffic" in labels
    assert failures == {}
    # The token was accepted and inputs were judged: valid ones answered, invalid ones refused.
    assert statuses[200] > 0 and statuses[400] > 0 and set(statuses) <= {200, 400}, statuses
    assert fuzzed_engine.proc.poll() is None, "the engine died"
