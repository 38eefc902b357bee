"""Schemathesis fuzzes every endpoint from the server's own OpenAPI spec: no request may get a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from embedlab import EmbeddingModel, Encoder, load_model
from embedlab.serve import ServeConfig, create_app

KEY = "fuzz-key"
MODEL: EmbeddingModel = load_model(device="cpu")  # module level: schemathesis builds the schema at import
APP = create_app(ServeConfig(api_keys=frozenset({KEY}), max_inputs=16, max_chars=2000), encoder=Encoder(MODEL))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=[not_a_server_error])


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_requests_without_a_key_are_refused(case: schemathesis.Case) -> None:
    response = case.call()
    if case.path in ("/health", "/openapi.json") or case.method.upper() == "OPTIONS":
        assert response.status_code < 500  # public, or a CORS preflight (which carries no key)
    else:
        assert response.status_code == 401  # refused before anything else is looked at
