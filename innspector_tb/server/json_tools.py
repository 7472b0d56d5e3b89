"""Tools declared in JSON: read, validate and list them for the `tools` route.

A tool declaration is a JSON file (docs/backend.md, "JSON tools"): a name, an
icon, the unit types it applies to, a `data` route body template, how to turn
the answer into rows, and a Vega-Lite spec drawing those rows as the dataset
named "table". Nothing in a declaration is executed here: files are parsed as
JSON and checked; the browser substitutes the unit into the template, POSTs it
to the `data` route (whose transform grammar never evaluates strings) and
renders the spec with Vega's CSP-safe expression interpreter.

A declaration is checked in two stages: its structure (keys, types, lengths,
allowed values) against `tool_declaration.schema.json` (`tool_schema`), then
what it means, here: placeholders and the unit types that supply them, class
selections and the unit kind, the transform (by the grammar's own parser), the
column the rows come from, and the limits on the Vega-Lite spec.

Sources, in order (a later file may not reuse an earlier id):

1. ``builtin``: innspector_tb/tools/*.json;
2. ``flag``: the folders of ``--innspector_tools`` and of the environment
   variable INNSPECTOR_TOOLS (both os.pathsep-separated lists);
3. ``logdir``: ``<logdir>/innspector_tools/*.json``, only files that really
   live in that folder (symlinks are resolved; a file or folder resolving
   elsewhere is refused).

Every problem is reported as "<folder>/<file>: <JSON path>: <what is wrong>"
and never stops the other files from loading.
"""

import copy
import json
import math
import os
import re
import stat
from typing import Any

from innspector_tb import errors, resources
from innspector_tb.analysis import transforms
from innspector_tb.server import routes_data, tool_schema
from innspector_tb.server.tool_schema import key_path as _key_path
from innspector_tb.server.tool_schema import short as _short

FORMAT = 1
ENV_VAR = "INNSPECTOR_TOOLS"
LOGDIR_FOLDER = "innspector_tools"
BUILTIN_DIR = resources.TOOLS_DIR
SCHEMA_PATH = tool_schema.SCHEMA_PATH

MAX_FILE_BYTES = 200 * 1024
MAX_SPEC_BYTES = 50 * 1024
MAX_SPEC_DEPTH = 30
MAX_FILES_PER_FOLDER = 500

SCHEMA_PATTERN = re.compile(r"https://vega\.github\.io/schema/vega-lite/v\d+(\.\d+){0,2}\.json")
PLACEHOLDER_LIKE = re.compile(r"\{[^{}\s]*\}")

UNIT_TYPES = tool_schema.UNIT_TYPES
TOP_LEVEL_KEYS = tool_schema.TOP_LEVEL_KEYS
# The fields of `data.unit` per kind, as the schema declares them: (field, type, required).
# "str" fields take a non-empty string or "{run}"/"{layer}"/"{variable}"; "int" fields an int or "{neuron}"
# (the schema lets any placeholder through, so that a misplaced one is named as such below).
UNIT_FIELDS = tool_schema.UNIT_FIELDS

# Placeholders: whole string values only, each standing for one value of the unit the tool is opened on.
PLACEHOLDERS = {"{run}": "run", "{layer}": "layer", "{variable}": "variable", "{neuron}": "neuron"}
# What each unit type supplies (experiment: the model the tool is opened on in that experiment).
PROVIDES = {
    "experiment": {"run"},
    "model": {"run"},
    "layer": {"run", "layer"},
    "variable": {"run", "layer", "variable"},
    "activation": {"run", "layer"},
    "neuron": {"run", "layer", "neuron"},
}
# Kinds whose data are per probe sample, so a class selection applies.
CLASS_KINDS = ("activations", "class_means", "samples", "labels", "predictions", "attributions")
STRING_PLACEHOLDERS = ("{run}", "{layer}", "{variable}")
INT_PLACEHOLDERS = ("{neuron}",)

# The schema and the code agree; a mismatch is a bug of this package, found on import.
assert set(UNIT_FIELDS) == set(routes_data.DATA_KINDS), "the tool schema's unit kinds differ from the data route's"
assert tool_schema.MAX_STEPS == routes_data.MAX_STEPS_PER_REQUEST, "the tool schema's data.steps limit is out of date"
assert set(PROVIDES) == set(UNIT_TYPES) and set(CLASS_KINDS) <= set(UNIT_FIELDS)
assert tool_schema.SCHEMA["properties"]["format"]["const"] == FORMAT


class ToolError(errors.FormatError):
    """A declaration or file refused; str() is "<source>: <path>: <message>"."""

    def __init__(self, source, path, message):
        self.source = source
        self.path = path
        self.message = message
        super().__init__("%s: %s: %s" % (source, path, message) if path else "%s: %s" % (source, message))


class _Bad(Exception):
    def __init__(self, path, message):
        super().__init__(message)
        self.path = path
        self.message = message


# ---------------------------------------------------------------------------
# One declaration.


def validate_declaration(obj, source):
    """Returns the checked declaration with defaults filled in, or raises ToolError naming source and path.

    Defaults (the schema's "default"s): category "Custom", class_dependent false,
    data.run "{run}", data.steps "last", data.transform [], rows.column "value".
    """
    try:
        return _validate(obj)
    except _Bad as bad:
        raise ToolError(source, bad.path, bad.message) from None


def _validate(obj):
    problem = tool_schema.first_problem(obj)
    if problem is not None:
        raise _Bad(*problem)
    tool = {
        key: copy.deepcopy(obj[key]) if key in obj else tool_schema.default(key)
        for key in TOP_LEVEL_KEYS
        if key not in ("data", "rows", "spec")
    }
    tool["data"] = _data(obj["data"], tool["applies_to"], tool["class_dependent"])
    tool["rows"] = _rows(obj["rows"], tool["data"])
    tool["spec"] = _spec(obj["spec"])
    # Key order as the schema declares it, for stable answers.
    return {key: tool[key] for key in TOP_LEVEL_KEYS}


def _data(value, applies_to, class_dependent):
    unit = _unit(value["unit"])
    # A placeholder must be known for every unit type the tool applies to.
    for path, name in [("data.run", "run")] + [
        ("data.unit." + k, PLACEHOLDERS[v]) for k, v in unit.items() if isinstance(v, str) and v in PLACEHOLDERS
    ]:
        missing = [t for t in applies_to if name not in PROVIDES[t]]
        if missing:
            raise _Bad(
                path,
                "'{%s}' is not known for unit type %s (applies_to); it is known for: %s"
                % (name, ", ".join(repr(t) for t in missing), ", ".join(t for t in UNIT_TYPES if name in PROVIDES[t])),
            )
    data = {"run": "{run}", "unit": unit, "steps": copy.deepcopy(value.get("steps", tool_schema.default("data.steps")))}
    if "classes" in value:
        if unit["kind"] not in CLASS_KINDS:
            raise _Bad(
                "data.classes",
                "unit kind %r does not depend on classes (only %s do)" % (unit["kind"], ", ".join(CLASS_KINDS)),
            )
        data["classes"] = list(value["classes"])
    if class_dependent and unit["kind"] not in CLASS_KINDS:
        raise _Bad(
            "class_dependent",
            "is true, but unit kind %r does not depend on classes (only %s do)"
            % (unit["kind"], ", ".join(CLASS_KINDS)),
        )
    data["transform"] = _transform(value.get("transform", tool_schema.default("data.transform")))
    return data


def _unit(value):
    """The unit with its fields in the schema's order; placeholders only where they can stand."""
    kind = value["kind"]
    unit = {"kind": kind}
    for name, type_, _ in UNIT_FIELDS[kind]:
        if name not in value:
            continue
        item = value[name]
        path = "data.unit." + name
        if type_ == "str" and item in INT_PLACEHOLDERS:
            raise _Bad(
                path,
                "%s stands for an integer; this field takes a string (%s)" % (item, ", ".join(STRING_PLACEHOLDERS)),
            )
        if type_ == "int" and item in STRING_PLACEHOLDERS:
            raise _Bad(
                path, "%s stands for a string; this field takes an integer or %s" % (item, ", ".join(INT_PLACEHOLDERS))
            )
        if isinstance(item, str) and item not in PLACEHOLDERS:
            _no_placeholder_inside(item, path)
        unit[name] = item
    return unit


def _no_placeholder_inside(text, path):
    match = PLACEHOLDER_LIKE.search(text)
    if match is None:
        return
    if match.group(0) in PLACEHOLDERS and match.group(0) != text:
        raise _Bad(
            path, 'placeholders must be the whole string value ("%s"), not part of %s' % (match.group(0), _short(text))
        )
    raise _Bad(path, "unknown placeholder %s; known: %s" % (_short(match.group(0)), ", ".join(PLACEHOLDERS)))


def _transform(value):
    """Checked with the grammar's own parser (ops, parameters, limits), before any data exists."""
    # Placeholders are substituted in data.run and data.unit only: one here would reach the grammar verbatim.
    stack = [(value, "data.transform")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            match = PLACEHOLDER_LIKE.search(item)
            if match is not None:
                raise _Bad(
                    path,
                    "placeholder %s in a transform: placeholders are only substituted in "
                    "data.unit (and data.run)" % _short(match.group(0)),
                )
        elif isinstance(item, list):
            stack.extend((child, "%s[%d]" % (path, i)) for i, child in enumerate(item))
        elif isinstance(item, dict):
            stack.extend((child, _key_path(path, key)) for key, child in item.items())
    limits = transforms.Limits()
    try:
        transforms.check_json(value, limits)
        if len(value) > limits.max_ops:
            raise _Bad("data.transform", "has %d operations, more than max_ops = %d" % (len(value), limits.max_ops))
        for index, raw in enumerate(value):
            transforms.parse_step(index, raw)
    except transforms.TransformError as error:
        raise _Bad(*_transform_error(error)) from None
    return copy.deepcopy(value)


def _transform_error(error):
    """(path, message) of a grammar error, its "pipeline[i]" turned into "data.transform[i]"."""
    field = error.field or "pipeline"
    path = "data.transform" + field[len("pipeline") :] if field.startswith("pipeline") else "data.transform"
    match = re.match(r"pipeline(?:\[\d+\])?(?:\.\S+)?(?: \(([^)]*)\))?: (.*)", error.message, re.S)
    if match is None:
        return path, error.message
    op, rest = match.groups()
    return path, ("%s: %s" % (op, rest)) if op else rest


def _rows(value, data):
    column = value.get("column", tool_schema.default("rows.column"))
    produced = _columns_after(data)
    if produced is not None and column not in produced:
        raise _Bad(
            "rows.column", "the transform leaves no column %r; it leaves: %s" % (column, ", ".join(sorted(produced)))
        )
    return {"column": column, "as": value["as"]}


def _columns_after(data):
    """The columns the answer can have (None when they depend on the steps: histograms of several steps)."""
    if data["unit"]["kind"] == "histogram" and not (data["steps"] == "last" or type(data["steps"]) is int):
        return None
    columns = {"value", "label"}
    for step in data["transform"]:
        name = step["op"]
        if name == "branch":
            columns.update(step["to"])
        elif name == "merge":
            columns.add(step["out"])
        elif name == "select_columns":
            columns = set(step["columns"])
        else:
            columns.add(step.get("out") or step.get("in") or "value")
    return columns


def _spec(value):
    """The limits on the Vega-Lite spec: its size and depth, no external loading, one dataset."""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise _Bad("spec", "is %d bytes of JSON, more than %d" % (size, MAX_SPEC_BYTES))
    stack = [(value, "spec", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth > MAX_SPEC_DEPTH:
            raise _Bad(path, "nested deeper than %d levels" % MAX_SPEC_DEPTH)
        if isinstance(item, list):
            stack.extend((child, "%s[%d]" % (path, i), depth + 1) for i, child in enumerate(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                where = _key_path(path, key)
                if key in ("url", "href"):
                    raise _Bad(where, "%r is not allowed in a tool's spec (no external loading, no links)" % key)
                if key == "$schema" and not (type(child) is str and SCHEMA_PATTERN.fullmatch(child)):
                    raise _Bad(
                        where,
                        "must be a Vega-Lite schema URL like "
                        "https://vega.github.io/schema/vega-lite/v6.json (or left out), not %s" % _short(child, 80),
                    )
                if (
                    key == "data"
                    and path != "spec"
                    and isinstance(child, dict)
                    and "name" in child
                    and child["name"] != "table"
                ):
                    raise _Bad(
                        _key_path(where, "name"), 'the only named dataset is "table", not %s' % _short(child["name"])
                    )
                stack.append((child, where, depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            raise _Bad(path, "not a finite number")
    return copy.deepcopy(value)


# ---------------------------------------------------------------------------
# Files and folders.

# (real path, mtime_ns, size, display) -> (tool or None, error or None)
_CACHE: dict[tuple[Any, ...], tuple[dict[str, Any] | None, ToolError | None]] = {}
_CACHE_ENTRIES = 2048


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key %r" % key)
        result[key] = value
    return result


def parse_file(text, display):
    """The declaration in `text` (bytes), checked; raises ToolError."""
    if len(text) > MAX_FILE_BYTES:
        raise ToolError(display, "", "file is larger than %d bytes; refused" % MAX_FILE_BYTES)
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ToolError(display, "", "not UTF-8 text: %s" % error) from None
    try:
        obj = json.loads(decoded, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except RecursionError:
        raise ToolError(display, "", "invalid JSON: nested too deeply") from None
    except ValueError as error:
        raise ToolError(display, "", "invalid JSON: %s" % error) from None
    return validate_declaration(obj, display)


def _read_file(path, display, inside=None):
    """(tool, None) or (None, ToolError) for one file; `inside` is a real folder the file must resolve into."""
    real = os.path.realpath(path)
    if inside is not None and os.path.dirname(real) != inside:
        return None, ToolError(
            display, "", "resolves to a file outside %s/ (a symlink?); refused" % os.path.basename(inside)
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(real, flags)
    except OSError as error:
        return None, ToolError(display, "", "cannot be read: %s" % (error.strerror or error))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, ToolError(display, "", "not a regular file; refused")
        if info.st_size > MAX_FILE_BYTES:
            return None, ToolError(
                display, "", "file is %d bytes, larger than %d; refused" % (info.st_size, MAX_FILE_BYTES)
            )
        key = (real, info.st_mtime_ns, info.st_size, display)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        chunks, total = [], 0
        while total <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        text = b"".join(chunks)
    except OSError as error:
        return None, ToolError(display, "", "cannot be read: %s" % (error.strerror or error))
    finally:
        os.close(fd)
    try:
        result: tuple[dict[str, Any] | None, ToolError | None] = (parse_file(text, display), None)
    except ToolError as error:
        result = (None, error)
    if len(_CACHE) >= _CACHE_ENTRIES:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def _folder_files(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    return names


def folders_from(flag_value=None, environ=None):
    """The user's tool folders: the flag's, then the environment variable's (os.pathsep-separated)."""
    environ = os.environ if environ is None else environ
    folders = []
    for value in (flag_value or "", environ.get(ENV_VAR, "")):
        for part in value.split(os.pathsep):
            part = part.strip()
            if part and part not in folders:
                folders.append(part)
    return folders


def load_tools(dirs, logdir):
    """(tools, errors) from the built-in tools, the folders `dirs` and `<logdir>/innspector_tools`.

    tools: validated declarations plus "source" ("builtin", "flag", "logdir")
    and "path" (the file's name). errors: {"source", "path", "error"}, one
    per refused file or unreadable folder. Never raises for what is on disk.
    """
    tools: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    seen: dict[str, dict[str, Any]] = {}

    def load_folder(source, folder, required, confine):
        label = os.path.basename(os.path.normpath(folder)) or folder
        try:
            if confine:
                real_folder = os.path.realpath(folder)
                real_logdir = os.path.realpath(logdir)
                if os.path.dirname(real_folder) != real_logdir:
                    errors.append(
                        {
                            "source": source,
                            "path": LOGDIR_FOLDER,
                            "error": "%s/: resolves outside the logdir (a symlink?); refused" % label,
                        }
                    )
                    return
            if not os.path.isdir(folder):
                if required:
                    errors.append(
                        {
                            "source": source,
                            "path": label,
                            "error": "%s: not a folder (named by --innspector_tools or %s)" % (folder, ENV_VAR),
                        }
                    )
                return
            names = _folder_files(folder)
        except OSError as e:
            errors.append(
                {
                    "source": source,
                    "path": label,
                    "error": "%s: cannot list the folder: %s" % (label, e.strerror or e),
                }
            )
            return
        if len(names) > MAX_FILES_PER_FOLDER:
            errors.append(
                {
                    "source": source,
                    "path": label,
                    "error": "%s: more than %d tool files; only the first %d are read"
                    % (label, MAX_FILES_PER_FOLDER, MAX_FILES_PER_FOLDER),
                }
            )
            names = names[:MAX_FILES_PER_FOLDER]
        inside = os.path.realpath(folder) if confine else None
        for name in names:
            display = "%s/%s" % (label, name)
            tool, error = _read_file(os.path.join(folder, name), display, inside)
            if error is None and tool["id"] in seen:
                first = seen[tool["id"]]
                error = ToolError(
                    display,
                    "id",
                    "duplicate id %r, already declared by %s (%s); ignored"
                    % (tool["id"], first["path"], first["source"]),
                )
            if error is not None:
                errors.append({"source": source, "path": name, "error": str(error)})
                continue
            entry = dict(tool, source=source, path=name)
            seen[tool["id"]] = entry
            tools.append(entry)

    load_folder("builtin", BUILTIN_DIR, True, False)
    for folder in dirs:
        load_folder("flag", folder, True, False)
    if logdir and os.path.isdir(logdir):
        load_folder("logdir", os.path.join(logdir, LOGDIR_FOLDER), False, True)
    return tools, errors
