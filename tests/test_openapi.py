"""The OpenAPI document: a valid OpenAPI 3.1 document whose answer check catches answers off it."""

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from innspector_tb.server import openapi


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
        assert spec["schema"]["$ref"].rsplit("/", 1)[1] in schemas, route


@pytest.mark.parametrize("answer, problem", [
    ({"measures": [{"id": "v", "name": "V", "description": "d", "level": "unit", "needs": "stats",
                    "higher_is": "more", "normalisation": "rank"}]}, "$.measures[0].needs: 'stats' is not of type 'array'"),
    ({"measures": [{"id": "v", "name": "V", "description": "d", "level": "unit", "needs": [],
                    "higher_is": "more", "normalisation": "rank", "colour": "red"}]}, "'colour' was unexpected"),
    ({"measures": [{"id": "v"}]}, "$.measures[0]: 'name' is a required property"),
])
def test_answers_off_the_document_have_problems(answer, problem):
    problems = openapi.answer_problems("/interestingness/measures", "get", 200, answer)
    assert any(problem in p for p in problems), problems
    assert openapi.answer_problems("/interestingness/measures", "get", 200, {"measures": []}) == []
