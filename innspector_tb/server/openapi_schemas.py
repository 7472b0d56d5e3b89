"""The JSON Schemas (2020-12) of the route answers: `components.schemas` of the OpenAPI document.

One schema per shape the routes answer, named as the frontend knows it (frontend/src/api.gen.ts is
generated from these, frontend/src/types.ts aliases them). Objects the plugin builds itself are
closed (`additionalProperties: false`): a field added to an answer must be added here too. Objects
passed through from the logs (the architecture, hyper-parameters, runtime statistics, a layer's
config) stay open, as the log format allows more than the routes read.
"""

from innspector_tb.format import attribution_methods
from innspector_tb.server import tool_schema

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
ANY: dict = {}  # any JSON value
OPEN = {"type": "object", "additionalProperties": True}


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def nullable(schema):
    """The schema or null: `type: [t, "null"]` for a plain type, else anyOf with null."""
    if set(schema) == {"type"} and isinstance(schema["type"], str):
        return {"type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def array(items, **extra):
    return {"type": "array", "items": items, **extra}


def mapping(values, description=None):
    """An object used as a dictionary: any keys, every value of the schema."""
    schema = {"type": "object", "additionalProperties": values}
    return dict(schema, description=description) if description else schema


def pair(first, second):
    return {"type": "array", "prefixItems": [first, second], "items": False, "minItems": 2}


def obj(properties, optional=(), closed=True, description=None):
    """An object with these properties, all required but the `optional` ones."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }
    if description:
        schema = {"description": description, **schema}
    if closed:
        schema["additionalProperties"] = False
    return schema


def enum(*values):
    return {"type": "string", "enum": list(values)}


STR_LIST = array(STR)
INT_LIST = array(INT)
NUM_OR_NULL = nullable(NUM)
INT_OR_NULL = nullable(INT)
STR_OR_NULL = nullable(STR)
CLASS_LABEL = {"type": ["integer", "string"]}
STRUCTURE_KINDS = ("skip_connection", "multi_branch")
_KIND_COUNTS = obj({kind: INT for kind in STRUCTURE_KINDS})
_NAMES_BY_TYPE = mapping(STR_LIST)
_COUNT_BY_TYPE = mapping(INT)


SCHEMAS = {
    "ErrorAnswer": obj(
        {"error": STR, "limit": STR, "field": STR},
        optional=["limit", "field"],
        description="Every error answer: what is wrong; `limit` names the limit a request broke, "
        "`field` where in the request the problem is, when known.",
    ),
    # -- models and their tree
    "ParamCounts": obj({"trainable": INT, "non_trainable": INT, "total": INT}, optional=["total"], closed=False),
    "RuntimeStats": obj(
        {
            "params": ref("ParamCounts"),
            "save_size_bytes": INT,
            "save_format": STR,
            "inference_seconds_per_sample": NUM,
            "inference_measured_at_step": INT,
            "peak_memory_bytes": INT,
            "seconds_since_last_step": NUM,
            "step_unit": STR,
            "step": INT,
        },
        optional=[
            "params",
            "save_size_bytes",
            "save_format",
            "inference_seconds_per_sample",
            "inference_measured_at_step",
            "peak_memory_bytes",
            "seconds_since_last_step",
            "step_unit",
        ],
        closed=False,
        description="The newest runtime statistics of a run (docs/format.md), with their step.",
    ),
    "LatestMetric": obj(
        {"step": INT, "value": {"anyOf": [NUM, enum("nan", "inf", "-inf")]}},
        description="The last point of a metrics/ scalar; a non-finite value as a string.",
    ),
    "GlyphEntry": obj({"type": STR, "params": INT}, description="A layer in a model's box: type, trainable params."),
    "AttributionsAvailable": obj(
        {"methods": STR_LIST, "targets": STR_LIST, "samples": INT, "step": INT},
        description="What the newest step with attribution maps holds.",
    ),
    "VisualisationsAvailable": obj(
        {"steps": INT_LIST, "targets": INT},
        description="The steps with feature visualisations and the targets of the newest; absent without any.",
    ),
    "ReducedLayer": obj(
        {
            "activations": enum("pooled", "none"),
            "sample_maps": BOOL,
            "class_maps": BOOL,
        },
        description="What the step files keep of a layer not kept in full: pooled per-sample vectors (or "
        "nothing), full maps of the sample subset, per-class mean maps.",
    ),
    "PlanSummary": obj(
        {
            "reduced": BOOL,
            "notes": STR_LIST,
            "probe_size": INT_OR_NULL,
            "subset_size": INT,
            "weights_every": INT,
            "log_every": dict(
                INT,
                description="Logged every this many due steps: steps that cost more than the time budget are "
                "paced (1: every step `freq` makes due).",
            ),
            "reduced_layers": mapping(ref("ReducedLayer"), "layer id -> what is kept (layers absent: full)"),
        },
        description='The newest logging plan of a run that has one (docs/format.md, "Reduced data"); absent '
        "for logs written before plans, where everything is kept in full.",
    ),
    "Model": obj(
        {
            "run": STR,
            "id": STR_OR_NULL,
            "name": STR,
            "label": STR,
            "parents": STR_LIST,
            "hparams": OPEN,
            "steps": INT_LIST,
            "params": nullable(ref("ParamCounts")),
            "runtime": nullable(ref("RuntimeStats")),
            "layer_count": INT_OR_NULL,
            "classes": STR_LIST,
            "glyph": array(
                ref("GlyphEntry"),
                description="Layer types and trainable parameters in order "
                "(sampled to 48): the box's abstract architecture.",
            ),
            "attributions": nullable(ref("AttributionsAvailable")),
            "latest_metrics": mapping(ref("LatestMetric")),
            "errors": STR_LIST,
            "plan": ref("PlanSummary"),
            "plain": {
                "type": "boolean",
                "description": "A run without iNNspector data (Keras' own TensorBoard callback, a custom loop's "
                "tf.summary calls), listed with a synthesized header: its metrics, no architecture or step files.",
            },
            "series_runs": array(
                STR,
                description="The TensorBoard runs whose scalars are the model's metric series (a Keras "
                "callback's train and validation sub-runs folded into one model).",
            ),
            "feature_visualisations": ref("VisualisationsAvailable"),
            "image_tags": array(
                STR,
                description="The tags of the images the model's runs logged with TensorBoard's image summaries "
                "(tf.summary.image, Keras' callback with write_images); absent when there are none.",
            ),
            "vocabulary_size": {
                "type": "integer",
                "description": "Tokens in the vocabulary logged with the probe (token-id inputs); "
                "absent without one. /vocabulary answers them.",
            },
        },
        optional=["plan", "image_tags", "feature_visualisations", "vocabulary_size"],
    ),
    "ModelsAnswer": obj({"models": array(ref("Model"))}),
    "Experiment": obj(
        {"id": STR, "name": STR, "models": STR_LIST, "runs": STR_LIST, "roots": STR_LIST, "missing_parents": STR_LIST}
    ),
    "TreeNode": obj(
        {
            "id": STR,
            "model_id": STR,
            "run": STR,
            "name": STR,
            "label": STR,
            "depth": INT,
            "experiment": STR,
            "parents": STR_LIST,
            "in_cycle": BOOL,
            "duplicate_of": STR_OR_NULL,
        }
    ),
    "LayerChange": obj({"layer": STR, "fields": mapping(pair(ANY, ANY), "field -> [before, after]")}),
    "ArchitectureDiff": obj({"added": STR_LIST, "removed": STR_LIST, "changed": array(ref("LayerChange"))}),
    "TreeEdge": obj(
        {"from": STR, "to": STR, "param_change": NUM_OR_NULL, "diff": nullable(ref("ArchitectureDiff")), "broken": BOOL}
    ),
    "TreeAnswer": obj(
        {
            "experiments": array(ref("Experiment")),
            "nodes": array(ref("TreeNode")),
            "edges": array(ref("TreeEdge")),
            "missing_parents": array(
                obj({"child": STR, "parent": STR}), description="Parents named in a header but absent from the logdir."
            ),
            "cycles": array(STR_LIST),
            "broken_edges": array(obj({"from": STR, "to": STR})),
            "duplicate_ids": array(obj({"id": STR, "runs": STR_LIST, "nodes": STR_LIST})),
            "notes": STR_LIST,
            "models": array(obj({"run": STR, "id": STR_OR_NULL, "errors": STR_LIST})),
        }
    ),
    # -- the architecture (docs/format.md), passed through from the logs
    "Shape": array(INT_OR_NULL, description="A tensor shape; null for an unknown dimension (the batch)."),
    "InnerNode": obj(
        {
            "id": STR,
            "kind": enum("input", "output", "op", "variable"),
            "label": STR,
            "op": STR,
            "activation": STR,
            "variable": STR,
            "shape": ref("Shape"),
        },
        optional=["op", "activation", "variable", "shape"],
        closed=False,
    ),
    "Variable": obj(
        {
            "name": STR,
            "path": STR,
            "shape": ref("Shape"),
            "dtype": STR,
            "trainable": BOOL,
            "initializer": nullable(OPEN),
        },
        optional=["path", "shape", "dtype", "trainable", "initializer"],
        closed=False,
    ),
    "Layer": obj(
        {
            "id": STR,
            "name": STR,
            "type": STR,
            "module": STR,
            "namespace": STR,
            "custom": BOOL,
            "is_input": BOOL,
            "calls": INT,
            "config": OPEN,
            "input_shapes": array(nullable(ref("Shape"))),
            "output_shapes": array(nullable(ref("Shape"))),
            "params": ref("ParamCounts"),
            "variables": array(ref("Variable")),
            "inner": obj({"nodes": array(ref("InnerNode")), "edges": array(pair(STR, STR))}, closed=False),
        },
        optional=["is_input"],
        closed=False,
    ),
    "ArchitectureEdge": obj(
        {"from": STR, "to": STR, "from_output": INT, "to_input": INT, "call": INT, "shape": nullable(ref("Shape"))},
        closed=False,
    ),
    "Namespace": obj(
        {
            "id": STR,
            "name": STR,
            "parent": STR_OR_NULL,
            "type": STR,
            "functional": BOOL,
            "layers": STR_LIST,
            "inputs": STR_LIST,
            "outputs": STR_LIST,
            "params": ref("ParamCounts"),
        },
        optional=["name", "parent", "type", "functional", "layers", "inputs", "outputs", "params"],
        closed=False,
        description="A nested model.",
    ),
    "Architecture": obj(
        {
            "format_version": INT,
            "model": obj({"class": STR, "functional": BOOL, "name": STR, "notes": STR_LIST}, closed=False),
            "inputs": STR_LIST,
            "outputs": array(obj({"layer": STR, "output_index": INT}, closed=False)),
            "layers": array(ref("Layer")),
            "edges": array(ref("ArchitectureEdge")),
            "namespaces": array(ref("Namespace")),
            "params": ref("ParamCounts"),
        },
        closed=False,
    ),
    "GraphAnswer": obj({"run": STR, "architecture": ref("Architecture")}),
    # -- the L1 view
    "NeuronEntry": obj(
        {"index": INT, "mean": NUM_OR_NULL, "share": NUM_OR_NULL, "std": NUM_OR_NULL, "zero_fraction": NUM_OR_NULL},
        optional=["std", "zero_fraction"],
        description="A kept neuron: its mean activation under the class selection and share of the summed "
        "activation; std and zero_fraction over the probe when the step file stores unit_statistics.",
    ),
    "NeuronLayer": obj({"units": INT, "neurons": array(ref("NeuronEntry"))}),
    "NeuronWeight": obj({"from": INT, "to": INT, "value": NUM, "magnitude": NUM}),
    "NeuronsAnswer": obj(
        {
            "run": STR,
            "step": INT,
            "layer": ref("NeuronLayer"),
            "previous_layer": STR_OR_NULL,
            "previous": ref("NeuronLayer"),
            "classes": STR_LIST,
            "selected_classes": STR_LIST,
            "k": INT,
            "weights": array(ref("NeuronWeight")),
            "neurons_by_classes": obj({"classes": STR_LIST, "matrix": array(array(NUM_OR_NULL))}),
            "class_maps": nullable(
                mapping(mapping(array(array(NUM_OR_NULL))), "class -> kept neuron -> its mean map [height][width]")
            ),
            "kernel_step": {**INT, "description": "The step the kernel was read from, when not `step`."},
            "notes": array(STR, description="What the view rests on when data are reduced: 'kernel from step 40'."),
        },
        optional=["kernel_step", "notes"],
    ),
    # -- the data route
    "DataUnit": {
        "oneOf": [
            obj({"kind": enum("weights"), "layer": STR, "variable": STR}),
            obj(
                {"kind": enum("activations"), "layer": STR, "output": INT, "form": enum("full", "pooled", "samples")},
                optional=["output", "form"],
            ),
            obj({"kind": enum("unit_statistics"), "layer": STR, "output": INT}, optional=["output"]),
            obj({"kind": enum("class_means"), "layer": STR}),
            obj({"kind": enum("samples", "predictions"), "output": INT}, optional=["output"]),
            obj({"kind": enum("labels")}),
            obj({"kind": enum("statistics", "histogram"), "unit": STR}),
            obj({"kind": enum("attention_entropy"), "layer": STR}),
            obj({"kind": enum("attention"), "layer": STR, "sample": INT, "class": INT}, optional=["sample", "class"]),
            obj(
                {
                    "kind": enum("attributions"),
                    "method": enum(*attribution_methods.METHODS),
                    "target": enum("predicted", "true"),
                },
                optional=["target"],
            ),
        ]
    },
    "DataRequest": obj(
        {
            "run": STR,
            "unit": ref("DataUnit"),
            "steps": {"anyOf": [INT, enum("last", "all"), INT_LIST]},
            "classes": array(CLASS_LABEL),
            "transform": array(OPEN, description="The transform pipeline (docs/backend.md)."),
        },
        optional=["steps", "classes", "transform"],
        closed=False,
        description="A body of the `data` route (the route ignores fields it does not know).",
    ),
    "DataArray": obj(
        {"shape": INT_LIST, "dtype": STR, "data": ANY},
        description="An array column: nested lists; NaN and ±Inf are null.",
    ),
    "ReducedAnswer": obj(
        {
            "form": enum("pooled", "samples"),
            "note": STR,
            "rows": INT_LIST,
            "stored": array(enum("full", "pooled", "samples")),
        },
        optional=["rows", "stored"],
        description="Activations or class means read in a reduced form: `pooled` ([samples, units], the mean over "
        "positions) or `samples` (full maps of the probe rows `rows` only); `note` says it for people, `stored` "
        "lists the forms the step file holds.",
    ),
    "DeletionCurves": obj(
        {
            "step": INT,
            "target": STR,
            "fractions": array(NUM),
            "baseline": {"anyOf": [NUM, STR, {"type": "null"}]},
            "undefined": {**INT, "description": "Samples shown without a curve (score not above the baseline's)."},
            "curves": array(
                obj(
                    {
                        "method": STR,
                        "mean": array(nullable(NUM)),
                        "auc": array(nullable(NUM)),
                        "model_auc": nullable(NUM),
                    },
                    description="A method's (or `random`'s) mean curve over the samples shown, the area of "
                    "each sample's curve (the rows of the answer's columns) and their mean.",
                )
            ),
        },
        description="Deletion curves at the step: the attributed score (1 at the input, 0 with every feature at "
        "the baseline) as the features a map ranks first are deleted; a lower area is a more faithful map.",
    ),
    "DataAnswer": obj(
        {
            "run": STR,
            "unit": OPEN,
            "steps": INT_LIST,
            "classes": array(CLASS_LABEL),
            "class_dependent": BOOL,
            "fields": STR_LIST,
            "attribution": obj(
                {
                    "score": STR_OR_NULL,
                    "grad_cam_layer": STR_OR_NULL,
                    "options": OPEN,
                    "deletion": nullable(ref("DeletionCurves")),
                    "deletion_note": {**STR, "description": "Why the step has no deletion curves."},
                },
                optional=["deletion", "deletion_note"],
            ),
            "reduced": ref("ReducedAnswer"),
            "from_step": {**INT, "description": "weights: the step they were read from, when not the one asked."},
            "from_steps": {**INT_LIST, "description": "weights over several steps: the step each was read from."},
            "note": {**STR, "description": "weights read from other steps: 'kernel from step 40'."},
            "sample": {**INT, "description": "attention: the probe row whose scores are answered."},
            "sample_label": {**INT, "description": "attention: that sample's label."},
            "class": {**INT, "description": "attention: the class whose mean scores are answered."},
            "rows": {**INT_LIST, "description": "attention without sample or class: the probe row of each score map."},
            "result": mapping(
                {"anyOf": [ref("DataArray"), OPEN]},
                "column -> an array, or an op's own object (histogram, kde, topk, pca, group_by_class)",
            ),
        },
        optional=[
            "steps",
            "classes",
            "class_dependent",
            "fields",
            "attribution",
            "reduced",
            "from_step",
            "from_steps",
            "note",
            "sample",
            "sample_label",
            "class",
            "rows",
        ],
        description="The request's run and unit, the resolved steps and classes, and the transformed columns.",
    ),
    # -- interestingness
    "Measure": obj(
        {
            "id": STR,
            "name": STR,
            "description": STR,
            "level": STR,
            "needs": STR_LIST,
            "higher_is": STR,
            "normalisation": STR,
        }
    ),
    "MeasuresAnswer": obj({"measures": array(ref("Measure"))}),
    "UnitScore": obj(
        {
            "run": STR,
            "unit": STR,
            "layer": STR,
            "unit_type": STR,
            "variable_type": STR,
            "layer_type": STR_OR_NULL,
            "raw": NUM_OR_NULL,
            "score": NUM_OR_NULL,
            "detail": nullable(
                {
                    "anyOf": [
                        obj(
                            {"from": STR, "from_type": STR, "to_type": STR, "probability": NUM},
                            description="structural: the rarest incoming transition",
                        ),
                        obj(
                            {"measure": STR, "value": NUM_OR_NULL, "score": NUM, "step": INT},
                            description="abnormal: the indicator that drove the score, its value and step",
                        ),
                        obj(
                            {
                                "alpha": NUM,
                                "verdict": STR,
                                "lambda_min": NUM,
                                "tail": INT,
                                "ks": NUM,
                                "sigma": NUM,
                                "eigenvalues": INT,
                                "lambda_max": NUM,
                                "matrix": STR,
                                "step": INT,
                            },
                            description="heavy_tail_alpha: the power-law fit of the kernel's spectrum at the step read",
                        ),
                        obj(
                            {"reason": STR, "matrix": STR, "step": INT},
                            optional=("matrix", "step"),
                            description="heavy_tail_alpha, attention_entropy: why the value is not computed",
                        ),
                        obj(
                            {"entropy": NUM, "per_head": array(NUM_OR_NULL), "lowest_head": INT, "step": INT},
                            description="attention_entropy: the lowest head's entropy and every head's",
                        ),
                    ]
                }
            ),
        }
    ),
    "LayerScore": obj(
        {"run": STR, "layer": STR, "layer_type": STR_OR_NULL, "score": NUM_OR_NULL, "top_unit": STR_OR_NULL}
    ),
    "InterestingnessAnswer": obj(
        {
            "measure": STR,
            "step": INT_OR_NULL,
            "steps": mapping(INT_OR_NULL, "run -> the step scored"),
            "normalisation": STR,
            "aggregation": STR,
            "units": array(ref("UnitScore")),
            "layers": array(ref("LayerScore")),
            "models": array(obj({"run": STR, "score": NUM_OR_NULL, "top_layer": STR_OR_NULL})),
            "experiments": array(obj({"experiment": STR, "score": NUM_OR_NULL, "top_run": STR_OR_NULL})),
        }
    ),
    # -- structures
    "UnitTypes": obj(
        {kind: _NAMES_BY_TYPE for kind in ("layer", "op", "variable", "activation")},
        description="kind -> type -> the layers (variables: unit ids) of that type.",
    ),
    "StructureFound": obj(
        {
            "kind": enum(*STRUCTURE_KINDS),
            "layers": STR_LIST,
            "namespace": STR,
            "from": STR,
            "to": STR,
            "skipped": STR_LIST,
            "fork": STR,
            "join": STR,
            "join_type": STR_OR_NULL,
            "branches": array(STR_LIST),
            "identity_branch": BOOL,
        },
        optional=["from", "to", "skipped", "fork", "join", "join_type", "branches", "identity_branch"],
        description="A skip connection (from, to, skipped) or multi-branch block (fork, join, branches).",
    ),
    "ModelStructureCounts": obj(
        {
            "structures": _KIND_COUNTS,
            "layer": _COUNT_BY_TYPE,
            "op": _COUNT_BY_TYPE,
            "variable": _COUNT_BY_TYPE,
            "activation": _COUNT_BY_TYPE,
        }
    ),
    "GroupStructureCounts": obj(
        {
            "structures": _KIND_COUNTS,
            "layer": _COUNT_BY_TYPE,
            "op": _COUNT_BY_TYPE,
            "variable": _COUNT_BY_TYPE,
            "activation": _COUNT_BY_TYPE,
            "models": INT,
            "models_with": _KIND_COUNTS,
        }
    ),
    "StructureCounts": obj(
        {
            "structures": _KIND_COUNTS,
            "layer": _COUNT_BY_TYPE,
            "op": _COUNT_BY_TYPE,
            "variable": _COUNT_BY_TYPE,
            "activation": _COUNT_BY_TYPE,
            "by_namespace": mapping(_KIND_COUNTS, "namespace -> structures in it"),
        }
    ),
    "StructuresOfRun": obj(
        {"unit_types": ref("UnitTypes"), "structures": array(ref("StructureFound")), "counts": ref("StructureCounts")}
    ),
    "StructuresAnswer": obj(
        {
            "run": STR,
            "unit_types": ref("UnitTypes"),
            "structures": array(ref("StructureFound")),
            "counts": ref("StructureCounts"),
            "runs": mapping(ref("StructuresOfRun")),
            "propagated": obj(
                {
                    "models": mapping(ref("ModelStructureCounts")),
                    "experiments": mapping(ref("GroupStructureCounts")),
                    "total": ref("GroupStructureCounts"),
                }
            ),
        },
        optional=["run", "unit_types", "structures", "counts", "runs"],
        description="With `run`: that run's unit types, structures and counts; without: `runs`, every run's.",
    ),
    # -- lint
    "LintFinding": obj(
        {
            "rule": STR,
            "severity": enum("error", "warning", "info"),
            "message": STR,
            "unit": STR,
            "layer": STR_OR_NULL,
            "step": INT_OR_NULL,
        }
    ),
    "ImageSeries": obj(
        {
            "tag": STR,
            "series_run": {"type": "string", "description": "The TensorBoard run of the model holding the tag."},
            "steps": array(INT, description="The steps TensorBoard kept of the tag (at most 1000, the newest)."),
            "samples": {"type": "integer", "description": "The most images one step of the tag holds."},
        }
    ),
    "ImagesAnswer": obj({"run": STR, "images": array(ref("ImageSeries"))}),
    "VocabularyAnswer": obj(
        {"run": STR, "tokens": STR_LIST},
        description="The string of each token id of the run's probe vocabulary, in id order.",
    ),
    "GradientsAnswer": obj(
        {
            "run": STR,
            "steps": INT_LIST,
            "fields": STR_LIST,
            "variables": array(
                obj(
                    {
                        "unit": STR,
                        "layer": STR,
                        "variable": STR,
                        "values": mapping(array(NUM_OR_NULL), "field -> one value per step (null: not logged)"),
                    }
                )
            ),
        }
    ),
    "LintRule": obj({"id": STR, "kind": enum("activations", "architecture", "data", "training"), "description": STR}),
    "LintAnswer": obj({"run": STR, "findings": array(ref("LintFinding")), "rules": array(ref("LintRule"))}),
    "LintAllAnswer": obj(
        {
            "models": array(obj({"run": STR, "findings": array(ref("LintFinding")), "error": STR_OR_NULL})),
            "rules": array(ref("LintRule")),
        }
    ),
    # -- metrics
    "Classification": obj(
        {
            "classes": INT_LIST,
            "matrix": array(INT_LIST),
            "per_class": array(obj({"class": INT, "support": INT, "precision": NUM_OR_NULL, "recall": NUM_OR_NULL})),
            "accuracy": NUM_OR_NULL,
        },
        description="The confusion matrix of the logged predictions on the probe (rows: true class).",
    ),
    "RunMetrics": obj(
        {
            "series": mapping(array(pair(INT, NUM_OR_NULL)), "metric -> [step, value] points (value null for NaN/Inf)"),
            "classification": mapping(ref("Classification"), "step -> its confusion matrix"),
        }
    ),
    "MetricsAnswer": obj({"runs": mapping(ref("RunMetrics"))}),
    # -- feature visualisations
    "VisualisationResult": obj(
        {"activation": NUM, "percentile": NUM, "class_rank": INT, "class_probability": NUM},
        description="One image's unit value (a class visualisation: the class score), its percentile among "
        "the probe's values, the class's rank (1: top) and probability.",
    ),
    "VisualisationItem": obj(
        {
            "layer": STR_OR_NULL,
            "unit": INT_OR_NULL,
            "class": INT,
            "source": enum("user", "mistakes", "class"),
            "images": array(ANY, description="One image per result, of the input's shape."),
            "results": array(ref("VisualisationResult")),
        }
    ),
    "FeatureVisualisationsAnswer": obj(
        {
            "run": STR,
            "step": INT,
            "steps": INT_LIST,
            "input_shape": INT_LIST,
            "value_range": nullable(array(NUM)),
            "score": STR,
            "options": OPEN,
            "notes": STR_LIST,
            "items": array(ref("VisualisationItem")),
        }
    ),
    # -- mistake neurons
    "MistakeNeuron": obj(
        {
            "index": INT,
            "direction": enum("increase", "decrease"),
            "votes": INT,
            "share": NUM,
            "mean_edit": NUM,
            "importance_ratio": NUM_OR_NULL,
        }
    ),
    "MistakesAnswer": obj(
        {
            "run": STR,
            "step": INT,
            "decision_layer": STR,
            "feature_layer": STR,
            "class": INT_OR_NULL,
            "features": INT,
            "classes": INT,
            "samples": INT,
            "mistakes": INT,
            "solved": INT,
            "mistake_samples": INT_LIST,
            "neurons": array(ref("MistakeNeuron")),
            "importance": array(obj({"index": INT, "ratio": NUM_OR_NULL})),
            "note": STR_OR_NULL,
            "parameters": obj(
                {
                    "alpha": NUM,
                    "beta": NUM,
                    "max_iterations": INT,
                    "top_per_direction": INT,
                    "min_share": NUM,
                    "solver": STR,
                    "importance_on": STR,
                }
            ),
        }
    ),
    # -- JSON tools: a tool's structure comes from tool_declaration.schema.json (tool_schema.py)
    **tool_schema.answer_components(),
    "ToolError": obj({"source": STR, "path": STR, "error": STR}),
    "ToolsAnswer": obj({"tools": array(ref("Tool")), "errors": array(ref("ToolError"))}),
}
