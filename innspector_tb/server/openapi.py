"""The OpenAPI 3.1 document of the plugin's routes (served at /openapi.json).

The answers' JSON Schemas (2020-12) are in openapi_schemas.py. The document is the one source of the
answers' shapes:

* the test client (tests/support/backend_app.py) checks every answer of a documented route against
  it (tests/support/openapi_check.py), so every route test checks the shapes;
* frontend/openapi.json is this document, written by `make types`
  (``python -m innspector_tb.server.openapi frontend/openapi.json``); openapi-typescript turns it
  into frontend/src/api.gen.ts, whose schemas frontend/src/types.ts aliases.
"""

import json
import sys

from innspector_tb.server.openapi_schemas import INT, SCHEMAS, STR, ref
from innspector_tb.version import VERSION

PREFIX = "/data/plugin/innspector"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")  # what /image serves (store/logged_images.py)


def _param(name, description, required=False, schema=None):
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema or STR}


_RUN = _param("run", "Run (model) name, as TensorBoard lists it.", required=True)

ROUTES = {
    "/models": {
        "summary": "Every model (run with iNNspector data): header, parents, steps, parameter counts, "
        "latest metrics, runtime statistics and read errors.",
        "parameters": [],
        "schema": ref("ModelsAnswer"),
    },
    "/tree": {
        "summary": "The tree of models: experiments (connected lineage components), nodes by depth, "
        "parent-to-child edges with the relative change of trainable parameters and an "
        "architecture diff; missing parents and cycles reported.",
        "parameters": [],
        "schema": ref("TreeAnswer"),
    },
    "/graph": {
        "summary": "The L2 graph of one model: layers with their inner graph of operations and "
        "variables, data-flow edges, namespaces (nested models); see docs/format.md.",
        "parameters": [_RUN],
        "schema": ref("GraphAnswer"),
    },
    "/neurons": {
        "summary": "The L1 data: kept neurons of the layer and its predecessor (top-k weights by "
        "magnitude, 10 highest and lowest mean activations under the class selection), "
        "their mean and share, the top-k weights (convolutions aggregated per channel "
        "pair), per-class mean maps of image-shaped activations, and the Neurons x "
        "Classes matrix. With reduced data, the kernel comes from the newest step holding it "
        "(`kernel_step`) and `notes` say what the view rests on.",
        "parameters": [
            _RUN,
            _param("layer", "Layer id, e.g. dense_hidden or encoder/dense_1.", required=True),
            _param("step", "Step, or 'last' (default)."),
            _param("classes", "Comma-separated class labels to select (default all)."),
            _param("k", "Number of strongest weights (default 20, at most 1000).", schema=INT),
            _param(
                "keep",
                "Comma-separated neurons of the layer kept in the view whatever their "
                "weights (e.g. one a tool points to).",
            ),
        ],
        "schema": ref("NeuronsAnswer"),
    },
    "/data": {
        "summary": "Any stored array of a unit of analysis at one step or across steps, with a class "
        "selection and a transform pipeline (innspector_tb.analysis.transforms). POST a JSON body: "
        "{run, unit: {kind: weights|activations|class_means|samples|labels|predictions|"
        "statistics|histogram|attributions|unit_statistics, layer, variable, unit, output, method, target, "
        "form}, steps: int|'last'|'all'|[int], classes: [labels], transform: [operations]}. Attributions "
        "(method: saliency|gradient_x_input|smoothgrad|integrated_gradients|grad_cam|lrp_*|deep_taylor|"
        "guided_backprop|deconvnet|guided_grad_cam|occlusion; for token inputs gradient_x_embedding|"
        "integrated_gradients, one value per token; target: predicted|true) answer the columns value, "
        "sample (probe row), target (class attributed) "
        "and label, and the step's deletion curves of every method in `attribution.deletion`. "
        "When the logging plan reduced a layer, activations answer what is stored (full, "
        "else pooled per unit, else the maps of the sample subset; unit.form asks for one) and say so "
        "in `reduced`; weights a step's file lacks come from the newest earlier step (`from_step`, `note`). "
        "Attention layers: attention_entropy answers each probe sample's entropy per head (averaged over "
        "queries, over log(keys)); attention the scores [heads][queries][keys] of one probe sample "
        "(unit.sample) or one class's mean (unit.class).",
        "method": "post",
        "parameters": [],
        "body": ref("DataRequest"),
        "schema": ref("DataAnswer"),
    },
    "/interestingness": {
        "summary": "The score of every unit of analysis, layer, model and experiment for a measure.",
        "parameters": [
            _param("measure", "A measure id from /interestingness/measures.", required=True),
            _param("step", "Step, or 'last' (default: the last step every run has)."),
            _param("runs", "Comma-separated runs (default: all)."),
        ],
        "schema": ref("InterestingnessAnswer"),
    },
    "/interestingness/measures": {
        "summary": "The interestingness measures with their descriptions.",
        "parameters": [],
        "schema": ref("MeasuresAnswer"),
    },
    "/structures": {
        "summary": "Unit types present (layer, op, variable, activation types) with their locations, and "
        "architectural structures (skip connections, multi-branch blocks), propagated up to "
        "model and experiment.",
        "parameters": [_param("run", "Run (default: all runs).")],
        "schema": ref("StructuresAnswer"),
    },
    "/lint": {
        "summary": "Findings of the careless-mistake detector for one model, and the rules it knows.",
        "parameters": [_RUN],
        "schema": ref("LintAnswer"),
    },
    "/lint/all": {
        "summary": "The lint of every model in one answer; a model that cannot be linted carries its error.",
        "parameters": [],
        "schema": ref("LintAllAnswer"),
    },
    "/gradients": {
        "summary": "A model's gradients at logging time: per trainable variable and logged step, the gradient "
        "norm and root mean square on a probe batch, the weight norm and the update ratio (docs/format.md).",
        "parameters": [_RUN],
        "schema": ref("GradientsAnswer"),
    },
    "/vocabulary": {
        "summary": "The vocabulary logged with a run's probe (InnspectorCallback(vocabulary=...)): the string "
        "of each token id, for showing token-id inputs as words. 404 when the run has none.",
        "parameters": [_RUN],
        "schema": ref("VocabularyAnswer"),
    },
    "/tools": {
        "summary": "The toolbox tools declared in JSON (docs/backend.md, 'JSON tools'): the built-in ones, "
        "those of the folders named by --innspector_tools or INNSPECTOR_TOOLS, and those of "
        "<logdir>/innspector_tools/; each declaration with its source and file name. Files that "
        "cannot be read or fail validation are listed in errors (file, JSON path, reason) and "
        "never affect the others. Re-read on every request.",
        "parameters": [],
        "schema": ref("ToolsAnswer"),
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
        "parameters": [
            _RUN,
            _param("class", "True class label whose mistakes to explain (default: all classes).", schema=INT),
            _param("step", "Step, or 'last' (default)."),
            _param("alpha", "L1 weight of the edit (default 0.1).", schema={"type": "number"}),
            _param("beta", "L2 weight of the edit (default 0.01).", schema={"type": "number"}),
            _param("iterations", "Iteration cap of the solver per sample (default 1000, at most 10000).", schema=INT),
        ],
        "schema": ref("MistakesAnswer"),
    },
    "/feature_visualisations": {
        "summary": "Class-conditional feature visualisations logged at a step (docs/format.md, 'Feature "
        "visualisations'): per target (a unit of a layer for a class, or a class alone: layer and unit null), "
        "its images (optimised inputs, in the probe's value range) and per image the unit's value reached, "
        "its percentile among the probe's values, the class's rank (1: top) and probability. 404 when the run "
        "logged none, or none at that step.",
        "parameters": [
            _RUN,
            _param("step", "Step, or 'last' (default: the newest step with visualisations)."),
            _param("layer", "Only the targets of this layer id."),
            _param("unit", "Only the targets of this unit (-1: class visualisations).", schema=INT),
            _param("class", "Only the targets of this class.", schema=INT),
        ],
        "schema": ref("FeatureVisualisationsAnswer"),
    },
    "/images": {
        "summary": "The images a model's runs logged with TensorBoard's own image summaries (tf.summary.image, "
        "Keras' TensorBoard callback with write_images=True): per tag and TensorBoard run, the steps "
        "TensorBoard kept and the most images one step holds. Empty when the runs logged none.",
        "parameters": [_RUN],
        "schema": ref("ImagesAnswer"),
    },
    "/image": {
        "summary": "One logged image's bytes as logged, served only when they are a PNG, JPEG or GIF (by their "
        "magic bytes; else 400) of at most 16 MiB, with its content type and X-Content-Type-Options: nosniff.",
        "parameters": [
            _RUN,
            _param("tag", "Image tag, from /images.", required=True),
            _param("step", "Step, or 'last' (default)."),
            _param("sample", "Which image of the step (default 0).", schema=INT),
            _param("series_run", "The model's TensorBoard run holding the tag (default: the first that does)."),
        ],
        "content": {kind: {"schema": {"type": "string", "contentMediaType": kind}} for kind in IMAGE_TYPES},
    },
    "/metrics": {
        "summary": "Metric series from the runs' TensorBoard scalars, and per step the confusion matrix "
        "and per-class precision and recall from the logged predictions and labels.",
        "parameters": [_param("runs", "Comma-separated runs (default: all).")],
        "schema": ref("MetricsAnswer"),
    },
}

# Every route may answer these (server/http.py maps the errors hierarchy to them), always as an ErrorAnswer.
ERRORS = {
    "400": "Malformed request, or one over a limit (`limit` names it; `field` the part of the request at fault)",
    "404": "Unknown run, layer, unit or step",
    "500": "A bug in the plugin (the route keeps serving); the answer gives an incident id, the server log the rest",
    "503": "The server is at its limit of concurrent heavy requests: retry after the `Retry-After` seconds",
}
# POST routes (a JSON body) may answer these too.
BODY_ERRORS = {
    "413": "The body is larger than the route accepts (refused before it is read in full)",
    "415": "The body is not sent as application/json",
}


def _json_content(schema):
    return {"application/json": {"schema": schema}}


def document():
    paths = {}
    for route, spec in ROUTES.items():
        content = spec["content"] if "content" in spec else _json_content(spec["schema"])
        responses = {"200": {"description": "OK", "content": content}}
        for status, description in ERRORS.items():
            responses[status] = {"description": description, "content": _json_content(ref("ErrorAnswer"))}
        operation = {"summary": spec["summary"], "parameters": spec["parameters"], "responses": responses}
        if "body" in spec:
            for status, description in BODY_ERRORS.items():
                responses[status] = {"description": description, "content": _json_content(ref("ErrorAnswer"))}
            operation["requestBody"] = {"required": True, "content": _json_content(spec["body"])}
        paths[PREFIX + route] = {spec.get("method", "get"): operation}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": DIALECT,
        "info": {"title": "iNNspector TensorBoard plugin", "version": VERSION},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


def dumps():
    """The document as frontend/openapi.json holds it."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv=None):
    """python -m innspector_tb.server.openapi [PATH]: writes the document to PATH (default: stdout)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: python -m innspector_tb.server.openapi [PATH]\n")
        return 2
    if not args:
        sys.stdout.write(dumps())
        return 0
    with open(args[0], "w", encoding="utf-8", newline="\n") as f:
        f.write(dumps())
    return 0


if __name__ == "__main__":
    sys.exit(main())
