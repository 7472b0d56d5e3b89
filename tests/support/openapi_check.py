"""Checking answers against the plugin's OpenAPI document (innspector_tb.server.openapi): the test client
(backend_app.Client) checks every answer of a documented route with `answer_problems`; tests check a
value against one schema of the document with `validate`.

The document itself is the package's (served at /openapi.json); only the checking is the tests'.
"""

import functools
import json

from innspector_tb.server import openapi
from innspector_tb.server.openapi_schemas import ref

_URI = "urn:innspector-tb:openapi"


@functools.lru_cache(maxsize=1)
def _registry():
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resource(_URI, DRAFT202012.create_resource(openapi.document()))


def _absolute(schema):
    """The schema with its document-relative $refs ("#/components/...") made absolute."""
    if isinstance(schema, dict):
        return {
            key: (
                _URI + value if key == "$ref" and isinstance(value, str) and value.startswith("#") else _absolute(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_absolute(item) for item in schema]
    return schema


@functools.lru_cache(maxsize=256)
def _validator(schema_json):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_absolute(json.loads(schema_json)), registry=_registry())


def validate(value, schema):
    """Problems of `value` under `schema` (a schema of the document, e.g. openapi.ROUTES[route]["schema"]):
    a list of "<JSON path>: <what is wrong>", empty when it conforms."""
    from jsonschema.exceptions import best_match

    problems = []
    for error in _validator(json.dumps(schema, sort_keys=True)).iter_errors(value):
        error = best_match([error])  # within anyOf/oneOf (e.g. a nullable object): the likeliest branch's error
        message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
        problems.append("%s: %s" % (error.json_path, message))
        if len(problems) == 20:
            problems.append("...")
            break
    return problems


def answer_problems(route, method, status, body):
    """Problems of an answer of a route (e.g. "/models", "get", 200, its JSON) under the document.

    Routes the document does not describe (the bundle's files, /openapi.json) have none. A status the
    document does not list for the operation is a problem; so is any 2xx of a method it does not list.
    """
    path = _paths().get(openapi.PREFIX + route)
    if path is None:
        return []
    operation = path.get(method.lower())
    if operation is None:  # e.g. GET /data: answered 405, an ErrorAnswer
        if 200 <= status < 300:
            return ["%s %s answered %d but the document has no such operation" % (method.upper(), route, status)]
        return validate(body, ref("ErrorAnswer"))
    response = operation["responses"].get(str(status))
    if response is None:
        return [
            "%s %s answered %d, a status the document does not list (%s)"
            % (method.upper(), route, status, ", ".join(operation["responses"]))
        ]
    if "application/json" not in response["content"]:  # e.g. /image's bytes: the caller checks them
        return []
    return validate(body, response["content"]["application/json"]["schema"])


@functools.lru_cache(maxsize=1)
def _paths():
    return openapi.document()["paths"]
