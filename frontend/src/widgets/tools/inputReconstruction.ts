// Input/Reconstruction: for models whose output has the input's shape (auto-encoders, VAEs), a few
// probe samples as small grey-scale images: the input, its reconstruction and their absolute
// difference. Class-dependent: only samples of the selected classes.

import type { TopLevelSpec } from "vega-lite";
import type { Architecture, DataAnswer, DataArray, DataRequest, Shape } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { flatValues } from "./shared/answers";
import { className, labelsOfClasses } from "./shared/classes";
import { isClassifier } from "./shared/models";

export const DEFAULT_SAMPLES = 8;
const MAX_SAMPLES = 32;

export interface ReconstructionOutput {
  /** The index of the output among the model's outputs (`unit.output` of a predictions request). */
  output: number;
  /** Its layer. */
  layer: string;
  /** The shape of one sample (without the batch axis). */
  shape: number[];
}

function sampleShape(shape: Shape | undefined | null): (number | null)[] | null {
  if (!shape || !shape.length) return null;
  return shape.slice(1);
}

/** The first output of the architecture whose per-sample shape equals the (first) input's, if any. */
export function reconstructionOutput(arch: Architecture): ReconstructionOutput | null {
  const inputId = arch.inputs[0];
  const input = arch.layers.find((layer) => layer.id === inputId);
  const inputShape = sampleShape(input?.output_shapes?.[0] ?? input?.input_shapes?.[0]);
  if (!inputShape || inputShape.some((d) => d === null)) return null;
  for (const [index, out] of arch.outputs.entries()) {
    const layer = arch.layers.find((l) => l.id === out.layer);
    const shape = sampleShape(layer?.output_shapes?.[out.output_index]);
    if (shape && shape.length === inputShape.length && shape.every((d, i) => d === inputShape[i])) {
      return { output: index, layer: out.layer, shape: inputShape as number[] };
    }
  }
  return null;
}

/** One sample's values as a grid of pixels: [h, w] as is, [h, w, c] averaged over channels, [n] square if it can. */
export function toGrid(values: unknown[], shape: number[]): { rows: number; cols: number; pixels: (number | null)[] } {
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  let rows: number;
  let cols: number;
  let channels = 1;
  if (shape.length === 1) {
    const side = Math.round(Math.sqrt(shape[0]));
    [rows, cols] = side * side === shape[0] ? [side, side] : [1, shape[0]];
  } else if (shape.length === 3) {
    [rows, cols, channels] = shape;
  } else {
    rows = shape[0];
    cols = shape.slice(1).reduce((a, b) => a * b, 1);
  }
  const pixels: (number | null)[] = [];
  for (let i = 0; i < rows * cols; i++) {
    let sum = 0;
    let n = 0;
    for (let c = 0; c < channels; c++) {
      const v = num(values[i * channels + c]);
      if (v !== null) {
        sum += v;
        n++;
      }
    }
    pixels.push(n ? sum / n : null);
  }
  return { rows, cols, pixels };
}

const IMAGES = ["input", "reconstruction", "|difference|"] as const;

export interface PixelRow extends Record<string, unknown> {
  /** Probe sample index. */
  sample: number;
  /** The sample's place in the widget (0, 1, ...). */
  position: number;
  /** Column title: "#17 · 3". */
  title: string;
  class: string | null;
  image: "input" | "reconstruction" | "|difference|";
  row: number;
  col: number;
  value: number | null;
}

/** Splits a `data` answer's value (samples first) into per-sample flat value lists. */
function perSample(answer: DataAnswer): { shape: number[]; samples: unknown[][] } {
  const array = answer.result.value as DataArray | undefined;
  if (!array || !Array.isArray(array.shape)) throw new Error("the answer has no array");
  const [count, ...shape] = array.shape;
  const flat = flatValues(array);
  const size = shape.reduce((a, b) => a * b, 1);
  return { shape, samples: Array.from({ length: count }, (_, i) => flat.slice(i * size, (i + 1) * size)) };
}

/**
 * The pure mapping: inputs and reconstructions (the same samples, in the same order) to pixel rows and
 * a grid of small images, one column per sample. `indices` are the samples' probe indices, `labels`
 * their labels (or null).
 */
export function inputReconstructionContent(
  inputs: DataAnswer,
  reconstructions: DataAnswer,
  indices: number[],
  labels: (number | null)[],
  classNames: string[],
  caption = "",
): WidgetContent {
  const a = perSample(inputs);
  const b = perSample(reconstructions);
  const count = Math.min(a.samples.length, b.samples.length, indices.length);
  const rows: PixelRow[] = [];
  const titles: string[] = [];
  let lo = Infinity;
  let hi = -Infinity;
  let gridRows = 1;
  let gridCols = 1;
  for (let i = 0; i < count; i++) {
    const sample = indices[i];
    const label = labels[i] ?? null;
    const name = label === null ? null : className(classNames, label);
    const title = name === null ? `#${sample}` : `#${sample} · ${name}`;
    titles.push(title);
    const input = toGrid(a.samples[i], a.shape);
    const output = toGrid(b.samples[i], b.shape);
    gridRows = input.rows;
    gridCols = input.cols;
    input.pixels.forEach((value, p) => {
      const row = Math.floor(p / input.cols);
      const col = p % input.cols;
      const reconstructed = output.pixels[p] ?? null;
      if (value !== null) {
        lo = Math.min(lo, value);
        hi = Math.max(hi, value);
      }
      const base = { sample, position: i, title, class: name, row, col };
      rows.push({ ...base, image: "input", value });
      rows.push({ ...base, image: "reconstruction", value: reconstructed });
      rows.push({
        ...base,
        image: "|difference|",
        value: value === null || reconstructed === null ? null : Math.abs(value - reconstructed),
      });
    });
  }
  if (!(lo < hi)) [lo, hi] = [Number.isFinite(lo) ? lo : 0, (Number.isFinite(lo) ? lo : 0) + 1];
  // One grid of grid units: sample i's image k at columns i * (cols + 1) ..., rows k * (rows + 1) ...,
  // a unit gap between images; square pixels of `pixel` px; titles above, row names on the left.
  const across = Math.max(1, count * (gridCols + 1) - 1);
  const down = IMAGES.length * (gridRows + 1) - 1;
  const pixel = Math.max(1, Math.min(6, Math.floor(216 / across)));
  const top = -Math.max(1.5, 26 / pixel);
  const unitScale = (domain: [number, number]) => ({ domain, nice: false, zero: false });
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    params: [{ name: "highlight", value: null }],
    width: pixel * across,
    height: pixel * (down - top),
    transform: [
      { calculate: `indexof(${JSON.stringify(IMAGES).replace(/"/g, "'")}, datum.image)`, as: "k" },
      { calculate: `datum.position * ${gridCols + 1} + datum.col`, as: "gx" },
      { calculate: `datum.k * ${gridRows + 1} + datum.row`, as: "gy" },
      { calculate: "datum.gx + 1", as: "gx2" },
      { calculate: "datum.gy + 1", as: "gy2" },
    ],
    encoding: {
      x: { field: "gx", type: "quantitative", scale: unitScale([0, across]), axis: null },
      y: { field: "gy", type: "quantitative", scale: { ...unitScale([top, down]), reverse: true }, axis: null },
      opacity: { condition: { test: "highlight === null || datum.sample === highlight", value: 1 }, value: 0.25 },
    },
    layer: [
      {
        mark: { type: "rect", tooltip: true },
        encoding: {
          x2: { field: "gx2" },
          y2: { field: "gy2" },
          color: { field: "value", type: "quantitative", scale: { range: ["#ffffff", "#000000"], domain: [lo, hi], clamp: true }, legend: null },
          tooltip: [
            { field: "sample", type: "quantitative" },
            { field: "class", type: "nominal" },
            { field: "image", type: "nominal" },
            { field: "value", type: "quantitative", format: ".3f" },
          ],
        },
      },
      {
        // The sample's title above its input.
        transform: [
          { filter: "datum.k === 0 && datum.row === 0 && datum.col === 0" },
          { calculate: `datum.gx + ${gridCols / 2}`, as: "gx" },
          { calculate: String(top), as: "gy" },
        ],
        // Two lines from the top down: "#17" over the class.
        mark: { type: "text", baseline: "top", fontSize: 9, color: "#333333", lineBreak: " · " },
        encoding: { text: { field: "title", type: "nominal" } },
      },
      {
        // The image's name left of the first sample.
        transform: [
          { filter: "datum.position === 0 && datum.row === 0 && datum.col === 0" },
          { calculate: `datum.gy + ${gridRows / 2}`, as: "gy" },
        ],
        mark: { type: "text", align: "right", baseline: "middle", dx: -4, fontSize: 9, color: "#333333" },
        encoding: { text: { field: "image", type: "nominal" }, opacity: { value: 1 } },
      },
    ],
    config: { view: { stroke: null } },
  };
  return {
    spec,
    rows,
    sampleField: "sample",
    caption: caption || `${count} samples`,
  };
}

// ---------------------------------------------------------------------------------------------
// The tool.

/** Runs whose architecture was read: whether they have an output of the input's shape. */
const qualifies = new Map<string, boolean>();
const asked = new Set<string>();

export async function loadInputReconstruction(unit: UnitRef, ctx: ToolContext, options: WidgetOptions): Promise<WidgetContent> {
  const run = unit.runs[0];
  const model = ctx.models.get(run);
  if (!model) throw new Error(`no model ${run}`);
  const found = reconstructionOutput(await ctx.graph(run));
  qualifies.set(run, found !== null);
  if (!found) throw new Error(`${run} has no output with the shape of its input: not an image-to-image model`);
  const wanted = typeof options.count === "number" ? options.count : DEFAULT_SAMPLES;
  const n = Math.max(1, Math.min(MAX_SAMPLES, Math.floor(wanted)));
  const selected = ctx.classes === null ? null : labelsOfClasses(model.classes, ctx.classes);
  // Labels of every probe sample: the probe indices of the selected classes' samples, in order
  // (the class filter of the data route keeps the order of the samples).
  let allLabels: number[] | null = null;
  try {
    allLabels = flatValues((await ctx.api.data({ run, unit: { kind: "labels" } })).result.value).map(Number);
  } catch (error) {
    if (selected !== null) throw error;
  }
  const candidates = allLabels
    ? allLabels.flatMap((label, index) => (selected === null || selected.includes(label) ? [index] : []))
    : Array.from({ length: n }, (_, i) => i);
  const indices = candidates.slice(0, n);
  if (!indices.length) throw new Error(`no probe samples of the selected classes in ${run}`);
  const classes = selected === null ? {} : { classes: selected };
  const slice = [{ op: "slice", axis: 0, start: 0, stop: indices.length }];
  const step = typeof options.step === "number" ? options.step : "last";
  const inputsRequest: DataRequest = { run, unit: { kind: "samples" }, ...classes, transform: slice };
  const outputsRequest: DataRequest = { run, unit: { kind: "predictions", output: found.output }, steps: step, ...classes, transform: slice };
  const [inputs, outputs] = await Promise.all([ctx.api.data(inputsRequest), ctx.api.data(outputsRequest)]);
  const resolved = Array.isArray(outputs.steps) ? outputs.steps[0] : outputs.steps;
  const which = selected === null ? "" : ` of classes ${ctx.classes!.join(", ")}`;
  return inputReconstructionContent(
    inputs,
    outputs,
    indices,
    indices.map((i) => (allLabels ? allLabels[i] : null)),
    model.classes,
    `step ${resolved}; ${indices.length} probe samples${which}; output "${found.layer}"`,
  );
}

export const inputReconstructionTool: Tool = {
  id: "input-reconstruction",
  name: "Input/Reconstruction",
  category: "Data",
  description:
    "Probe samples as images: the input, the model's reconstruction and their difference (models whose output has the input's shape). Follows the class selection.",
  // Two small framed pictures, one above the other.
  icon: "M4 2h16v9H4V2zm2 2v5h12V4H6zm-2 9h16v9H4v-9zm2 2v5h12v-5H6zm2-9.5h3v2H8v-2zm0 11h3v2H8v-2z",
  appliesTo(unit: UnitRef, ctx: ToolContext): boolean {
    if (unit.kind !== "model" || unit.runs.length !== 1) return false;
    const run = unit.runs[0];
    const known = qualifies.get(run);
    if (known !== undefined) return known;
    // appliesTo is synchronous: ask for the architecture once (ctx.graph is cached) and guess until it
    // arrives; load() checks the architecture itself.
    if (!asked.has(run)) {
      asked.add(run);
      ctx
        .graph(run)
        .then((arch) => qualifies.set(run, reconstructionOutput(arch) !== null))
        .catch(() => asked.delete(run));
    }
    return !isClassifier(ctx.models.get(run));
  },
  classDependent: true,
  load: loadInputReconstruction,
};
