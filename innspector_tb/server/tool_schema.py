"""The structure of a JSON tool declaration: `tool_declaration.schema.json` (JSON Schema, Draft 2020-12),
its validator, its errors in words a tool's author can act on, and the `tools` route's answer schema
built from it (`answer_components`, in the OpenAPI document).

The schema says which keys a declaration has, their types, lengths and allowed values, and documents the
defaults of optional keys; `json_tools` checks what the values mean. `first_problem` reports the first
way a declaration breaks the schema as (JSON path, message): the path like "data.unit.kind" or
"applies_to[1]", the message from the schema's `x-message` at the failing node, else a generic one per
keyword.
"""

import functools
import json
import os
import re

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tool_declaration.schema.json")

with open(SCHEMA_PATH, encoding="utf-8") as _file:
    SCHEMA = json.load(_file)

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_TOKEN = re.compile(r"\{(value|type|allowed|found)\}")  # any other {...} in an x-message is literal
_NAME_FIELD = {"$ref": "#/$defs/name_field"}


# ---------------------------------------------------------------------------
# What the schema declares, for the checks of meaning.


def _unit_fields():
    """{kind: ((field, "str" or "int", required), ...)}: each unit kind's fields, in the schema's order."""
    fields = {}
    for rule in SCHEMA["$defs"]["unit"]["allOf"]:
        then = rule["then"]
        fields[rule["if"]["properties"]["kind"]["const"]] = tuple(
            (name, "str" if sub == _NAME_FIELD else "int", name in then.get("required", ()))
            for name, sub in then["properties"].items()
            if name != "kind"
        )
    return fields


def _resolve(node):
    ref = node.get("$ref", "")
    return SCHEMA["$defs"][ref[len("#/$defs/") :]] if ref.startswith("#/$defs/") else node


def _defaults(node, prefix=""):
    """{"category": "Custom", "data.steps": "last", ...}: the documented default of every optional key."""
    found = {}
    for key, sub in _resolve(node).get("properties", {}).items():
        if not isinstance(sub, dict):
            continue
        if "default" in sub:
            found[prefix + key] = sub["default"]
        found.update(_defaults(sub, prefix + key + "."))
    return found


UNIT_FIELDS = _unit_fields()
UNIT_KINDS = tuple(SCHEMA["$defs"]["unit"]["properties"]["kind"]["enum"])
UNIT_TYPES = tuple(SCHEMA["properties"]["applies_to"]["items"]["enum"])
TOP_LEVEL_KEYS = tuple(SCHEMA["properties"])
MAX_STEPS = SCHEMA["$defs"]["data"]["properties"]["steps"]["anyOf"][2]["maxItems"]
DEFAULTS = _defaults(SCHEMA)
assert tuple(UNIT_FIELDS) == UNIT_KINDS, "tool_declaration.schema.json: a unit kind without its fields"


def default(key):
    """A fresh copy of the documented default of an optional key ("category", "data.transform", ...)."""
    return json.loads(json.dumps(DEFAULTS[key]))


# ---------------------------------------------------------------------------
# The `tools` route's answer, built from the schema: the OpenAPI document's components of a tool.

_COMPONENTS = "#/components/schemas/"
_LEFT_OUT = ("$schema", "$comment", "$defs", "title", "x-message")  # the validator's, not the answer's
_NAMED_SUBSCHEMAS = ("properties", "patternProperties", "dependentSchemas")  # keys are names, not keywords


def answer_components():
    """{name: JSON Schema} of a tool as the `tools` route answers it, for the OpenAPI document: `Tool`, a
    declaration with every default filled in (so a key with a default is required), plus its `source` and
    `path`; and `Tool<Def>` (`ToolData`, `ToolUnit`, ...) for each of the schema's $defs."""
    components = {"Tool": _answer_node(SCHEMA)}
    components["Tool"]["description"] = (
        "A tool declaration (docs/backend.md, 'JSON tools'; its structure is "
        "innspector_tb/server/tool_declaration.schema.json), defaults filled in, with its source."
    )
    components["Tool"]["properties"].update(
        source={"type": "string", "enum": ["builtin", "flag", "logdir"]}, path={"type": "string"}
    )
    components["Tool"]["required"] += ["source", "path"]
    for name, node in SCHEMA["$defs"].items():
        components[_component_name(name)] = _answer_node(node)
    return components


def _component_name(def_name):
    return "Tool" + "".join(part.capitalize() for part in def_name.split("_"))


def _answer_node(node):
    if isinstance(node, list):
        return [_answer_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key in _LEFT_OUT:
            continue
        if key == "$ref" and value.startswith("#/$defs/"):
            result[key] = _COMPONENTS + _component_name(value[len("#/$defs/") :])
        elif key in _NAMED_SUBSCHEMAS:
            result[key] = {name: _answer_node(sub) for name, sub in value.items()}
        else:
            result[key] = _answer_node(value)
    filled = [name for name, sub in node.get("properties", {}).items() if isinstance(sub, dict) and "default" in sub]
    if filled:
        result["required"] = list(dict.fromkeys(list(result.get("required", [])) + filled))
    return result


# ---------------------------------------------------------------------------
# Validation.


@functools.lru_cache(maxsize=1)
def _validator():
    # jsonschema is imported with the first declaration checked, not when TensorBoard loads the plugin.
    from jsonschema import Draft202012Validator, validators

    # JSON Schema counts 1.0 as an integer, and Python True; a declaration may use neither as one.
    strict = Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda checker, value: type(value) is int)
    return validators.extend(Draft202012Validator, type_checker=strict)(SCHEMA)


def first_problem(declaration):
    """(JSON path, message) of the first way `declaration` breaks the schema; None when it conforms."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(declaration), key=_in_schema_order)
    return None if error is None else _explain(error)


def _in_schema_order(error):
    # All errors rank equal, so best_match keeps the first one found, and stays at an anyOf instead of
    # guessing a branch: the schema lists keys and keywords in the order a reader meets them. The default
    # ranking prefers the shallowest error and, among siblings, the key last in alphabetical order.
    return 0


def _explain(error):
    node = error
    while node is not None and _custom_message(node) is None:
        node = node.parent  # an anyOf branch: its anyOf says what is wanted
    if node is None:
        node = error
    path = json_path(node.absolute_path)
    keyword, value = node.validator, node.instance
    if keyword == "required":
        missing = next(key for key in node.validator_value if key not in value)
        path, value = key_path(path, missing), None
    elif keyword == "additionalProperties":
        known = node.schema.get("properties", {})
        extra = next(key for key in value if key not in known)
        path, value = key_path(path, extra), value[extra]
    elif keyword == "uniqueItems":
        index = next(i for i, item in enumerate(value) if item in value[:i])
        path, value = "%s[%d]" % (path, index), value[index]
    template = _custom_message(node)
    if template is None:
        return path, _generic_message(node, value)
    return path, _TOKEN.sub(lambda match: _token(match.group(1), node, value), template)


def _custom_message(node):
    message = node.schema.get("x-message") if isinstance(node.schema, dict) else None
    return message.get(node.validator) if isinstance(message, dict) else message


def _token(name, node, value):
    if name == "value":
        return short(value, 60)
    if name == "type":
        return describe(value)
    if name == "allowed":
        return ", ".join(_allowed(node))
    # found: the characters of the value that a forbidden pattern ("not": {"pattern": ...}) matches.
    pattern = node.validator_value.get("pattern") if isinstance(node.validator_value, dict) else None
    found = sorted(set(re.findall(pattern, value))) if pattern and isinstance(value, str) else []
    return ", ".join(repr(c) for c in found[:10])


def _allowed(node):
    if node.validator == "enum":
        return [str(item) for item in node.validator_value]
    return list(node.schema.get("properties", {}))


def _generic_message(node, value):
    keyword, limit = node.validator, node.validator_value
    if keyword == "type":
        expected = [limit] if isinstance(limit, str) else limit
        return "must be %s, not %s" % (" or ".join(_TYPE_NAMES.get(t, t) for t in expected), describe(value))
    if keyword == "required":
        return "missing (required)"
    if keyword == "additionalProperties":
        return "unknown key; known keys: %s" % ", ".join(_allowed(node))
    if keyword == "enum":
        return "must be one of %s, not %s" % (", ".join(_allowed(node)), short(value, 60))
    if keyword == "const":
        return "must be %s, not %s" % (json.dumps(limit), short(value, 60))
    if keyword == "minLength":
        return "must not be empty" if limit == 1 else "must be at least %d characters, not %d" % (limit, len(value))
    if keyword == "maxLength":
        return "must be at most %d characters, not %d" % (limit, len(value))
    if keyword in ("minItems", "maxItems"):
        return "must list %s %d items, not %d" % ("at least" if keyword == "minItems" else "at most", limit, len(value))
    if keyword in ("minimum", "maximum"):
        return "must be %s %s, not %s" % (">=" if keyword == "minimum" else "<=", limit, short(value, 60))
    if keyword == "uniqueItems":
        return "%s is listed twice" % short(value, 60)
    return node.message  # jsonschema's own words


# ---------------------------------------------------------------------------
# Words for paths and values, shared with the checks of meaning.


def key_path(path, key):
    """The JSON path of `key` under `path`: "data.unit", or data["odd key"] for a key that is no name."""
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", key):
        return "%s.%s" % (path, key) if path else key
    return "%s[%s]" % (path, json.dumps(key[:60]))


def json_path(parts):
    """ "spec.layer[1].encoding" of a jsonschema error's path (keys and list indices)."""
    path = ""
    for part in parts:
        path = "%s[%d]" % (path, part) if isinstance(part, int) else key_path(path, part)
    return path


def describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def short(value, size=40):
    text = repr(value)
    return text if len(text) <= size else text[: size - 3] + "..."
