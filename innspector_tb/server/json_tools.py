"""Tools declared in JSON: read, validate and list them for the `tools` route.

A tool declaration is a JSON file (docs/backend.md, "JSON tools"): a name, an
icon, the unit types it applies to, a `data` route body template, how to turn
the answer into rows, and a Vega-Lite spec drawing those rows as the dataset
named "table". Nothing in a declaration is executed here: files are parsed as
JSON and checked; the browser substitutes the unit into the template, POSTs it
to the `data` route (whose transform grammar never evaluates strings) and
renders the spec with Vega's CSP-safe expression interpreter.

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

from innspector_tb.server import routes_data
from innspector_tb.analysis import transforms
from innspector_tb import errors
from innspector_tb import resources

FORMAT = 1
ENV_VAR = "INNSPECTOR_TOOLS"
LOGDIR_FOLDER = "innspector_tools"
BUILTIN_DIR = resources.TOOLS_DIR

MAX_FILE_BYTES = 200 * 1024
MAX_SPEC_BYTES = 50 * 1024
MAX_SPEC_DEPTH = 30
MAX_FILES_PER_FOLDER = 500

ID_PATTERN = re.compile(r"[a-z0-9-]{1,64}")
ICON_PATTERN = re.compile(r"[MmLlHhVvCcSsQqTtAaZz0-9 ,.\-]{1,500}")
SCHEMA_PATTERN = re.compile(r"https://vega\.github\.io/schema/vega-lite/v\d+(\.\d+){0,2}\.json")
PLACEHOLDER_LIKE = re.compile(r"\{[^{}\s]*\}")

UNIT_TYPES = ("experiment", "model", "layer", "variable", "activation", "neuron")
ROW_SHAPES = ("vector", "matrix", "histogram")
TEXT_FIELDS = {"name": 60, "category": 30, "description": 300}
TOP_LEVEL_KEYS = ("format", "id", "name", "category", "description", "icon", "applies_to", "class_dependent",
                  "data", "rows", "spec")
REQUIRED_KEYS = ("format", "id", "name", "description", "icon", "applies_to", "data", "rows", "spec")
DATA_KEYS = ("run", "unit", "steps", "classes", "transform")

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
# The fields of `data.unit` per kind, as the data route reads them: (field, type, required).
# "str" fields take a non-empty string or "{run}"/"{layer}"/"{variable}"; "int" fields an int or "{neuron}".
UNIT_FIELDS = {
    "weights": (("layer", "str", True), ("variable", "str", True)),
    "activations": (("layer", "str", True), ("output", "int", False)),
    "class_means": (("layer", "str", True),),
    "samples": (("output", "int", False),),
    "labels": (),
    "predictions": (("output", "int", False),),
    "statistics": (("unit", "str", True),),
    "histogram": (("unit", "str", True),),
    "attributions": (("method", "str", True), ("target", "str", False)),
}
# Kinds whose data are per probe sample, so a class selection applies.
CLASS_KINDS = ("activations", "class_means", "samples", "labels", "predictions", "attributions")
STRING_PLACEHOLDERS = ("{run}", "{layer}", "{variable}")
INT_PLACEHOLDERS = ("{neuron}",)

assert set(UNIT_FIELDS) == set(routes_data.DATA_KINDS), "json_tools.UNIT_FIELDS is out of date with the data route"


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


def _describe(value):
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


def _short(value, size=40):
    text = repr(value)
    return text if len(text) <= size else text[: size - 3] + "..."


def _key_path(path, key):
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", key):
        return "%s.%s" % (path, key) if path else key
    return "%s[%s]" % (path, json.dumps(key[:60]))


# ---------------------------------------------------------------------------
# One declaration.


def validate_declaration(obj, source):
    """Returns the checked declaration with defaults filled in, or raises ToolError naming source and path.

    Defaults: category "Custom", class_dependent false, data.run "{run}",
    data.steps "last", data.transform [].
    """
    try:
        return _validate(obj)
    except _Bad as bad:
        raise ToolError(source, bad.path, bad.message) from None


def _validate(obj):
    if not isinstance(obj, dict):
        raise _Bad("", "a tool declaration must be a JSON object, not %s" % _describe(obj))
    for key in obj:
        if key not in TOP_LEVEL_KEYS:
            raise _Bad(_key_path("", key), "unknown key; a declaration has: %s" % ", ".join(TOP_LEVEL_KEYS))
    for key in REQUIRED_KEYS:
        if key not in obj:
            raise _Bad(key, "missing (required)")
    if type(obj["format"]) is not int or obj["format"] != FORMAT:
        raise _Bad("format", "must be %d (the only declaration format), not %s" % (FORMAT, _short(obj["format"])))
    tool = {"format": FORMAT}
    tool["id"] = _id(obj["id"])
    for key, longest in TEXT_FIELDS.items():
        if key == "category" and key not in obj:
            tool[key] = "Custom"
            continue
        tool[key] = _text(obj[key], key, longest)
    tool["icon"] = _icon(obj["icon"])
    tool["applies_to"] = _applies_to(obj["applies_to"])
    class_dependent = obj.get("class_dependent", False)
    if type(class_dependent) is not bool:
        raise _Bad("class_dependent", "must be true or false, not %s" % _describe(class_dependent))
    tool["class_dependent"] = class_dependent
    tool["data"] = _data(obj["data"], tool["applies_to"], class_dependent)
    tool["rows"] = _rows(obj["rows"], tool["data"])
    tool["spec"] = _spec(obj["spec"])
    # Key order as declared in TOP_LEVEL_KEYS, for stable answers.
    return {key: tool[key] for key in TOP_LEVEL_KEYS}


def _id(value):
    if type(value) is not str or not ID_PATTERN.fullmatch(value):
        raise _Bad("id", "must be 1 to 64 characters of a-z, 0-9 and '-', not %s" % _short(value))
    return value


def _text(value, key, longest):
    if type(value) is not str:
        raise _Bad(key, "must be a string, not %s" % _describe(value))
    if not value.strip():
        raise _Bad(key, "must not be empty")
    if len(value) > longest:
        raise _Bad(key, "must be at most %d characters, not %d" % (longest, len(value)))
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _Bad(key, "must not contain control characters (newlines, tabs)")
    return value


def _icon(value):
    if type(value) is not str:
        raise _Bad("icon", "must be SVG path data (a string), not %s" % _describe(value))
    if not ICON_PATTERN.fullmatch(value):
        bad = sorted({c for c in value if not ICON_PATTERN.fullmatch(c)})
        if len(value) > 500:
            raise _Bad("icon", "must be at most 500 characters, not %d" % len(value))
        if not value:
            raise _Bad("icon", "must not be empty")
        raise _Bad("icon", "SVG path data may only use the commands MLHVCSQTAZ (either case), digits, space, "
                           "',', '.' and '-'; found %s" % ", ".join(repr(c) for c in bad[:10]))
    if value.lstrip()[:1] not in ("M", "m"):
        raise _Bad("icon", "SVG path data must start with a moveto command (M or m)")
    return value


def _applies_to(value):
    if type(value) is not list or not value:
        raise _Bad("applies_to", "must be a non-empty list of unit types (%s)" % ", ".join(UNIT_TYPES))
    for index, item in enumerate(value):
        if item not in UNIT_TYPES:
            raise _Bad("applies_to[%d]" % index,
                       "unknown unit type %s; one of %s" % (_short(item), ", ".join(UNIT_TYPES)))
        if item in value[:index]:
            raise _Bad("applies_to[%d]" % index, "%r is listed twice" % item)
    return list(value)


def _data(value, applies_to, class_dependent):
    if not isinstance(value, dict):
        raise _Bad("data", "must be a `data` route body (an object), not %s" % _describe(value))
    for key in value:
        if key not in DATA_KEYS:
            raise _Bad(_key_path("data", key), "unknown key; a data request has: %s" % ", ".join(DATA_KEYS))
    if "unit" not in value:
        raise _Bad("data.unit", "missing (required)")
    data = {}
    run = value.get("run", "{run}")
    if run != "{run}":
        raise _Bad("data.run", "must be \"{run}\" (or left out): the tool reads the model it is opened on, "
                               "not %s" % _short(run))
    data["run"] = "{run}"
    unit = _unit(value["unit"])
    # A placeholder must be known for every unit type the tool applies to.
    for path, name in [("data.run", "run")] + [("data.unit." + k, PLACEHOLDERS[v]) for k, v in unit.items()
                                               if isinstance(v, str) and v in PLACEHOLDERS]:
        missing = [t for t in applies_to if name not in PROVIDES[t]]
        if missing:
            raise _Bad(path, "'{%s}' is not known for unit type %s (applies_to); it is known for: %s"
                       % (name, ", ".join(repr(t) for t in missing),
                          ", ".join(t for t in UNIT_TYPES if name in PROVIDES[t])))
    data["unit"] = unit
    data["steps"] = _steps(value.get("steps", "last"))
    if "classes" in value:
        classes = value["classes"]
        if type(classes) is not list or not classes or len(classes) > 10_000 or not all(
                type(c) is int or (type(c) is str and 0 < len(c) <= 100) for c in classes):
            raise _Bad("data.classes", "must be a non-empty list of class labels (integers or strings)")
        if unit["kind"] not in CLASS_KINDS:
            raise _Bad("data.classes", "unit kind %r does not depend on classes (only %s do)"
                       % (unit["kind"], ", ".join(CLASS_KINDS)))
        data["classes"] = list(classes)
    if class_dependent and unit["kind"] not in CLASS_KINDS:
        raise _Bad("class_dependent", "is true, but unit kind %r does not depend on classes (only %s do)"
                   % (unit["kind"], ", ".join(CLASS_KINDS)))
    data["transform"] = _transform(value.get("transform", []))
    return data


def _unit(value):
    if not isinstance(value, dict):
        raise _Bad("data.unit", "must be an object with 'kind', not %s" % _describe(value))
    kind = value.get("kind")
    if type(kind) is not str or kind not in UNIT_FIELDS:
        raise _Bad("data.unit.kind", "unknown unit kind %s; the data route knows: %s"
                   % (_short(kind), ", ".join(routes_data.DATA_KINDS)))
    fields = {name: (kind_, required) for name, kind_, required in UNIT_FIELDS[kind]}
    for key in value:
        if key != "kind" and key not in fields:
            takes = ", ".join(fields) or "nothing besides 'kind'"
            raise _Bad(_key_path("data.unit", key), "unknown field for kind %r; it takes: %s" % (kind, takes))
    unit = {"kind": kind}
    for name, (type_, required) in fields.items():
        path = "data.unit." + name
        if name not in value:
            if required:
                raise _Bad(path, "missing (kind %r needs it)" % kind)
            continue
        item = value[name]
        if type_ == "str":
            if type(item) is not str or not item:
                raise _Bad(path, "must be a non-empty string or one of %s, not %s"
                           % (", ".join(STRING_PLACEHOLDERS), _describe(item)))
            if item in INT_PLACEHOLDERS:
                raise _Bad(path, "%s stands for an integer; this field takes a string (%s)"
                           % (item, ", ".join(STRING_PLACEHOLDERS)))
        else:
            if item in STRING_PLACEHOLDERS:
                raise _Bad(path, "%s stands for a string; this field takes an integer or %s"
                           % (item, ", ".join(INT_PLACEHOLDERS)))
            if not (item in INT_PLACEHOLDERS or (type(item) is int and 0 <= item <= 1000)):
                raise _Bad(path, "must be an integer from 0 to 1000 or %s, not %s"
                           % (", ".join(INT_PLACEHOLDERS), _short(item)))
        if isinstance(item, str) and item not in PLACEHOLDERS:
            _no_placeholder_inside(item, path)
        unit[name] = item
    return unit


def _no_placeholder_inside(text, path):
    match = PLACEHOLDER_LIKE.search(text)
    if match is None:
        return
    if match.group(0) in PLACEHOLDERS and match.group(0) != text:
        raise _Bad(path, "placeholders must be the whole string value (\"%s\"), not part of %s"
                   % (match.group(0), _short(text)))
    raise _Bad(path, "unknown placeholder %s; known: %s" % (_short(match.group(0)), ", ".join(PLACEHOLDERS)))


def _steps(value):
    if value in ("last", "all"):
        return value
    if type(value) is int and value >= 0:
        return value
    if type(value) is list and 0 < len(value) <= routes_data.MAX_STEPS_PER_REQUEST and all(
            type(v) is int and v >= 0 for v in value):
        return list(value)
    raise _Bad("data.steps", "must be \"last\", \"all\", a step (integer >= 0) or a list of 1 to %d steps, not %s"
               % (routes_data.MAX_STEPS_PER_REQUEST, _short(value)))


def _transform(value):
    """Checked with the grammar's own parser (ops, parameters, limits), before any data exists."""
    if type(value) is not list:
        raise _Bad("data.transform", "must be a list of operations, not %s" % _describe(value))
    # Placeholders are substituted in data.run and data.unit only: one here would reach the grammar verbatim.
    stack = [(value, "data.transform")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            match = PLACEHOLDER_LIKE.search(item)
            if match is not None:
                raise _Bad(path, "placeholder %s in a transform: placeholders are only substituted in "
                                 "data.unit (and data.run)" % _short(match.group(0)))
        elif isinstance(item, list):
            stack.extend((child, "%s[%d]" % (path, i)) for i, child in enumerate(item))
        elif isinstance(item, dict):
            stack.extend((child, _key_path(path, key)) for key, child in item.items())
    limits = transforms.Limits()
    try:
        transforms._check_json(value, limits)
        if len(value) > limits.max_ops:
            raise _Bad("data.transform", "has %d operations, more than max_ops = %d" % (len(value), limits.max_ops))
        for index, raw in enumerate(value):
            transforms._parse_step(index, raw)
    except transforms.TransformError as error:
        raise _Bad(*_transform_error(error)) from None
    return copy.deepcopy(value)


def _transform_error(error):
    """(path, message) of a grammar error, its "pipeline[i]" turned into "data.transform[i]"."""
    field = error.field or "pipeline"
    path = "data.transform" + field[len("pipeline"):] if field.startswith("pipeline") else "data.transform"
    match = re.match(r"pipeline(?:\[\d+\])?(?:\.\S+)?(?: \(([^)]*)\))?: (.*)", error.message, re.S)
    if match is None:
        return path, error.message
    op, rest = match.groups()
    return path, ("%s: %s" % (op, rest)) if op else rest


def _rows(value, data):
    if not isinstance(value, dict):
        raise _Bad("rows", "must be an object {\"column\", \"as\"}, not %s" % _describe(value))
    for key in value:
        if key not in ("column", "as"):
            raise _Bad(_key_path("rows", key), "unknown key; rows has: column, as")
    column = value.get("column", "value")
    if type(column) is not str or not 1 <= len(column) <= 128:
        raise _Bad("rows.column", "must be a column name (1 to 128 characters), not %s" % _short(column))
    shape = value.get("as")
    if shape not in ROW_SHAPES:
        raise _Bad("rows.as", "must be one of %s, not %s" % (", ".join(ROW_SHAPES), _short(shape)))
    produced = _columns_after(data)
    if produced is not None and column not in produced:
        raise _Bad("rows.column", "the transform leaves no column %r; it leaves: %s"
                   % (column, ", ".join(sorted(produced))))
    return {"column": column, "as": shape}


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
    if not isinstance(value, dict):
        raise _Bad("spec", "must be a Vega-Lite spec (a JSON object), not %s" % _describe(value))
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise _Bad("spec", "is %d bytes of JSON, more than %d" % (size, MAX_SPEC_BYTES))
    data = value.get("data")
    if data != {"name": "table"}:
        raise _Bad("spec.data", "must be {\"name\": \"table\"} (the rows of the data answer), not %s"
                   % _short(data, 60))
    if "datasets" in value:
        raise _Bad("spec.datasets", "not allowed: the only dataset is \"table\" (the rows); inline values "
                                    "may be given as {\"data\": {\"values\": [...]}} in a layer")
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
                    raise _Bad(where, "must be a Vega-Lite schema URL like "
                                      "https://vega.github.io/schema/vega-lite/v6.json (or left out), not %s"
                               % _short(child, 80))
                if key == "data" and path != "spec" and isinstance(child, dict) and "name" in child \
                        and child["name"] != "table":
                    raise _Bad(_key_path(where, "name"), "the only named dataset is \"table\", not %s"
                               % _short(child["name"]))
                stack.append((child, where, depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            raise _Bad(path, "not a finite number")
    return copy.deepcopy(value)


# ---------------------------------------------------------------------------
# Files and folders.

_CACHE = {}  # (real path, mtime_ns, size, display) -> (tool or None, error or None)
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
        return None, ToolError(display, "", "resolves to a file outside %s/ (a symlink?); refused"
                               % os.path.basename(inside))
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
            return None, ToolError(display, "", "file is %d bytes, larger than %d; refused"
                                   % (info.st_size, MAX_FILE_BYTES))
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
        result = (parse_file(text, display), None)
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
    tools, errors, seen = [], [], {}

    def load_folder(source, folder, required, confine):
        label = os.path.basename(os.path.normpath(folder)) or folder
        try:
            if confine:
                real_folder = os.path.realpath(folder)
                real_logdir = os.path.realpath(logdir)
                if os.path.dirname(real_folder) != real_logdir:
                    errors.append({"source": source, "path": LOGDIR_FOLDER,
                                   "error": "%s/: resolves outside the logdir (a symlink?); refused" % label})
                    return
            if not os.path.isdir(folder):
                if required:
                    errors.append({"source": source, "path": label,
                                   "error": "%s: not a folder (named by --innspector_tools or %s)" % (folder, ENV_VAR)})
                return
            names = _folder_files(folder)
        except OSError as error:
            errors.append({"source": source, "path": label,
                           "error": "%s: cannot list the folder: %s" % (label, error.strerror or error)})
            return
        if len(names) > MAX_FILES_PER_FOLDER:
            errors.append({"source": source, "path": label,
                           "error": "%s: more than %d tool files; only the first %d are read"
                                    % (label, MAX_FILES_PER_FOLDER, MAX_FILES_PER_FOLDER)})
            names = names[:MAX_FILES_PER_FOLDER]
        inside = os.path.realpath(folder) if confine else None
        for name in names:
            display = "%s/%s" % (label, name)
            tool, error = _read_file(os.path.join(folder, name), display, inside)
            if error is None and tool["id"] in seen:
                first = seen[tool["id"]]
                error = ToolError(display, "id", "duplicate id %r, already declared by %s (%s); ignored"
                                  % (tool["id"], first["path"], first["source"]))
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


def substitute(template, unit):
    """The data request of a template for `unit` ({"run", "layer", "variable", "neuron"}), as the browser does it."""

    def walk(value):
        if isinstance(value, str) and value in PLACEHOLDERS:
            name = PLACEHOLDERS[value]
            if name not in unit:
                raise KeyError("the unit has no %s" % name)
            return int(unit[name]) if name == "neuron" else unit[name]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    body = dict(template)
    body["run"] = walk(template.get("run", "{run}"))
    body["unit"] = walk(template["unit"])
    return body
