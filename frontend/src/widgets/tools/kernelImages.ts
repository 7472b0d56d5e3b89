// Kernel Images: the kernels of a convolution as small images, one per output filter (one input channel,
// or the mean over the input channels), in diverging colours symmetric around 0; a Dense kernel as one
// heatmap inputs x units (sliced on the server beyond 128 x 128).

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest, Shape } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column } from "./shared/answers";
import { findLayer, isInputLayer, knownArchitecture, variableShape } from "./shared/architecture";
import { oneStepControl, selectControl, withControls } from "./shared/controls";
import { withNotes } from "./shared/reduced";
import { CHART_CONFIG, divergingScale, maxAbs } from "./shared/spec";
import { singleStep } from "./shared/steps";

export const MAX_FILTERS = 64;
export const MAX_DENSE = 128;
/** How many input channels the selector offers one by one (besides their mean). */
const MAX_CHANNEL_CHOICES = 32;

const KERNEL_NAMES = ["kernel", "depthwise_kernel"];

/** The kernel variable a unit stands for: a kernel variable, or a layer's kernel. */
export function kernelVariable(unit: UnitRef, variables: string[] | null): string | null {
  if (unit.kind === "variable") return unit.variable && KERNEL_NAMES.includes(unit.variable) ? unit.variable : null;
  if (unit.kind === "layer") {
    if (!variables) return "kernel";
    return KERNEL_NAMES.find((k) => variables.includes(k)) ?? null;
  }
  return null;
}

/** The input channel shown: a number, or "mean" over the input channels (default when there are several). */
export function inputChannelOf(options: WidgetOptions, inputs: number): number | "mean" {
  const c = options.inputChannel;
  if (typeof c === "number" && c >= 0 && c < inputs) return c;
  return inputs > 1 ? "mean" : 0;
}

export function kernelImagesRequest(run: string, layer: string, variable: string, shape: number[], options: WidgetOptions): DataRequest {
  const rank = shape.length;
  const transform: Record<string, unknown>[] = [];
  if (rank === 2) {
    const [inputs, units] = shape;
    if (inputs > MAX_DENSE || units > MAX_DENSE) transform.push({ op: "slice", slices: [[0, Math.min(inputs, MAX_DENSE)], [0, Math.min(units, MAX_DENSE)]] });
  } else if (rank === 3 || rank === 4) {
    // (k, in, out) or (kh, kw, in, out): reduce the input channel axis, keep 64 filters, filters first.
    const inAxis = rank - 2;
    const channel = inputChannelOf(options, shape[inAxis]);
    transform.push(channel === "mean" ? { op: "mean", axis: inAxis } : { op: "select", indices: [channel], axis: inAxis });
    if (channel !== "mean") transform.push({ op: "reshape", shape: rank === 4 ? [shape[0], shape[1], shape[3]] : [shape[0], shape[2]] });
    const filters = shape[rank - 1];
    if (filters > MAX_FILTERS) transform.push({ op: "slice", axis: rank - 2, start: 0, stop: MAX_FILTERS });
    transform.push({ op: "transpose", axes: rank === 4 ? [2, 0, 1] : [1, 0] });
  } else {
    throw new Error(`kernels of rank ${rank} are not shown`);
  }
  return { run, unit: { kind: "weights", layer, variable }, steps: singleStep(options), transform };
}

export interface KernelInputs {
  /** The kernel's full shape. */
  shape: number[];
}

function gridSpec(kh: number, kw: number, filters: number, max: number): TopLevelSpec {
  const cell = Math.max(2, Math.floor(30 / Math.max(kh, kw)));
  const columns = Math.min(8, filters);
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    facet: { field: "filter", type: "ordinal", title: null, header: { labelFontSize: 9, labelPadding: 1 } },
    columns,
    spacing: 4,
    spec: {
      width: kw * cell,
      height: kh * cell,
      mark: { type: "rect" },
      encoding: {
        x: { field: "col", type: "ordinal", axis: null },
        y: { field: "row", type: "ordinal", axis: null },
        color: { field: "value", type: "quantitative", title: "weight", scale: divergingScale(max), legend: { gradientLength: 100 } },
        tooltip: [
          { field: "filter", type: "ordinal" },
          { field: "row", type: "ordinal" },
          { field: "col", type: "ordinal" },
          { field: "value", type: "quantitative", format: ".4g" },
        ],
      },
    },
    config: { ...CHART_CONFIG, facet: { spacing: 4 } },
  };
  return spec as unknown as TopLevelSpec;
}

function tickValues(n: number): number[] {
  const every = Math.max(1, Math.ceil(n / 8));
  return Array.from({ length: Math.ceil(n / every) }, (_, i) => i * every);
}

function denseSpec(inputs: number, units: number, max: number): TopLevelSpec {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 300,
    height: Math.max(80, Math.min(220, inputs * 6)),
    data: { name: "table" },
    mark: { type: "rect" },
    encoding: {
      x: { field: "unit", type: "ordinal", title: "unit", axis: { values: tickValues(units), labelAngle: 0 } },
      y: { field: "input", type: "ordinal", title: "input", axis: { values: tickValues(inputs) } },
      color: { field: "value", type: "quantitative", title: "weight", scale: divergingScale(max), legend: { gradientLength: 100 } },
      tooltip: [
        { field: "input", type: "ordinal" },
        { field: "unit", type: "ordinal" },
        { field: "value", type: "quantitative", format: ".4g" },
      ],
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

/**
 * Maps a kernel answer to a widget. Convolutions (answer [filters, kh, kw] or [filters, k]) → a grid of
 * images, rows {filter, row, col, value}; a Dense kernel (answer [inputs, units]) → one heatmap, rows
 * {input, unit, value}. Colours are symmetric around 0
 * (±the largest |value|, said in the caption); the axes are indices, so there are no `extents`.
 */
export function kernelImagesContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: KernelInputs): WidgetContent {
  const steps = answerSteps(answer);
  const step = steps[steps.length - 1];
  const value = column(answer);
  const shape = inputs.shape;
  const rank = shape.length;
  if (rank === 2) {
    const data = value.data as (number | null)[][];
    const rows = data.flatMap((r, i) => r.map((v, j) => ({ input: i, unit: j, value: v })));
    const [nIn, nUnits] = value.shape;
    const max = maxAbs(rows.map((r) => r.value));
    const sliced = shape[0] > nIn || shape[1] > nUnits ? `; inputs 0–${nIn - 1} of ${shape[0]}, units 0–${nUnits - 1} of ${shape[1]} (sliced on the server)` : "";
    return {
      spec: denseSpec(nIn, nUnits, max),
      rows,
      caption: `step ${step}: Dense kernel ${shape[0]} inputs × ${shape[1]} units${sliced}; colours symmetric around 0 (±${max.toPrecision(3)})`,
    };
  }
  // Convolutions: [filters, kh, kw] or [filters, k] (Conv1D: one row per image).
  const data = value.data as unknown[];
  const rows: { filter: number; row: number; col: number; value: number | null }[] = [];
  data.forEach((image, f) => {
    const grid = (rank === 4 ? image : [image]) as (number | null)[][];
    grid.forEach((line, r) => line.forEach((v, c) => rows.push({ filter: f, row: r, col: c, value: v })));
  });
  const filters = value.shape[0];
  const kh = rank === 4 ? value.shape[1] : 1;
  const kw = rank === 4 ? value.shape[2] : value.shape[1];
  const inputsCount = shape[rank - 2];
  const channel = inputChannelOf(options, inputsCount);
  const which = channel === "mean" ? `mean over the ${inputsCount} input channels` : inputsCount === 1 ? "its only input channel" : `input channel ${channel} of ${inputsCount}`;
  const totalFilters = shape[rank - 1];
  const max = maxAbs(rows.map((r) => r.value));
  const some = totalFilters > filters ? `the first ${filters} of ${totalFilters} filters` : `${filters} filters`;
  return {
    spec: gridSpec(kh, kw, filters, max),
    rows,
    caption: `step ${step}: ${some} (${kh}×${kw}), ${which}; colours symmetric around 0 (±${max.toPrecision(3)})`,
  };
}

function kernelOf(unit: UnitRef, ctx: ToolContext) {
  const arch = knownArchitecture(ctx, unit.runs[0]);
  const layer = findLayer(arch, unit.layer);
  const names = layer ? (layer.variables as { name?: string }[]).map((v) => String(v?.name)) : null;
  const variable = kernelVariable(unit, names);
  return { arch, layer, variable };
}

export const kernelImagesTool: Tool = {
  id: "kernel-images",
  name: "Kernel Images",
  category: "Weights",
  description: "A convolution's kernels as small images, one per filter, or a Dense kernel as a heatmap inputs × units.",
  icon: "M3 3h8v8H3zM13 3h8v8h-8zM3 13h8v8H3zM13 13h8v8h-8zM5 5v4h4V5zM15 15v4h4v-4z",
  classDependent: false,
  appliesTo(unit, ctx) {
    if (unit.kind !== "variable" && unit.kind !== "layer") return false;
    if (!unit.layer || !unit.runs.length) return false;
    const { arch, layer, variable } = kernelOf(unit, ctx);
    if (!variable) return false;
    if (!arch) return true;
    if (!layer || isInputLayer(layer)) return false;
    const shape = variableShape(layer, variable);
    return Boolean(shape && shape.length >= 2 && shape.length <= 4);
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    const arch = await ctx.graph(run);
    const layer = findLayer(arch, unit.layer);
    if (!layer || !unit.layer) throw new Error(`${run} has no layer ${unit.layer}`);
    const variable = kernelVariable(unit, (layer.variables as { name?: string }[]).map((v) => String(v?.name)));
    if (!variable) throw new Error(`${unit.label} has no kernel`);
    const shape = (variableShape(layer, variable) as Shape | null)?.map((d) => d ?? 0);
    if (!shape || shape.length < 2 || shape.length > 4) throw new Error(`the kernel of ${unit.label} has no image form`);
    const answer = await ctx.api.data(kernelImagesRequest(run, unit.layer, variable, shape, options));
    const content = withNotes(kernelImagesContent(answer, unit, options, { shape }), answer);
    let channelSelect: HTMLElement | undefined;
    if (shape.length >= 3 && shape[shape.length - 2] > 1) {
      const n = shape[shape.length - 2];
      const choices = [{ value: "mean", label: "mean" }];
      for (let c = 0; c < Math.min(n, MAX_CHANNEL_CHOICES); c++) choices.push({ value: String(c), label: String(c) });
      const current = inputChannelOf(options, n);
      channelSelect = selectControl("input channel", choices, String(current), (v) => host.reload({ inputChannel: v === "mean" ? "mean" : Number(v) }));
    }
    return withControls(content, oneStepControl(ctx, run, options, host), channelSelect);
  },
};
