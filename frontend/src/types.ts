// Shapes of the backend's answers: the schemas of the plugin's OpenAPI document, the one source of
// truth (innspector_tb/server/openapi_schemas.py -> frontend/openapi.json -> api.gen.ts, `make types`).
// Change a shape there, never here; these names only alias the generated ones.

import type { components } from "./api.gen";

type Schemas = components["schemas"];

export type ErrorAnswer = Schemas["ErrorAnswer"];

export type Shape = Schemas["Shape"];
export type ParamCounts = Schemas["ParamCounts"];
export type RuntimeStats = Schemas["RuntimeStats"];
export type LatestMetric = Schemas["LatestMetric"];
export type Model = Schemas["Model"];
export type PlanSummary = Schemas["PlanSummary"];
export type ReducedLayer = Schemas["ReducedLayer"];
export type ModelsAnswer = Schemas["ModelsAnswer"];

export type TreeNode = Schemas["TreeNode"];
export type LayerChange = Schemas["LayerChange"];
export type TreeEdge = Schemas["TreeEdge"];
export type Experiment = Schemas["Experiment"];
export type TreeAnswer = Schemas["TreeAnswer"];

export type InnerNode = Schemas["InnerNode"];
export type Layer = Schemas["Layer"];
export type ArchitectureEdge = Schemas["ArchitectureEdge"];
export type Namespace = Schemas["Namespace"];
export type Architecture = Schemas["Architecture"];
export type GraphAnswer = Schemas["GraphAnswer"];

export type NeuronEntry = Schemas["NeuronEntry"];
export type NeuronsAnswer = Schemas["NeuronsAnswer"];

export type Measure = Schemas["Measure"];
export type MeasuresAnswer = Schemas["MeasuresAnswer"];
export type InterestingnessAnswer = Schemas["InterestingnessAnswer"];

export type StructureFound = Schemas["StructureFound"];
export type UnitTypeCategory = keyof Schemas["UnitTypes"];
export type StructuresAnswer = Schemas["StructuresAnswer"];

export type LintFinding = Schemas["LintFinding"];
export type LintAnswer = Schemas["LintAnswer"];
export type GradientsAnswer = Schemas["GradientsAnswer"];
export type VocabularyAnswer = Schemas["VocabularyAnswer"];
export type ImagesAnswer = Schemas["ImagesAnswer"];
export type ImageSeries = Schemas["ImageSeries"];
export type LintAllAnswer = Schemas["LintAllAnswer"];

export type MetricsAnswer = Schemas["MetricsAnswer"];

/** A body of the `data` route (docs/backend.md). */
export type DataRequest = Schemas["DataRequest"];
/** An array column of a `data` answer; NaN and ±Inf are null. */
export type DataArray = Schemas["DataArray"];
export type DataAnswer = Schemas["DataAnswer"];
export type ReducedAnswer = Schemas["ReducedAnswer"];

/** The `mistakes` route: NeuroInspect's neurons responsible for a classifier's mistakes. */
export type MistakesAnswer = Schemas["MistakesAnswer"];

/** The `feature_visualisations` route: inputs optimised at logging time to raise a unit and a class. */
export type FeatureVisualisationsAnswer = Schemas["FeatureVisualisationsAnswer"];
export type VisualisationItem = Schemas["VisualisationItem"];

export type ToolsAnswer = Schemas["ToolsAnswer"];
