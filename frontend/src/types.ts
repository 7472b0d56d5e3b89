// Shapes of the backend's answers (docs/backend.md; openapi.json is the source of truth).

export type Shape = (number | null)[];

export interface ParamCounts {
  trainable: number;
  non_trainable: number;
  total?: number;
}

export interface Model {
  run: string;
  id: string | null;
  name: string;
  label: string;
  parents: string[];
  hparams: Record<string, unknown>;
  steps: number[];
  params: ParamCounts | null;
  runtime: Record<string, unknown> | null;
  layer_count: number | null;
  classes: string[];
  /** Layer types and trainable parameters in order (sampled to 48): the box's abstract architecture. */
  glyph: { type: string; params: number }[];
  latest_metrics: Record<string, { step: number; value: number | null }>;
  errors: string[];
}

export interface ModelsAnswer {
  models: Model[];
}

export interface TreeNode {
  id: string;
  model_id: string;
  run: string;
  name: string;
  label: string;
  depth: number;
  experiment: string;
  parents: string[];
  in_cycle: boolean;
  duplicate_of: string | null;
}

export interface LayerChange {
  layer: string;
  fields: Record<string, [unknown, unknown]>;
}

export interface TreeEdge {
  from: string;
  to: string;
  param_change: number | null;
  diff: { added: string[]; removed: string[]; changed: LayerChange[] } | null;
  broken: boolean;
}

export interface Experiment {
  id: string;
  name: string;
  models: string[];
  runs: string[];
  roots: string[];
  missing_parents: string[];
}

export interface TreeAnswer {
  experiments: Experiment[];
  nodes: TreeNode[];
  edges: TreeEdge[];
  /** Parents named in a header but absent from the logdir. */
  missing_parents: { child: string; parent: string }[];
  cycles: string[][];
  notes?: string[];
}

export interface InnerNode {
  id: string;
  kind: "input" | "output" | "op" | "variable";
  label: string;
  op?: string;
  activation?: string;
  variable?: string;
  shape?: Shape;
}

export interface Layer {
  id: string;
  name: string;
  type: string;
  module: string;
  namespace: string;
  custom: boolean;
  is_input?: boolean;
  calls: number;
  config: Record<string, unknown>;
  input_shapes: Shape[];
  output_shapes: Shape[];
  params: ParamCounts;
  variables: { name: string; shape: Shape; trainable?: boolean; dtype?: string }[] | unknown[];
  inner: { nodes: InnerNode[]; edges: [string, string][] };
}

export interface ArchitectureEdge {
  from: string;
  to: string;
  from_output: number;
  to_input: number;
  call: number;
  shape: Shape | null;
}

export interface Namespace {
  id: string;
  name?: string;
  parent?: string | null;
  type?: string;
  [key: string]: unknown;
}

export interface Architecture {
  format_version: number;
  layers: Layer[];
  edges: ArchitectureEdge[];
  inputs: string[];
  outputs: { layer: string; output_index: number }[];
  namespaces: Namespace[];
  model: { class: string; functional: boolean; name: string; notes: string[] };
  params: ParamCounts;
}

export interface GraphAnswer {
  run: string;
  architecture: Architecture;
}

export interface NeuronEntry {
  index: number;
  mean: number | null;
  share: number | null;
}

export interface NeuronsAnswer {
  run: string;
  step: number;
  layer: { units: number; neurons: NeuronEntry[] };
  previous_layer: string | null;
  previous: { units: number; neurons: NeuronEntry[] } | null;
  classes: string[];
  selected_classes: string[];
  k: number;
  weights: { from: number; to: number; value: number; magnitude: number }[];
  neurons_by_classes: { classes: string[]; matrix: (number | null)[][] };
  class_maps: Record<string, Record<string, (number | null)[][]>> | null;
}

export interface Measure {
  id: string;
  name: string;
  description: string;
  level: string;
  higher_is: string;
  normalisation: string;
}

export interface InterestingnessAnswer {
  measure: string;
  step: number | string;
  units: { run: string; unit: string; layer: string; unit_type: string; score: number | null; raw: number | null }[];
  layers: { run: string; layer: string; layer_type: string; score: number | null; top_unit: string | null }[];
  models: { run: string; score: number | null; top_layer: string | null }[];
  experiments: { experiment: string; score: number | null; top_run: string | null }[];
}

export interface StructureFound {
  kind: "skip_connection" | "multi_branch" | string;
  layers: string[];
  namespace: string;
  from?: string;
  to?: string;
}

export type UnitTypeCategory = "layer" | "op" | "variable" | "activation";

export interface StructuresAnswer {
  run?: string;
  unit_types?: Record<UnitTypeCategory, Record<string, string[]>>;
  structures?: StructureFound[];
  counts?: Record<string, Record<string, number>>;
  propagated: {
    models: Record<string, Record<string, Record<string, number>>>;
    experiments?: Record<string, Record<string, Record<string, number>>>;
    total: Record<string, unknown>;
  };
}

export interface LintFinding {
  rule: string;
  severity: "error" | "warning" | "info" | string;
  message: string;
  unit: string;
  layer: string | null;
  step: number | null;
}

export interface LintAnswer {
  run: string;
  findings: LintFinding[];
  rules: { id: string; kind: string; description: string }[];
}

export interface LintAllAnswer {
  models: { run: string; findings: LintFinding[]; error: string | null }[];
  rules: LintAnswer["rules"];
}

export interface MetricsAnswer {
  runs: Record<
    string,
    {
      /** metric name -> [step, value] points (value null for NaN/Inf). */
      series: Record<string, [number, number | null][]>;
      /** step -> the confusion matrix of the logged predictions on the probe. */
      classification: Record<
        string,
        {
          classes: number[];
          matrix: number[][];
          per_class: { class: number; support: number; precision: number | null; recall: number | null }[];
          accuracy: number | null;
        }
      >;
      error?: string;
    }
  >;
}

/** A body of the `data` route (docs/backend.md). */
export interface DataRequest {
  run: string;
  unit:
    | { kind: "weights"; layer: string; variable: string }
    | { kind: "activations"; layer: string; output?: number }
    | { kind: "class_means"; layer: string }
    | { kind: "samples" | "labels" }
    | { kind: "predictions"; output?: number }
    | { kind: "statistics" | "histogram"; unit: string }
    | { kind: "attributions"; method: string; target?: "predicted" | "true" };
  steps?: number | "last" | "all" | number[];
  classes?: (string | number)[];
  transform?: Record<string, unknown>[];
}

/** An array column of a `data` answer; NaN and ±Inf are null. */
export interface DataArray {
  shape: number[];
  dtype: string;
  data: unknown;
}

export interface DataAnswer {
  run: string;
  steps: number | number[];
  classes?: unknown;
  /** column -> an array, or an op's own object (histogram, kde, topk, pca, group_by_class). */
  result: Record<string, DataArray | Record<string, unknown>>;
  [key: string]: unknown;
}

/** The `mistakes` route: NeuroInspect's neurons responsible for a classifier's mistakes. */
export interface MistakesAnswer {
  run: string;
  step: number;
  decision_layer: string;
  feature_layer: string;
  class: number | null;
  samples: number;
  mistakes: number;
  solved: number;
  mistake_samples: number[];
  neurons: { index: number; direction: "increase" | "decrease"; votes: number; share: number; importance_ratio: number | null }[];
  importance: { index: number; ratio: number | null }[];
  note: string | null;
  parameters: Record<string, unknown>;
}
