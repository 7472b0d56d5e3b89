"""The OpenAPI document: a valid OpenAPI 3.1 document, the committed frontend/openapi.json is it, and
the answer check the test client runs on every route answer catches answers off the document."""

import json
import os

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from innspector_tb.server import openapi, tool_schema
from tests.support import openapi_check
from tests.support.backend_app import check_answer

COMMITTED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontend", "openapi.json")


def test_the_document_is_valid_openapi_3_1():
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    assert document["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_component_is_a_valid_2020_12_schema_and_every_route_answer_is_one():
    schemas = openapi.document()["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    for route, spec in openapi.ROUTES.items():
        if "content" in spec:  # bytes, not JSON (/image): its media types are listed instead
            assert set(spec["content"]) == set(openapi.IMAGE_TYPES), route
            continue
        assert spec["schema"]["$ref"].rsplit("/", 1)[1] in schemas, route


def test_the_committed_frontend_document_is_the_current_one():
    with open(COMMITTED, encoding="utf-8") as f:
        committed = f.read()
    assert json.loads(committed) == openapi.document(), "frontend/openapi.json is stale: run 'make types'"
    assert committed == openapi.dumps(), "frontend/openapi.json is not formatted as 'make types' writes it"


def test_a_tool_s_schema_is_built_from_the_declaration_schema():
    schemas = openapi.document()["components"]["schemas"]
    assert schemas["ToolUnit"]["properties"]["kind"]["enum"] == list(tool_schema.UNIT_KINDS)
    assert schemas["Tool"]["properties"]["applies_to"]["items"]["enum"] == list(tool_schema.UNIT_TYPES)
    # The route fills every default in: those keys are always answered.
    assert {"category", "class_dependent", "source", "path"} <= set(schemas["Tool"]["required"])
    assert {"run", "steps", "transform"} <= set(schemas["ToolData"]["required"])
    assert "x-message" not in json.dumps(schemas)  # the validator's messages stay out of the document


def test_the_entry_point_writes_the_document(tmp_path):
    path = tmp_path / "openapi.json"
    assert openapi.main([str(path)]) == 0
    assert json.loads(path.read_text(encoding="utf-8")) == openapi.document()


@pytest.mark.parametrize(
    "answer, problem",
    [
        (
            {
                "measures": [
                    {
                        "id": "v",
                        "name": "V",
                        "description": "d",
                        "level": "unit",
                        "needs": "stats",
                        "higher_is": "more",
                        "normalisation": "rank",
                    }
                ]
            },
            "$.measures[0].needs: 'stats' is not of type 'array'",
        ),
        (
            {
                "measures": [
                    {
                        "id": "v",
                        "name": "V",
                        "description": "d",
                        "level": "unit",
                        "needs": [],
                        "higher_is": "more",
                        "normalisation": "rank",
                        "colour": "red",
                    }
                ]
            },
            "'colour' was unexpected",
        ),
        ({"measures": [{"id": "v"}]}, "$.measures[0]: 'name' is a required property"),
    ],
)
def test_answers_off_the_document_have_problems(answer, problem):
    problems = openapi_check.answer_problems("/interestingness/measures", "get", 200, answer)
    assert any(problem in p for p in problems), problems
    assert openapi_check.answer_problems("/interestingness/measures", "get", 200, {"measures": []}) == []


def test_an_answer_off_the_document_fails_the_client_s_check():
    good = {
        "measures": [
            {
                "id": "variance",
                "name": "Variance",
                "description": "d",
                "level": "unit",
                "needs": ["stats"],
                "higher_is": "more interesting",
                "normalisation": "rank",
            }
        ]
    }
    assert check_answer("/interestingness/measures", "get", 200, good) == (200, good)
    wrong = {"measures": [dict(good["measures"][0], needs="stats")]}
    with pytest.raises(AssertionError, match=r"\$\.measures\[0\]\.needs: 'stats' is not of type 'array'"):
        check_answer("/interestingness/measures", "get", 200, wrong)
    with pytest.raises(AssertionError, match="'run' is a required property"):
        check_answer("/lint/all", "get", 200, {"models": [{"findings": [], "error": None}], "rules": []})
    # A nullable object: the problem inside the object is named, not just "not valid under anyOf".
    model = {
        "run": "a",
        "id": None,
        "name": "a",
        "label": "a",
        "parents": [],
        "hparams": {},
        "steps": [0],
        "params": {"trainable": "many", "non_trainable": 0},
        "runtime": None,
        "layer_count": None,
        "classes": [],
        "glyph": [],
        "attributions": None,
        "latest_metrics": {},
        "errors": [],
    }
    with pytest.raises(AssertionError, match=r"\$\.models\[0\]\.params\.trainable: 'many' is not of type"):
        check_answer("/models", "get", 200, {"models": [model]})
    # Not JSON at all (the client keeps the start of the bytes).
    with pytest.raises(AssertionError, match="off the OpenAPI document"):
        check_answer("/tree", "get", 200, {"_raw": b"<html>"})


def test_errors_are_checked_against_the_error_schema():
    assert check_answer("/graph", "get", 404, {"error": "no run 'x'"})[0] == 404
    assert (
        check_answer("/data", "post", 400, {"error": "too many bins", "limit": "max_bins", "field": "bins"})[0] == 400
    )
    assert check_answer("/data", "get", 405, {"error": "use POST for this route"})[0] == 405
    with pytest.raises(AssertionError, match="'error' is a required property"):
        check_answer("/graph", "get", 404, {"message": "no run 'x'"})
    with pytest.raises(AssertionError, match="a status the document does not list"):
        check_answer("/graph", "get", 418, {"error": "teapot"})
    with pytest.raises(AssertionError, match="no such operation"):
        check_answer("/data", "get", 200, {"run": "x"})


def test_routes_the_document_does_not_describe_are_not_checked():
    assert openapi_check.answer_problems("/index.js", "get", 200, {"_raw": b"export"}) == []
    assert openapi_check.answer_problems("/openapi.json", "get", 200, {}) == []
