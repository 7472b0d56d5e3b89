// Tools declared in JSON (served by the `tools` route): a data request template, how its answer
// becomes rows, and a Vega-Lite spec. Nothing in a declaration is executed: the unit is
// substituted into whole-string placeholders, the spec is rendered with Vega's interpreter.

import type { DataAnswer, DataArray, DataRequest } from "../types";
import { hasSampleVectors, reductionOf, withNotes } from "./tools/shared/reduced";
import type { Tool, ToolContext, UnitKind, UnitRef, WidgetContent } from "./types";

export interface JsonToolDeclaration {
  format: 1;
  id: string;
  name: string;
  category?: string;
  description: string;
  icon: string;
  applies_to: UnitKind[];
  class_dependent: boolean;
  data: { unit: Record<string, unknown>; steps?: unknown; classes?: (string | number)[]; transform?: unknown[] }; // operations: checked by the grammar
  rows: { column: string; as: "vector" | "matrix" | "histogram" };
  spec: Record<string, unknown>;
  source?: string;
  path?: string;
}

const PLACEHOLDERS: Record<string, (unit: UnitRef) => string | number | undefined> = {
  "{run}": (u) => u.runs[0],
  "{layer}": (u) => u.layer,
  "{variable}": (u) => u.variable,
  "{neuron}": (u) => u.neuron,
};

/** The data request for a unit: whole-string placeholders replaced; a missing value is an error. Pure. */
export function instantiate(template: JsonToolDeclaration["data"], unit: UnitRef, classes: string[] | null): DataRequest {
  const fill = (value: unknown): unknown => {
    if (typeof value === "string" && value in PLACEHOLDERS) {
      const filled = PLACEHOLDERS[value](unit);
      if (filled === undefined) throw new Error(`the unit ${unit.label} has no ${value.slice(1, -1)}`);
      return filled;
    }
    if (Array.isArray(value)) return value.map(fill);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]));
    return value;
  };
  const request = {
    run: unit.runs[0],
    unit: fill(template.unit),
    ...(template.steps !== undefined ? { steps: template.steps } : {}),
    ...(template.transform ? { transform: template.transform } : {}),
    // The class selection of a class-dependent tool, else the classes the declaration fixes.
    ...(classes ? { classes } : template.classes ? { classes: template.classes } : {}),
  };
  return request as DataRequest;
}

function isArrayColumn(value: unknown): value is DataArray {
  return !!value && typeof value === "object" && "shape" in value && "data" in value;
}

/** The rows of an answer's column, as the declaration says. Pure. */
export function answerRows(answer: DataAnswer, rows: JsonToolDeclaration["rows"]): Record<string, unknown>[] {
  const column = answer.result[rows.column];
  if (column === undefined) throw new Error(`the answer has no column '${rows.column}' (it has ${Object.keys(answer.result).join(", ")})`);
  if (rows.as === "histogram") {
    const h = column as { edges?: number[]; counts?: number[] };
    if (!Array.isArray(h.edges) || !Array.isArray(h.counts)) throw new Error(`column '${rows.column}' is not a histogram`);
    return h.counts.map((count, i) => ({ start: h.edges![i], end: h.edges![i + 1], count }));
  }
  if (!isArrayColumn(column)) throw new Error(`column '${rows.column}' is not an array`);
  if (rows.as === "vector") {
    if (column.shape.length !== 1) throw new Error(`column '${rows.column}' has shape [${column.shape}], not a vector`);
    return (column.data as unknown[]).map((value, index) => ({ index, value }));
  }
  if (column.shape.length !== 2) throw new Error(`column '${rows.column}' has shape [${column.shape}], not a matrix`);
  return (column.data as unknown[][]).flatMap((line, row) => line.map((value, col) => ({ row, col, value })));
}

export function jsonTool(declaration: JsonToolDeclaration): Tool {
  const kinds = new Set(declaration.applies_to);
  return {
    id: `json:${declaration.id}`,
    name: declaration.name,
    category: declaration.category ?? "Custom",
    description: `${declaration.description} (declared in ${declaration.path ?? "JSON"})`,
    icon: declaration.icon,
    classDependent: declaration.class_dependent,
    // A layer whose logging plan keeps only statistics (reduced data) has no activations to read.
    appliesTo: (unit: UnitRef, ctx: ToolContext) =>
      kinds.has(unit.kind) &&
      unit.runs.length === 1 &&
      !(declaration.data.unit.kind === "activations" && unit.kind !== "variable" && !hasSampleVectors(reductionOf(ctx, unit.runs[0], unit.layer))),
    async load(unit, ctx): Promise<WidgetContent> {
      const request = instantiate(declaration.data, unit, declaration.class_dependent ? ctx.classes : null);
      const answer = await ctx.api.data(request);
      const rows = answerRows(answer, declaration.rows);
      return withNotes({ spec: declaration.spec as unknown as WidgetContent["spec"], rows, caption: `${rows.length} rows` }, answer);
    },
  };
}
