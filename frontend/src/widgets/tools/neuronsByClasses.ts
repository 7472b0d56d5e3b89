// Neurons × Classes: the mean activation of each neuron (a channel, for image-shaped outputs) for each
// selected class, from the per-class mean activations logged with every step. Above 64 neurons, the 64
// that vary most across the selected classes are picked on the server.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column, opResult } from "./shared/answers";
import { layerOutput } from "./shared/architecture";
import { classesCaption, classNamesOf } from "./shared/classes";
import { oneStepControl, withControls } from "./shared/controls";
import { hasClassMaps, reductionOf, storedShape, withNotes } from "./shared/reduced";
import { CHART_CONFIG, divergingScale, maxAbs } from "./shared/spec";
import { singleStep } from "./shared/steps";
import { appliesToActivations } from "./shared/unitPredicates";

export const MAX_NEURONS = 64;

/** Ops reducing the class means [classes, ..., units] to [classes, units], the number of units, and a note. */
export function neuronReduce(shape: (number | null)[] | null): { ops: Record<string, unknown>[]; units: number | null; note: string } {
  const dims = shape ? shape.slice(1) : [];
  const units = typeof dims[dims.length - 1] === "number" ? (dims[dims.length - 1] as number) : null;
  if (dims.length === 3) return { ops: [{ op: "mean", axis: [1, 2] }], units, note: "channels averaged over positions" };
  if (dims.length === 2) return { ops: [{ op: "mean", axis: 1 }], units, note: "channels averaged over positions" };
  if (dims.length === 1) return { ops: [], units, note: "" };
  const all = dims.every((d) => typeof d === "number") ? (dims as number[]).reduce((a, b) => a * b, 1) : null;
  return { ops: [{ op: "flatten", start_axis: 1 }], units: all, note: "features flattened" };
}

/** The request of the most varying neurons (std across the selected classes, top 64). */
export function spreadRequest(run: string, layer: string, reduce: Record<string, unknown>[], options: WidgetOptions, classes: string[] | null): DataRequest {
  const request: DataRequest = {
    run,
    unit: { kind: "class_means", layer },
    steps: singleStep(options),
    transform: [...reduce, { op: "std", axis: 0 }, { op: "topk", k: MAX_NEURONS, axis: 0 }],
  };
  if (classes) request.classes = classes;
  return request;
}

/** The request of the matrix [classes, units] (only the given neurons, if any). */
export function matrixRequest(run: string, layer: string, reduce: Record<string, unknown>[], neurons: number[] | null, options: WidgetOptions, classes: string[] | null): DataRequest {
  const transform = [...reduce];
  if (neurons) transform.push({ op: "select", indices: neurons, axis: 1 });
  const request: DataRequest = { run, unit: { kind: "class_means", layer }, steps: singleStep(options), transform };
  if (classes) request.classes = classes;
  return request;
}

/** The neuron indices picked by a spread answer, in ascending order. */
export function pickedNeurons(spread: DataAnswer): number[] {
  const top = opResult<{ indices: { data: number[] } }>(spread);
  const indices = top.indices?.data;
  if (!Array.isArray(indices)) throw new Error("the answer has no top-k indices");
  return [...indices].sort((a, b) => a - b);
}

export interface NeuronsInputs {
  /** The neuron index of each column of the matrix (default 0, 1, ...). */
  neurons?: number[];
  /** Neurons of the layer in total. */
  units: number | null;
  /** Class names by label (when the answer does not name its classes). */
  classNames: string[];
  classes?: string[] | null;
  note?: string;
}

function heatmapSpec(classes: string[], neurons: number, max: number): TopLevelSpec {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: Math.min(300, Math.max(80, classes.length * 28)),
    height: Math.min(220, Math.max(60, neurons * 8)),
    data: { name: "table" },
    mark: { type: "rect" },
    encoding: {
      x: { field: "class", type: "ordinal", title: "class", sort: classes, axis: { labelAngle: 0 } },
      y: { field: "neuron", type: "ordinal", title: "neuron", sort: "ascending", axis: { labelOverlap: "greedy", labelFontSize: 8 } },
      color: { field: "value", type: "quantitative", title: "mean activation", scale: divergingScale(max), legend: { gradientLength: 100 } },
      tooltip: [
        { field: "neuron", type: "ordinal" },
        { field: "class", type: "nominal" },
        { field: "value", type: "quantitative", format: ".4g" },
      ],
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

/** A class-means matrix [classes, neurons] to rows {neuron, class, value} and a heatmap. */
export function neuronsByClassesContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: NeuronsInputs): WidgetContent {
  void options;
  const value = column(answer);
  const matrix = value.data as (number | null)[][];
  const classes = (Array.isArray(answer.classes) ? answer.classes : inputs.classNames).map((c) => (typeof c === "number" ? inputs.classNames[c] ?? String(c) : String(c)));
  if (matrix.length !== classes.length) throw new Error(`${matrix.length} rows of class means for ${classes.length} classes`);
  const width = matrix[0]?.length ?? 0;
  const neurons = inputs.neurons ?? Array.from({ length: width }, (_, i) => i);
  if (neurons.length !== width) throw new Error(`${width} columns for ${neurons.length} neurons`);
  const rows = matrix.flatMap((line, k) => line.map((v, j) => ({ neuron: neurons[j], class: classes[k], value: v })));
  const max = maxAbs(rows.map((r) => r.value));
  const steps = answerSteps(answer);
  const total = inputs.units ?? width;
  const picked = total > width ? `the ${width} of ${total} neurons varying most across the selected classes` : `${width} neurons`;
  return {
    spec: heatmapSpec(classes, width, max),
    rows,
    caption: `step ${steps[steps.length - 1]}: mean activation of ${picked} (${classesCaption(inputs.classes)})${inputs.note ? `; ${inputs.note}` : ""}`,
  };
}

export const neuronsByClassesTool: Tool = {
  id: "neurons-by-classes",
  name: "Neurons × Classes",
  category: "Activations",
  description: "Mean activation of each neuron (channel) of a layer for each selected class.",
  icon: "M3 3h5v5H3zM9.5 3h5v5h-5zM16 3h5v5h-5zM3 9.5h5v5H3zM9.5 9.5h5v5h-5zM16 9.5h5v5h-5zM3 16h5v5H3zM9.5 16h5v5h-5zM16 16h5v5h-5z",
  classDependent: true,
  appliesTo(unit, ctx) {
    return appliesToActivations(unit, ctx, undefined, () => true); // class means are in the event file
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    const { layer, shape } = await layerOutput(unit, ctx);
    // Without per-class maps (reduced data) the route answers the event file's [classes, units].
    const reduction = reductionOf(ctx, run, layer);
    const reduce = neuronReduce(hasClassMaps(reduction) ? shape : storedShape(shape, { activations: "pooled", sample_maps: false, class_maps: false }));
    let neurons: number[] | null = null;
    if (reduce.units === null || reduce.units > MAX_NEURONS) {
      neurons = pickedNeurons(await ctx.api.data(spreadRequest(run, layer, reduce.ops, options, ctx.classes)));
    }
    const answer = await ctx.api.data(matrixRequest(run, layer, reduce.ops, neurons, options, ctx.classes));
    const content = neuronsByClassesContent(answer, unit, options, {
      neurons: neurons ?? undefined,
      units: reduce.units,
      classNames: classNamesOf(ctx, run),
      classes: ctx.classes,
      note: reduce.note,
    });
    return withControls(withNotes(content, answer), oneStepControl(ctx, run, options, host));
  },
};
