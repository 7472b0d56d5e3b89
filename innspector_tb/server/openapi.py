"""The OpenAPI 3 document of the plugin's routes (served at /openapi.json).

tests/test_routes.py calls every route and checks its answers against the
schemas below, so the document stays true.
"""

from innspector_tb.version import VERSION

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_OBJ = {"type": "object"}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_NUM_OR_NULL = {"type": ["number", "null"]}


def _array(items):
    return {"type": "array", "items": items}


def _obj(required, properties=None):
    props = dict(properties or {})
    for key in required:
        props.setdefault(key, {})
    return {"type": "object", "required": list(required), "properties": props}


def _param(name, description, required=False, schema=None):
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or _STR}


_RUN = _param("run", "Run (model) name, as TensorBoard lists it.", required=True)

MODEL = _obj(["run", "id", "name", "label", "parents", "hparams", "steps", "params", "runtime",
              "classes", "latest_metrics", "errors"],
             {"parents": _array(_STR), "steps": _array(_INT), "errors": _array(_STR), "hparams": _OBJ,
              "classes": _array(_STR), "glyph": _array(_obj(["type", "params"])),
              "attributions": {"type": ["object", "null"], "required": ["methods", "targets", "samples", "step"],
                               "properties": {"methods": _array(_STR), "targets": _array(_STR),
                                              "samples": _INT, "step": _INT}}})

ROUTES = {
    "/models": {
        "summary": "Every model (run with iNNspector data): header, parents, steps, parameter counts, "
                   "latest metrics, runtime statistics and read errors.",
        "parameters": [],
        "schema": _obj(["models"], {"models": _array(MODEL)}),
    },
    "/tree": {
        "summary": "The tree of models: experiments (connected lineage components), nodes by depth, "
                   "parent-to-child edges with the relative change of trainable parameters and an "
                   "architecture diff; missing parents and cycles reported.",
        "parameters": [],
        "schema": _obj(["experiments", "nodes", "edges", "missing_parents", "cycles"],
                       {"experiments": _array(_obj(["id", "models"])),
                        "nodes": _array(_obj(["id", "run", "depth", "experiment"])),
                        "edges": _array(_obj(["from", "to", "param_change", "diff"])),
                        "missing_parents": _array(_OBJ), "cycles": _array(_array(_STR))}),
    },
    "/graph": {
        "summary": "The L2 graph of one model: layers with their inner graph of operations and "
                   "variables, data-flow edges, namespaces (nested models); see docs/format.md.",
        "parameters": [_RUN],
        "schema": _obj(["run", "architecture"],
                       {"architecture": _obj(["layers", "edges", "namespaces", "params"],
                                             {"layers": _array(_obj(["id", "type", "inner"])),
                                              "edges": _array(_obj(["from", "to"]))})}),
    },
    "/neurons": {
        "summary": "The L1 data: kept neurons of the layer and its predecessor (top-k weights by "
                   "magnitude, 10 highest and lowest mean activations under the class selection), "
                   "their mean and share, the top-k weights (convolutions aggregated per channel "
                   "pair), per-class mean maps of image-shaped activations, and the Neurons x "
                   "Classes matrix.",
        "parameters": [_RUN,
                       _param("layer", "Layer id, e.g. dense_hidden or encoder/dense_1.", required=True),
                       _param("step", "Step, or 'last' (default)."),
                       _param("classes", "Comma-separated class labels to select (default all)."),
                       _param("k", "Number of strongest weights (default 20, at most 1000).", schema=_INT),
                       _param("keep", "Comma-separated neurons of the layer kept in the view whatever their "
                                      "weights (e.g. one a tool points to).")],
        "schema": _obj(["run", "step", "layer", "previous_layer", "classes", "selected_classes", "layer",
                        "previous", "weights", "neurons_by_classes", "class_maps"],
                       {"step": _INT, "weights": _array(_obj(["from", "to", "value", "magnitude"])),
                        "neurons_by_classes": _obj(["classes", "matrix"])}),
    },
    "/data": {
        "summary": "Any stored array of a unit of analysis at one step or across steps, with a class "
                   "selection and a transform pipeline (innspector_tb.analysis.transforms). POST a JSON body: "
                   "{run, unit: {kind: weights|activations|class_means|samples|labels|predictions|"
                   "statistics|histogram|attributions, layer, variable, unit, output, method, target}, "
                   "steps: int|'last'|'all'|[int], classes: [labels], transform: [operations]}. Attributions "
                   "(method: saliency|gradient_x_input|smoothgrad|integrated_gradients|grad_cam, target: "
                   "predicted|true) answer the columns value, sample (probe row), target (class attributed) "
                   "and label.",
        "method": "post",
        "parameters": [],
        "schema": _obj(["run", "unit", "result"]),
    },
    "/interestingness": {
        "summary": "The score of every unit of analysis, layer, model and experiment for a measure.",
        "parameters": [_param("measure", "A measure id from /interestingness/measures.", required=True),
                       _param("step", "Step, or 'last' (default: the last step every run has)."),
                       _param("runs", "Comma-separated runs (default: all).")],
        "schema": _obj(["measure", "normalisation", "aggregation", "units", "layers", "models", "experiments"],
                       {"units": _array(_obj(["run", "unit", "layer", "raw", "score"])),
                        "layers": _array(_obj(["run", "layer", "score"])),
                        "models": _array(_obj(["run", "score"])),
                        "experiments": _array(_obj(["experiment", "score"]))}),
    },
    "/interestingness/measures": {
        "summary": "The interestingness measures with their descriptions.",
        "parameters": [],
        "schema": _obj(["measures"], {"measures": _array(_obj(["id", "name", "description"]))}),
    },
    "/structures": {
        "summary": "Unit types present (layer, op, variable, activation types) with their locations, and "
                   "architectural structures (skip connections, multi-branch blocks), propagated up to "
                   "model and experiment.",
        "parameters": [_param("run", "Run (default: all runs).")],
        "schema": _obj(["propagated"]),
    },
    "/lint": {
        "summary": "Findings of the careless-mistake detector for one model, and the rules it knows.",
        "parameters": [_RUN],
        "schema": _obj(["run", "findings", "rules"],
                       {"findings": _array(_obj(["rule", "severity", "message", "unit"])),
                        "rules": _array(_obj(["id", "description"]))}),
    },
    "/lint/all": {
        "summary": "The lint of every model in one answer; a model that cannot be linted carries its error.",
        "parameters": [],
        "schema": _obj(["models", "rules"],
                       {"models": _array(_obj(["run", "findings", "error"],
                                              {"findings": _array(_obj(["rule", "severity", "message", "unit"]))})),
                        "rules": _array(_obj(["id", "description"]))}),
    },
    "/tools": {
        "summary": "The toolbox tools declared in JSON (docs/backend.md, 'JSON tools'): the built-in ones, "
                   "those of the folders named by --innspector_tools or INNSPECTOR_TOOLS, and those of "
                   "<logdir>/innspector_tools/; each declaration with its source and file name. Files that "
                   "cannot be read or fail validation are listed in errors (file, JSON path, reason) and "
                   "never affect the others. Re-read on every request.",
        "parameters": [],
        "schema": _obj(["tools", "errors"],
                       {"tools": _array(_obj(["format", "id", "name", "category", "description", "icon",
                                              "applies_to", "class_dependent", "data", "rows", "spec",
                                              "source", "path"],
                                             {"format": _INT, "id": _STR, "name": _STR, "category": _STR,
                                              "description": _STR, "icon": _STR, "applies_to": _array(_STR),
                                              "class_dependent": {"type": "boolean"},
                                              "data": _obj(["run", "unit", "steps", "transform"],
                                                           {"unit": _obj(["kind"]), "transform": _array(_OBJ)}),
                                              "rows": _obj(["column", "as"], {"column": _STR, "as": _STR}),
                                              "spec": _OBJ, "source": _STR, "path": _STR})),
                        "errors": _array(_obj(["source", "path", "error"],
                                              {"source": _STR, "path": _STR, "error": _STR}))}),
    },
    "/mistakes": {
        "summary": "Mistake neurons (NeuroInspect's counterfactual stage) of a classifier whose last layer is "
                   "dense over a feature layer: for each misclassified probe sample of the class, a sparse edit of "
                   "its feature vector (the decision layer's input) that makes the class win, found by FISTA on "
                   "CE + alpha*|w|_1/F + beta*|w|_2^2/F; each edit votes for its 5 largest and 5 most negative "
                   "entries, and the neurons voted in more than 3% of the mistakes are listed with their vote "
                   "share; with the importance ratio p_c(mean f) / p_c(mean f with the neuron zeroed) on the "
                   "class-mean feature vector. No mistakes: neurons is empty and note says why. 400 when the model "
                   "is not such a classifier, 404 when labels, predictions or activations were not logged.",
        "parameters": [_RUN,
                       _param("class", "True class label whose mistakes to explain (default: all classes).",
                              schema=_INT),
                       _param("step", "Step, or 'last' (default)."),
                       _param("alpha", "L1 weight of the edit (default 0.1).", schema={"type": "number"}),
                       _param("beta", "L2 weight of the edit (default 0.01).", schema={"type": "number"}),
                       _param("iterations", "Iteration cap of the solver per sample (default 1000, at most 10000).",
                              schema=_INT)],
        "schema": _obj(["run", "step", "decision_layer", "feature_layer", "class", "features", "classes", "samples",
                        "mistakes", "solved", "mistake_samples", "neurons", "importance", "note", "parameters"],
                       {"step": _INT, "decision_layer": _STR, "feature_layer": _STR,
                        "class": {"type": ["integer", "null"]}, "features": _INT, "classes": _INT,
                        "samples": _INT, "mistakes": _INT, "solved": _INT, "mistake_samples": _array(_INT),
                        "neurons": _array(_obj(["index", "direction", "votes", "share", "mean_edit",
                                                "importance_ratio"],
                                               {"index": _INT, "direction": {"type": "string",
                                                                             "enum": ["increase", "decrease"]},
                                                "votes": _INT, "share": {"type": "number"},
                                                "mean_edit": {"type": "number"},
                                                "importance_ratio": _NUM_OR_NULL})),
                        "importance": _array(_obj(["index", "ratio"], {"index": _INT, "ratio": _NUM_OR_NULL})),
                        "note": {"type": ["string", "null"]}, "parameters": _OBJ}),
    },
    "/metrics": {
        "summary": "Metric series from the runs' TensorBoard scalars, and per step the confusion matrix "
                   "and per-class precision and recall from the logged predictions and labels.",
        "parameters": [_param("runs", "Comma-separated runs (default: all).")],
        "schema": _obj(["runs"]),
    },
}


def document():
    paths = {}
    for route, spec in ROUTES.items():
        method = spec.get("method", "get")
        operation = {
            "summary": spec["summary"],
            "parameters": spec["parameters"],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": spec["schema"]}}},
                "400": {"description": "Malformed request", "content": {"application/json": {"schema": _ERROR}}},
                "404": {"description": "Unknown run, layer, unit or step",
                        "content": {"application/json": {"schema": _ERROR}}},
            },
        }
        if method == "post":
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _OBJ}}}
        paths["/data/plugin/innspector" + route] = {method: operation}
    return {
        "openapi": "3.0.3",
        "info": {"title": "iNNspector TensorBoard plugin", "version": VERSION},
        "paths": paths,
    }


def validate(value, schema, where="$"):
    """Minimal JSON-schema check (type, required, properties, items); returns a list of problems."""
    problems = []
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        if not any(_is_type(value, t) for t in allowed):
            return ["%s: expected %s, got %s" % (where, "/".join(allowed), type(value).__name__)]
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append("%s: missing %r" % (where, key))
        for key, sub in schema.get("properties", {}).items():
            if key in value and sub:
                problems += validate(value[key], sub, "%s.%s" % (where, key))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value[:50]):
            problems += validate(item, schema["items"], "%s[%d]" % (where, i))
    return problems


def _is_type(value, name):
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[name]
