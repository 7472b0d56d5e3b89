// Feature Distribution: the density of each dimension of a layer's activations over the probe samples of
// the selected classes (a KDE per dimension on the server, at most 16 dimensions), e.g. a VAE's latent
// z_mean. Merged widgets overlay several models per dimension.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, opResult } from "./shared/answers";
import { layerOutput } from "./shared/architecture";
import { classesCaption } from "./shared/classes";
import { oneStepControl, withControls } from "./shared/controls";
import { mergedNotes, reductionOf, storedShape, withNotes } from "./shared/reduced";
import { colorOf, seriesColorScale, seriesOf } from "./shared/seriesColors";
import { CHART_CONFIG, extentOf, scaleWith } from "./shared/spec";
import { singleStep } from "./shared/steps";
import { appliesToActivations } from "./shared/unitPredicates";

export const MAX_DIMS = 16;
export const KDE_POINTS = 100;

/** The number of features per sample of a layer's output (its shape without the batch), or null. */
export function featureCount(shape: (number | null)[] | null): number | null {
  if (!shape || shape.length < 2) return null;
  const dims = shape.slice(1);
  if (dims.some((d) => typeof d !== "number")) return null;
  return (dims as number[]).reduce((a, b) => a * b, 1);
}

export function featureDistributionRequest(run: string, layer: string, features: number | null, options: WidgetOptions, classes: string[] | null): DataRequest {
  const transform: Record<string, unknown>[] = [{ op: "flatten", start_axis: 1 }];
  if (features === null || features > MAX_DIMS) transform.push({ op: "slice", axis: 1, start: 0, stop: MAX_DIMS });
  const kde: Record<string, unknown> = { op: "kde", points: KDE_POINTS };
  if (options.xDomain) kde.range = [...options.xDomain];
  transform.push(kde);
  const request: DataRequest = { run, unit: { kind: "activations", layer }, steps: singleStep(options), transform };
  if (classes) request.classes = classes;
  return request;
}

interface KdeColumn {
  x?: number[];
  density?: (number | null)[];
  bandwidth?: number;
  samples?: number;
  column: number;
  note?: string;
}

export interface FeatureInputs {
  run: string;
  color: string;
  /** Features per sample (caption: "the first 16 of N"). */
  features: number | null;
  classes?: string[] | null;
}

function densitySpec(options: WidgetOptions, dims: number): TopLevelSpec {
  const scheme = dims > 10 ? "tableau20" : "tableau10";
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 280,
    height: 180,
    data: { name: "table" },
    mark: { type: "line", strokeWidth: 1.5, clip: true },
    encoding: {
      x: { field: "x", type: "quantitative", title: "activation", scale: scaleWith(options.xDomain, { zero: false }) },
      y: { field: "density", type: "quantitative", title: "density", scale: scaleWith(options.yDomain) },
      color: { field: "dim", type: "nominal", title: "dim", scale: { scheme }, legend: { orient: "right", columns: dims > 8 ? 2 : 1, columnPadding: 4 } },
      tooltip: [
        { field: "model", type: "nominal" },
        { field: "dimLabel", type: "nominal", title: "dimension" },
        { field: "x", type: "quantitative", format: ".4g" },
        { field: "density", type: "quantitative", format: ".4g" },
      ],
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

function mergedSpec(dims: number, colors: { domain: string[]; range: string[] }, options: WidgetOptions): TopLevelSpec {
  const few = dims <= 2;
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    facet: { field: "dimLabel", type: "nominal", title: null, sort: { field: "dim", op: "min" } },
    columns: few ? 2 : 4,
    spec: {
      width: few ? 150 : 75,
      height: few ? 150 : 70,
      mark: { type: "line", strokeWidth: 1.5, clip: true },
      encoding: {
        x: { field: "x", type: "quantitative", title: "activation", scale: scaleWith(options.xDomain, { zero: false }) },
        y: { field: "density", type: "quantitative", title: "density", scale: scaleWith(options.yDomain) },
        color: { field: "model", type: "nominal", title: null, scale: colors, legend: { orient: "top", direction: "horizontal" } },
        tooltip: [
          { field: "model", type: "nominal" },
          { field: "dimLabel", type: "nominal", title: "dimension" },
          { field: "x", type: "quantitative", format: ".4g" },
          { field: "density", type: "quantitative", format: ".4g" },
        ],
      },
    },
    resolve: { scale: { x: options.xDomain ? "shared" : "independent", y: "shared" } },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

/** KDE columns to rows {model, run, dim, dimLabel, x, density}: one curve per dimension. */
export function featureDistributionContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: FeatureInputs): WidgetContent {
  const kde = opResult<{ columns: KdeColumn[] }>(answer);
  if (!Array.isArray(kde.columns)) throw new Error("the answer has no densities");
  const rows: Record<string, unknown>[] = [];
  const constant: number[] = [];
  let samples = 0;
  for (const col of kde.columns) {
    if (!col.x || !col.density) {
      constant.push(col.column);
      continue;
    }
    samples = Math.max(samples, col.samples ?? 0);
    col.x.forEach((x, i) => rows.push({ model: inputs.run, run: inputs.run, color: inputs.color, dim: col.column, dimLabel: `dim ${col.column}`, x, density: col.density![i] }));
  }
  const dims = kde.columns.length;
  const x = extentOf(rows.map((r) => r.x));
  const yMax = extentOf(rows.map((r) => r.density));
  const steps = answerSteps(answer);
  const shown = inputs.features !== null && inputs.features > dims ? `the first ${dims} of ${inputs.features} dimensions` : `${dims} dimension${dims === 1 ? "" : "s"}`;
  const constantNote = constant.length ? `; constant (no density): dim ${constant.join(", ")}` : "";
  return {
    spec: densitySpec(options, dims),
    rows,
    seriesField: "model",
    extents: { ...(x ? { x } : {}), ...(yMax ? { y: [0, yMax[1]] as [number, number] } : {}) },
    caption: `step ${steps[steps.length - 1]}: density of ${shown} over ${samples} samples (${classesCaption(inputs.classes)})${constantNote}`,
  };
}

/** Several models' (or layers') feature densities: one panel per dimension, a curve per model. */
export function mergeFeatureDistributions(parts: { unit: UnitRef; content: WidgetContent }[]): WidgetContent {
  const sameLayer = parts.every((p) => p.unit.layer === parts[0].unit.layer);
  const labels = parts.map((p) => (sameLayer ? p.unit.runs[0] : `${p.unit.runs[0]} / ${p.unit.layer}`));
  const unique = labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l} #${i + 1}`));
  const rows: Record<string, unknown>[] = parts.flatMap((p, i) => p.content.rows.map((r) => ({ ...r, model: unique[i] })));
  const dims = new Set(rows.map((r) => r.dim)).size;
  const x = extentOf(parts.flatMap((p) => p.content.extents?.x ?? []));
  const y = extentOf(parts.flatMap((p) => p.content.extents?.y ?? []));
  return {
    spec: mergedSpec(dims, seriesColorScale(seriesOf(rows, "model")), {}),
    rows,
    seriesField: "model",
    extents: { ...(x ? { x } : {}), ...(y ? { y } : {}) },
    caption: `feature densities of ${unique.join(", ")}, one panel per dimension`,
    notes: mergedNotes(parts),
  };
}

export const featureDistributionTool: Tool = {
  id: "feature-distribution",
  name: "Feature Distribution",
  category: "Activations",
  description: "Density of each dimension of a layer's activations (e.g. a VAE's latent space) over the probe samples of the selected classes.",
  icon: "M2 20h20v-1.5H2zM3 18C6 18 7 6 10 6S13 18 16 18M9 18c2 0 4-9 7-9s4 9 6 9",
  classDependent: true,
  appliesTo(unit, ctx) {
    return appliesToActivations(unit, ctx);
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    const { layer, shape } = await layerOutput(unit, ctx);
    // A layer kept pooled (reduced data) has one value per unit and sample: its units are the features.
    const features = featureCount(storedShape(shape, reductionOf(ctx, run, layer)));
    const answer = await ctx.api.data(featureDistributionRequest(run, layer, features, options, ctx.classes));
    const content = featureDistributionContent(answer, unit, options, { run, color: colorOf(ctx, run), features, classes: ctx.classes });
    return withControls(withNotes(content, answer), oneStepControl(ctx, run, options, host));
  },
  merge: mergeFeatureDistributions,
};
