"""Tools declared in JSON: the format's rules, the three sources, and the `tools` route.

The built-in tools are run for real: their `data` template, with a demo unit substituted as the browser
does it, is POSTed to the real `data` route of TensorBoard's own app over the demo logs.
"""

import json
import os

import numpy as np
import pytest
from tensorboard.backend import application
from werkzeug import test as werkzeug_test

from innspector_tb.server import json_tools, openapi
from tests.support import openapi_check, tb_readers, tool_requests
from tests.support.backend_app import BASE, Client

BUILTIN_IDS = {"sorted-weight-magnitudes", "activation-histogram"}


def _builtin(tool_id):
    with open(os.path.join(json_tools.BUILTIN_DIR, tool_id + ".json")) as f:
        return json.load(f)


def _valid():
    """A valid declaration to break one rule at a time."""
    return _builtin("sorted-weight-magnitudes")


def _write(folder, name, content):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w" if isinstance(content, str) else "wb") as f:
        f.write(content)
    return path


def _declaration(tool_id, **changes):
    tool = _valid()
    tool["id"] = tool_id
    tool.update(changes)
    return json.dumps(tool)


def _schema_ok(answer):
    problems = openapi_check.validate(answer, openapi.ROUTES["/tools"]["schema"])
    assert problems == [], problems


# ---------------------------------------------------------------------------
# The built-in tools.


def test_exactly_two_builtin_tools_and_they_validate():
    names = sorted(os.listdir(json_tools.BUILTIN_DIR))
    assert names == sorted(i + ".json" for i in BUILTIN_IDS)
    tools, errors = json_tools.load_tools([], None)
    assert errors == []
    assert {t["id"] for t in tools} == BUILTIN_IDS
    assert all(t["source"] == "builtin" and t["path"] == t["id"] + ".json" for t in tools)
    for tool in tools:
        declared = _builtin(tool["id"])
        checked = json_tools.validate_declaration(declared, "tools/%s.json" % tool["id"])
        # Validating the result again changes nothing (defaults are already filled in).
        assert json_tools.validate_declaration(checked, "again") == checked
        assert checked["spec"]["data"] == {"name": "table"}
        assert checked["spec"]["$schema"] == "https://vega.github.io/schema/vega-lite/v6.json"


def test_unit_fields_follow_the_data_route():
    from innspector_tb.server import routes_data

    assert set(json_tools.UNIT_FIELDS) == set(routes_data.DATA_KINDS)


@pytest.fixture(scope="module")
def demo_client(demo_logs):
    return Client(demo_logs[0])


@pytest.mark.slow
def test_builtin_tools_answer_through_the_real_data_route(demo_client):
    status, answer = demo_client.get("/tools")
    assert status == 200, answer
    _schema_ok(answer)
    assert answer["errors"] == []
    tools = {t["id"]: t for t in answer["tools"]}
    assert set(tools) == BUILTIN_IDS

    weights = tools["sorted-weight-magnitudes"]
    assert weights["applies_to"] == ["variable"] and weights["rows"] == {"column": "value", "as": "vector"}
    for layer, variable, size in [
        ("conv_1", "kernel", 3 * 3 * 1 * 16),
        ("conv_1", "bias", 16),
        ("dense_hidden", "kernel", 500),
    ]:
        body = tool_requests.substitute(weights["data"], {"run": "cnn_skip", "layer": layer, "variable": variable})
        assert body["unit"] == {"kind": "weights", "layer": layer, "variable": variable}
        status, result = demo_client.post("/data", body)
        assert status == 200, result
        column = result["result"]["value"]
        assert column["shape"] == [size]
        values = np.array(column["data"], dtype=float)
        assert (values >= 0).all() and (np.diff(values) <= 0).all()  # |w|, largest first
        assert values[0] > 0

    histogram = tools["activation-histogram"]
    assert histogram["class_dependent"] is True and histogram["rows"]["as"] == "histogram"
    body = tool_requests.substitute(histogram["data"], {"run": "cnn_skip", "layer": "dense_hidden"})
    body["classes"] = [1, 2]  # the browser adds the class selection to a class-dependent tool
    status, result = demo_client.post("/data", body)
    assert status == 200, result
    assert list(result["result"]) == ["value"]  # the label column is dropped
    value = result["result"]["value"]
    assert len(value["edges"]) == 41 and len(value["counts"]) == 40
    samples = len(result["classes"]) and result["classes"] == [1, 2]
    assert samples
    all_status, all_classes = demo_client.post("/data", dict(body, classes=None))
    assert all_status == 200
    # 32 units per sample; the selection holds fewer samples than all ten classes.
    selected = sum(value["counts"]) + value["dropped"]
    everything = sum(all_classes["result"]["value"]["counts"]) + all_classes["result"]["value"]["dropped"]
    assert selected % 32 == 0 and 0 < selected < everything

    # The same templates fit a convolution's activations (any rank) and a nested model's layer.
    for run, layer in [("cnn_skip", "conv_1"), ("cnn_nested", "features/conv_1")]:
        body = tool_requests.substitute(histogram["data"], {"run": run, "layer": layer})
        status, result = demo_client.post("/data", body)
        assert status == 200, result
        assert sum(result["result"]["value"]["counts"]) > 0


# ---------------------------------------------------------------------------
# Each rule, with its message (file and JSON path).


def _bad_op_at_2(tool):
    tool["data"]["transform"][2]["op"] = "eval"


def _deep_url(tool):
    tool["spec"]["layer"] = [
        {"mark": "point"},
        {"mark": "image", "encoding": {"x": {"field": "a"}, "url": {"field": "u"}}},
    ]


def _deep_href(tool):
    tool["spec"]["encoding"]["y"]["axis"] = {"labelExpr": "datum.label", "href": "https://example.com"}


def _too_deep(tool):
    nested = {"title": "x"}
    for _ in range(35):
        nested = {"a": nested}
    tool["spec"]["usermeta"] = nested


def _too_big(tool):
    tool["spec"]["usermeta"] = {"notes": ["x" * 900 for _ in range(60)]}


def _set(path, value):
    def change(tool):
        target = tool
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path):
    def change(tool):
        target = tool
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


RULES = [
    ("bad id", _set(["id"], "Bad_ID"), "x.json: id: must be 1 to 64 characters of a-z, 0-9 and '-'"),
    ("long id", _set(["id"], "a" * 65), "x.json: id: must be 1 to 64"),
    ("format", _set(["format"], 2), "x.json: format: must be 1"),
    ("unknown key", _set(["script"], "alert(1)"), "x.json: script: unknown key"),
    ("missing key", _delete(["description"]), "x.json: description: missing (required)"),
    ("long name", _set(["name"], "n" * 61), "x.json: name: must be at most 60 characters"),
    ("empty description", _set(["description"], "  "), "x.json: description: must not be empty"),
    ("long category", _set(["category"], "c" * 31), "x.json: category: must be at most 30 characters"),
    ("icon markup", _set(["icon"], "M0 0<script>"), "x.json: icon: SVG path data may only use"),
    ("icon start", _set(["icon"], "L4 4"), "x.json: icon: SVG path data must start with a moveto"),
    ("icon length", _set(["icon"], "M" + "1" * 500), "x.json: icon: must be at most 500 characters"),
    ("applies_to empty", _set(["applies_to"], []), "x.json: applies_to: must be a non-empty list"),
    (
        "applies_to unknown",
        _set(["applies_to"], ["variable", "gradient"]),
        "x.json: applies_to[1]: unknown unit type 'gradient'",
    ),
    ("class_dependent type", _set(["class_dependent"], "yes"), "x.json: class_dependent: must be true or false"),
    (
        "class_dependent weights",
        _set(["class_dependent"], True),
        "x.json: class_dependent: is true, but unit kind 'weights' does not depend on classes",
    ),
    (
        "unknown unit kind",
        _set(["data", "unit", "kind"], "gradients"),
        "x.json: data.unit.kind: unknown unit kind 'gradients'; the data route knows: weights, activations",
    ),
    (
        "unknown unit field",
        _set(["data", "unit", "varible"], "kernel"),
        "x.json: data.unit.varible: unknown field for kind 'weights'; it takes: layer, variable",
    ),
    ("missing unit field", _delete(["data", "unit", "variable"]), "x.json: data.unit.variable: missing"),
    ("unknown data key", _set(["data", "code"], "x"), "x.json: data.code: unknown key"),
    ("literal run", _set(["data", "run"], "cnn_skip"), 'x.json: data.run: must be "{run}"'),
    ("bad steps", _set(["data", "steps"], "first"), 'x.json: data.steps: must be "last"'),
    ("unknown op", _bad_op_at_2, "x.json: data.transform[2].op: unknown op 'eval'"),
    (
        "bad parameter",
        _set(["data", "transform", 0], {"op": "mean", "axis": "rows"}),
        "x.json: data.transform[0].axis: mean: parameter 'axis'",
    ),
    (
        "unknown parameter",
        _set(["data", "transform", 1], {"op": "flatten", "exec": 1}),
        "x.json: data.transform[1].exec: flatten: unknown parameter 'exec'",
    ),
    ("too many ops", _set(["data", "transform"], [{"op": "abs"}] * 33), "x.json: data.transform: has 33 operations"),
    (
        "placeholder in a transform",
        _set(["data", "transform", 0], {"op": "mean", "in": "{layer}"}),
        "x.json: data.transform[0].in: placeholder '{layer}' in a transform",
    ),
    (
        "placeholder inside a transform string",
        _set(["data", "transform", 0], {"op": "abs", "out": "x_{neuron}"}),
        "x.json: data.transform[0].out: placeholder '{neuron}' in a transform",
    ),
    (
        "partial placeholder",
        _set(["data", "unit", "layer"], "conv_{layer}"),
        "x.json: data.unit.layer: placeholders must be the whole string value",
    ),
    (
        "unknown placeholder",
        _set(["data", "unit", "layer"], "{model}"),
        "x.json: data.unit.layer: unknown placeholder '{model}'",
    ),
    (
        "placeholder not given by a unit type",
        _set(["applies_to"], ["variable", "layer"]),
        "x.json: data.unit.variable: '{variable}' is not known for unit type 'layer' (applies_to)",
    ),
    (
        "integer placeholder in a string field",
        _set(["data", "unit", "layer"], "{neuron}"),
        "x.json: data.unit.layer: {neuron} stands for an integer",
    ),
    ("rows shape", _set(["rows", "as"], "table"), "x.json: rows.as: must be one of vector, matrix, histogram"),
    ("rows column", _set(["rows", "column"], "values"), "x.json: rows.column: the transform leaves no column 'values'"),
    ("spec not an object", _set(["spec"], "<svg/>"), "x.json: spec: must be a Vega-Lite spec (a JSON object)"),
    (
        "missing data.name table",
        _set(["spec", "data"], {"values": [{"a": 1}]}),
        'x.json: spec.data: must be {"name": "table"}',
    ),
    ("other data name", _set(["spec", "data"], {"name": "other"}), 'x.json: spec.data: must be {"name": "table"}'),
    (
        "url at the top",
        _set(["spec", "data"], {"name": "table", "url": "https://example.com/x.csv"}),
        "x.json: spec.data: must be",
    ),
    ("url deep in the spec", _deep_url, "x.json: spec.layer[1].encoding.url: 'url' is not allowed"),
    ("href deep in the spec", _deep_href, "x.json: spec.encoding.y.axis.href: 'href' is not allowed"),
    (
        "nested named data",
        _set(["spec", "layer"], [{"data": {"name": "secrets"}, "mark": "bar"}]),
        'x.json: spec.layer[0].data.name: the only named dataset is "table"',
    ),
    ("datasets", _set(["spec", "datasets"], {"table": []}), "x.json: spec.datasets: not allowed"),
    (
        "vega schema",
        _set(["spec", "$schema"], "https://vega.github.io/schema/vega/v6.json"),
        "x.json: spec.$schema: must be a Vega-Lite schema URL",
    ),
    (
        "foreign schema",
        _set(["spec", "$schema"], "https://evil.example/vega-lite/v6.json"),
        "x.json: spec.$schema: must be a Vega-Lite schema URL",
    ),
    ("spec depth", _too_deep, "nested deeper than 30 levels"),
    ("spec size", _too_big, "x.json: spec: is "),
]


@pytest.mark.parametrize("mutate, message", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_is_enforced_with_its_message(mutate, message):
    tool = _valid()
    mutate(tool)
    with pytest.raises(json_tools.ToolError) as caught:
        json_tools.validate_declaration(tool, "x.json")
    assert str(caught.value).startswith(message) or message in str(caught.value), str(caught.value)


def test_accepted_variants():
    """Optional keys get defaults; the official schema URLs, inline values and other kinds are fine."""
    tool = _valid()
    for key in ("category", "class_dependent", "$schema"):
        tool.pop(key, None)
    tool["spec"].pop("$schema")
    del tool["data"]["steps"]
    checked = json_tools.validate_declaration(tool, "x.json")
    assert checked["category"] == "Custom" and checked["class_dependent"] is False
    assert checked["data"]["run"] == "{run}" and checked["data"]["steps"] == "last"
    for schema in (
        "https://vega.github.io/schema/vega-lite/v6.json",
        "https://vega.github.io/schema/vega-lite/v6.5.0.json",
        "https://vega.github.io/schema/vega-lite/v5.json",
    ):
        tool["spec"]["$schema"] = schema
        json_tools.validate_declaration(tool, "x.json")
    tool["spec"]["layer"] = [{"data": {"values": [{"a": 1}]}, "mark": "rule"}]
    json_tools.validate_declaration(tool, "x.json")
    neuron = {
        "format": 1,
        "id": "neuron-output",
        "name": "n",
        "description": "d",
        "icon": "M0 0h4",
        "applies_to": ["neuron"],
        "class_dependent": True,
        "data": {
            "unit": {"kind": "activations", "layer": "{layer}", "output": "{neuron}"},
            "steps": [0, 1],
            "transform": [],
        },
        "rows": {"column": "value", "as": "matrix"},
        "spec": {"data": {"name": "table"}, "mark": "rect"},
    }
    assert json_tools.validate_declaration(neuron, "n.json")["data"]["unit"]["output"] == "{neuron}"
    assert tool_requests.substitute(neuron["data"], {"run": "r", "layer": "l", "neuron": "3"})["unit"]["output"] == 3
    stats = dict(
        neuron,
        applies_to=["model"],
        class_dependent=False,
        data={"unit": {"kind": "statistics", "unit": "conv_1/kernel"}, "steps": "all"},
    )
    json_tools.validate_declaration(stats, "s.json")


# ---------------------------------------------------------------------------
# Files and sources.


def _errors_by_path(errors):
    return {e["path"]: e for e in errors}


def test_files_that_cannot_be_tools(tmp_path):
    folder = str(tmp_path / "my_tools")
    _write(folder, "good.json", _declaration("good-tool"))
    _write(folder, "invalid.json", '{"format": 1, "id": ')
    _write(folder, "nan.json", _declaration("nan-tool").replace('"format": 1', '"format": NaN'))
    _write(folder, "twice.json", '{"id": "a", "id": "b"}')
    _write(folder, "huge.json", '{"format": 1, "padding": "%s"}' % ("x" * (json_tools.MAX_FILE_BYTES + 10)))
    _write(folder, "latin1.json", b'{"name": "\xe9"}')
    _write(folder, "array.json", "[]")
    _write(folder, "notes.txt", "not a tool")
    _write(folder, ".hidden.json", "{")
    os.mkfifo(os.path.join(folder, "fifo.json"))  # would block a naive open()
    tools, errors = json_tools.load_tools([folder], None)
    assert [t["id"] for t in tools if t["source"] == "flag"] == ["good-tool"]
    by_path = _errors_by_path(errors)
    assert set(by_path) == {
        "invalid.json",
        "nan.json",
        "twice.json",
        "huge.json",
        "latin1.json",
        "array.json",
        "fifo.json",
    }
    assert all(e["source"] == "flag" for e in errors)
    assert by_path["invalid.json"]["error"].startswith("my_tools/invalid.json: invalid JSON: ")
    assert "NaN is not valid JSON" in by_path["nan.json"]["error"]
    assert "duplicate key 'id'" in by_path["twice.json"]["error"]
    assert by_path["huge.json"]["error"].startswith("my_tools/huge.json: file is ")
    assert "larger than %d; refused" % json_tools.MAX_FILE_BYTES in by_path["huge.json"]["error"]
    assert "not UTF-8" in by_path["latin1.json"]["error"]
    assert by_path["array.json"]["error"] == "my_tools/array.json: a tool declaration must be a JSON object, not a list"
    assert by_path["fifo.json"]["error"] == "my_tools/fifo.json: not a regular file; refused"


def test_duplicate_ids_keep_the_first_source(tmp_path):
    first = str(tmp_path / "first")
    second = str(tmp_path / "second")
    _write(first, "a.json", _declaration("shared"))
    _write(first, "b.json", _declaration("sorted-weight-magnitudes"))  # a built-in id
    _write(second, "c.json", _declaration("shared", name="Later"))
    logdir = str(tmp_path / "logs")
    _write(os.path.join(logdir, "innspector_tools"), "d.json", _declaration("shared"))
    tools, errors = json_tools.load_tools([first, second], logdir)
    ids = [t["id"] for t in tools]
    assert ids.count("shared") == 1 and ids.count("sorted-weight-magnitudes") == 1
    assert next(t for t in tools if t["id"] == "shared")["path"] == "a.json"
    assert next(t for t in tools if t["id"] == "sorted-weight-magnitudes")["source"] == "builtin"
    by_path = _errors_by_path(errors)
    assert by_path["b.json"]["error"] == (
        "first/b.json: id: duplicate id 'sorted-weight-magnitudes', already "
        "declared by sorted-weight-magnitudes.json (builtin); ignored"
    )
    assert by_path["c.json"]["error"].startswith(
        "second/c.json: id: duplicate id 'shared', already declared by a.json (flag)"
    )
    assert by_path["d.json"]["source"] == "logdir"
    assert by_path["d.json"]["error"].startswith("innspector_tools/d.json: id: duplicate id 'shared'")


def test_logdir_tools_never_leave_the_folder(tmp_path):
    logdir = str(tmp_path / "logs")
    tools_dir = os.path.join(logdir, "innspector_tools")
    _write(tools_dir, "local.json", _declaration("local-tool"))
    outside = _write(str(tmp_path / "elsewhere"), "outside.json", _declaration("outside-tool"))
    os.symlink(outside, os.path.join(tools_dir, "linked.json"))
    os.symlink(os.path.join(tools_dir, "local.json"), os.path.join(tools_dir, "alias.json"))  # stays inside
    _write(os.path.join(tools_dir, "sub"), "nested.json", _declaration("nested-tool"))  # not directly inside
    tools, errors = json_tools.load_tools([], logdir)
    # Files are read in name order: alias.json (a link to local.json, inside the folder) comes first.
    assert [(t["id"], t["source"], t["path"]) for t in tools if t["source"] == "logdir"] == [
        ("local-tool", "logdir", "alias.json")
    ]
    by_path = _errors_by_path(errors)
    assert by_path["linked.json"]["error"] == (
        "innspector_tools/linked.json: resolves to a file outside innspector_tools/ (a symlink?); refused"
    )
    assert by_path["local.json"]["error"].startswith("innspector_tools/local.json: id: duplicate id 'local-tool'")
    assert set(by_path) == {"linked.json", "local.json"}
    assert "nested-tool" not in json.dumps(tools)


def test_a_logdir_tools_folder_linked_from_elsewhere_is_refused(tmp_path):
    logdir = str(tmp_path / "logs")
    os.makedirs(logdir)
    elsewhere = str(tmp_path / "elsewhere")
    _write(elsewhere, "tool.json", _declaration("elsewhere-tool"))
    os.symlink(elsewhere, os.path.join(logdir, "innspector_tools"))
    tools, errors = json_tools.load_tools([], logdir)
    assert "elsewhere-tool" not in {t["id"] for t in tools}
    assert errors == [
        {
            "source": "logdir",
            "path": "innspector_tools",
            "error": "innspector_tools/: resolves outside the logdir (a symlink?); refused",
        }
    ]


def test_folders_from_flag_and_environment(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    assert json_tools.folders_from("", {}) == []
    assert json_tools.folders_from(a + os.pathsep + b, {"INNSPECTOR_TOOLS": c + os.pathsep + a}) == [a, b, c]
    assert json_tools.folders_from(None, {"INNSPECTOR_TOOLS": " %s %s" % (b, os.pathsep)}) == [b]
    # A named folder that does not exist is reported; the logdir's absent folder is not.
    tools, errors = json_tools.load_tools([a], str(tmp_path))
    assert {t["id"] for t in tools} == BUILTIN_IDS
    assert errors == [
        {
            "source": "flag",
            "path": "a",
            "error": "%s: not a folder (named by --innspector_tools or INNSPECTOR_TOOLS)" % a,
        }
    ]


def test_edits_are_seen_on_the_next_load(tmp_path):
    folder = str(tmp_path / "live")
    path = _write(folder, "t.json", _declaration("live-tool", name="First"))
    tools, _ = json_tools.load_tools([folder], None)
    assert next(t for t in tools if t["id"] == "live-tool")["name"] == "First"
    _write(folder, "t.json", _declaration("live-tool", name="Second name"))
    os.utime(path, ns=(1, 1))  # a different mtime whatever the clock's resolution
    tools, _ = json_tools.load_tools([folder], None)
    assert next(t for t in tools if t["id"] == "live-tool")["name"] == "Second name"
    _write(folder, "t.json", "{broken")
    tools, errors = json_tools.load_tools([folder], None)
    assert "live-tool" not in {t["id"] for t in tools} and errors[0]["path"] == "t.json"


# ---------------------------------------------------------------------------
# The route, with each source.


def _flag_client(logdir, tools_flag):
    """TensorBoard's own app configured from a command line with --innspector_tools."""
    tb = tb_readers.configured_tensorboard(logdir, "python", ["--innspector_tools", tools_flag])
    provider, multiplexer = tb._make_data_provider()
    app = application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, provider, tb.assets_zip_provider, multiplexer)
    return werkzeug_test.Client(app)


def test_route_with_the_flag(tmp_path):
    logdir = str(tmp_path / "logs")
    os.makedirs(logdir)
    folder = str(tmp_path / "flag_tools")
    _write(folder, "flagged.json", _declaration("flagged-tool"))
    _write(folder, "broken.json", _declaration("broken-tool", data={"unit": {"kind": "weights"}}))
    client = _flag_client(logdir, folder)
    response = client.get(BASE + "/tools")
    assert response.status_code == 200
    answer = json.loads(response.get_data())
    _schema_ok(answer)
    assert [(t["id"], t["source"]) for t in answer["tools"]] == [
        ("activation-histogram", "builtin"),
        ("sorted-weight-magnitudes", "builtin"),
        ("flagged-tool", "flag"),
    ]
    assert answer["errors"] == [
        {
            "source": "flag",
            "path": "broken.json",
            "error": "flag_tools/broken.json: data.unit.layer: missing (kind 'weights' needs it)",
        }
    ]


def test_route_with_the_environment_variable_and_the_logdir(tmp_path, monkeypatch):
    logdir = str(tmp_path / "logs")
    _write(os.path.join(logdir, "innspector_tools"), "from-logdir.json", _declaration("logdir-tool"))
    _write(os.path.join(logdir, "innspector_tools"), "bad.json", _declaration("bad-tool", icon="M0 0 <a>"))
    env_folder = str(tmp_path / "env_tools")
    _write(env_folder, "from-env.json", _declaration("env-tool"))
    monkeypatch.setenv("INNSPECTOR_TOOLS", env_folder + os.pathsep + str(tmp_path / "missing"))
    status, answer = Client(logdir).get("/tools")
    assert status == 200, answer
    _schema_ok(answer)
    sources = {t["id"]: (t["source"], t["path"]) for t in answer["tools"]}
    assert sources["env-tool"] == ("flag", "from-env.json")
    assert sources["logdir-tool"] == ("logdir", "from-logdir.json")
    assert set(sources) == BUILTIN_IDS | {"env-tool", "logdir-tool"}
    assert [(e["source"], e["path"]) for e in answer["errors"]] == [("flag", "missing"), ("logdir", "bad.json")]
    assert answer["errors"][1]["error"].startswith("innspector_tools/bad.json: icon: SVG path data may only use")
    # The declaration comes back checked, with the defaults filled in.
    tool = next(t for t in answer["tools"] if t["id"] == "logdir-tool")
    assert tool["data"]["run"] == "{run}" and tool["spec"]["data"] == {"name": "table"}


def test_route_survives_unreadable_sources(tmp_path, monkeypatch):
    logdir = str(tmp_path / "logs")
    tools_dir = os.path.join(logdir, "innspector_tools")
    os.makedirs(tools_dir)
    os.mkfifo(os.path.join(tools_dir, "pipe.json"))
    os.symlink(os.path.join(tools_dir, "nowhere.json"), os.path.join(tools_dir, "dangling.json"))
    _write(str(tmp_path / "not_a_folder"), "x", "")
    monkeypatch.setenv("INNSPECTOR_TOOLS", str(tmp_path / "not_a_folder" / "x"))
    status, answer = Client(logdir).get("/tools")
    assert status == 200, answer
    _schema_ok(answer)
    assert {t["id"] for t in answer["tools"]} == BUILTIN_IDS
    errors = _errors_by_path(answer["errors"])
    assert set(errors) == {"x", "pipe.json", "dangling.json"}
    assert errors["pipe.json"]["error"].endswith("not a regular file; refused")
    assert "cannot be read" in errors["dangling.json"]["error"]
