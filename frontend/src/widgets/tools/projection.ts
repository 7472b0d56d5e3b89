// Projection: the probe samples of the selected classes in the first two principal components of a
// layer's activations (PCA on the server), coloured by class; a sample hovered here is highlighted in every
// widget.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest, Shape } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column, opResult } from "./shared/answers";
import { layerOutput } from "./shared/architecture";
import { classesCaption, classNamesOf, keptSamples } from "./shared/classes";
import { oneStepControl, withControls } from "./shared/controls";
import { reductionOf, storedShape, subsetRows, withNotes } from "./shared/reduced";
import { CHART_CONFIG, extentOf, scaleWith } from "./shared/spec";
import { singleStep } from "./shared/steps";
import { appliesToActivations } from "./shared/unitPredicates";

/** The route's limit on PCA features. */
export const PCA_MAX_FEATURES = 10_000;

/** Ops turning a layer output into [samples, features] within the PCA limit, and what they did. */
export function projectionReduce(shape: (number | null)[] | null): { ops: Record<string, unknown>[]; note: string } {
  const dims = shape ? shape.slice(1) : null;
  const known = dims && dims.every((d) => typeof d === "number") ? (dims as number[]) : null;
  const features = known ? known.reduce((a, b) => a * b, 1) : null;
  if (known && known.length === 3 && features! > PCA_MAX_FEATURES) {
    return { ops: [{ op: "mean", axis: [1, 2] }], note: `features: the ${known[2]} channels averaged over ${known[0]}×${known[1]} positions` };
  }
  const ops: Record<string, unknown>[] = [];
  if (!known || known.length > 1) ops.push({ op: "flatten", start_axis: 1 });
  if (features === null || features > PCA_MAX_FEATURES) {
    ops.push({ op: "slice", axis: 1, start: 0, stop: PCA_MAX_FEATURES });
    return { ops, note: features === null ? `at most the first ${PCA_MAX_FEATURES} features` : `the first ${PCA_MAX_FEATURES} of ${features} features` };
  }
  return { ops, note: `${features} features` };
}

export function projectionRequests(run: string, layer: string, shape: (number | null)[] | null, options: WidgetOptions, classes: string[] | null): { pca: DataRequest; labels: DataRequest } {
  const steps = singleStep(options);
  const pca: DataRequest = { run, unit: { kind: "activations", layer }, steps, transform: [...projectionReduce(shape).ops, { op: "pca", components: 2 }] };
  if (classes) pca.classes = classes;
  return { pca, labels: { run, unit: { kind: "labels" }, steps } };
}

/** Two features per sample at least (a single unknown dimension may be anything). */
function hasTwoFeatures(shape: Shape): boolean {
  if (shape.length < 2) return false;
  const dims = shape.slice(1);
  return dims.some((d) => d === null) || (dims as number[]).reduce((a, b) => a * b, 1) >= 2;
}

interface PcaResult {
  coordinates: { shape: number[]; data: (number | null)[][] };
  explained_variance_ratio?: number[];
  samples_used?: number;
}

export interface ProjectionInputs {
  run: string;
  /** Every probe label, in probe order (the `labels` answer without a class selection). */
  allLabels: number[];
  classNames: string[];
  classes?: string[] | null;
  /** What was projected ("64 features"). */
  note?: string;
}

function pct(v: number | undefined): string {
  return typeof v === "number" ? ` (${(v * 100).toFixed(1)} %)` : "";
}

function pointsSpec(options: WidgetOptions, classNames: string[], ratios: number[] | undefined): TopLevelSpec {
  const selected = "datum.sample === highlight";
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 280,
    height: 200,
    data: { name: "table" },
    params: [{ name: "highlight", value: null }],
    mark: { type: "point", filled: true, clip: true },
    encoding: {
      x: { field: "pc1", type: "quantitative", title: `PC 1${pct(ratios?.[0])}`, scale: scaleWith(options.xDomain, { zero: false }), axis: { format: "~g" } },
      y: { field: "pc2", type: "quantitative", title: `PC 2${pct(ratios?.[1])}`, scale: scaleWith(options.yDomain, { zero: false }), axis: { format: "~g" } },
      color: { field: "class", type: "nominal", title: "class", scale: { domain: classNames, scheme: classNames.length > 10 ? "tableau20" : "tableau10" } },
      size: { condition: { test: selected, value: 130 }, value: 30 },
      opacity: { condition: { test: `highlight == null || ${selected}`, value: 0.9 }, value: 0.3 },
      stroke: { condition: { test: selected, value: "#000000" }, value: null },
      tooltip: [
        { field: "sample", type: "quantitative" },
        { field: "class", type: "nominal" },
        { field: "pc1", type: "quantitative", format: ".3g" },
        { field: "pc2", type: "quantitative", format: ".3g" },
      ],
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

/** PCA coordinates to rows {sample, label, class, pc1, pc2, run}; samples are probe indices. */
export function projectionContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: ProjectionInputs): WidgetContent {
  const pca = opResult<PcaResult>(answer);
  const coords = pca.coordinates?.data;
  if (!Array.isArray(coords)) throw new Error("the answer has no PCA coordinates");
  const labels = column(answer, "label").data as number[];
  // The sample subset of a reduced layer names its probe rows; otherwise rows follow the probe's order.
  const samples = subsetRows(answer) ?? keptSamples(inputs.allLabels, labels);
  if (labels.length !== coords.length) throw new Error(`${coords.length} projected samples for ${labels.length} labels`);
  const rows = coords.map(([pc1, pc2], i) => ({
    sample: samples[i],
    label: labels[i],
    class: inputs.classNames[labels[i]] ?? String(labels[i]),
    pc1,
    pc2: pc2 ?? 0,
    run: inputs.run,
  }));
  const x = extentOf(rows.map((r) => r.pc1));
  const y = extentOf(rows.map((r) => r.pc2));
  const steps = answerSteps(answer);
  const ratios = pca.explained_variance_ratio;
  const explained = ratios ? `, ${((ratios[0] + (ratios[1] ?? 0)) * 100).toFixed(1)} % of the variance` : "";
  return {
    spec: pointsSpec(options, inputs.classNames, ratios),
    rows,
    sampleField: "sample",
    extents: { ...(x ? { x } : {}), ...(y ? { y } : {}) },
    caption: `step ${steps[steps.length - 1]}: PCA of ${rows.length} samples (${classesCaption(inputs.classes)})${explained}${inputs.note ? `; ${inputs.note}` : ""}`,
  };
}

export const projectionTool: Tool = {
  id: "projection",
  name: "Projection",
  category: "Activations",
  description: "The probe samples in the first two principal components of a layer's activations, coloured by class.",
  icon: "M3 21V3h1.5v16.5H21V21zM8 15a1.5 1.5 0 1 0 0.01 0M11 11a1.5 1.5 0 1 0 0.01 0M15 13a1.5 1.5 0 1 0 0.01 0M17 7a1.5 1.5 0 1 0 0.01 0M12 6a1.5 1.5 0 1 0 0.01 0",
  classDependent: true,
  appliesTo(unit, ctx) {
    return appliesToActivations(unit, ctx, hasTwoFeatures);
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    const { layer, shape: output } = await layerOutput(unit, ctx);
    // A layer kept pooled (reduced data): one vector of units per sample, projected as it is.
    const shape = storedShape(output, reductionOf(ctx, run, layer));
    const requests = projectionRequests(run, layer, shape, options, ctx.classes);
    const [answer, labels] = await Promise.all([ctx.api.data(requests.pca), ctx.api.data(requests.labels)]);
    const content = projectionContent(answer, unit, options, {
      run,
      allLabels: column(labels).data as number[],
      classNames: classNamesOf(ctx, run),
      classes: ctx.classes,
      note: projectionReduce(shape).note,
    });
    return withControls(withNotes(content, answer), oneStepControl(ctx, run, options, host));
  },
};
