// Activation Maps: one channel of an image-shaped layer output (N, H, W, C) for the first probe samples of
// the selected classes, and the per-class mean map of every selected class. Maps larger than 32 pixels
// are strided on the server. A layer the logging plan reduced (docs/format.md, "Reduced data") shows the
// maps of the logged sample subset, and the class means only when they are stored.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest, ReducedLayer, Shape } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column } from "./shared/answers";
import { findLayer, outputShape } from "./shared/architecture";
import { classesCaption, classNamesOf, keptSamples } from "./shared/classes";
import { oneStepControl, selectControl, withControls } from "./shared/controls";
import { hasClassMaps, hasSampleMaps, reductionOf, subsetRows, withNotes } from "./shared/reduced";
import { CHART_CONFIG, divergingScale, maxAbs } from "./shared/spec";
import { singleStep } from "./shared/steps";
import { appliesToActivations } from "./shared/unitPredicates";

export const MAP_SAMPLES = 6;
/** Maps are strided so that neither side exceeds this many pixels. */
export const MAP_MAX_SIDE = 32;
const MAX_CHANNEL_CHOICES = 256;

/** Whether a layer output is image-shaped: rank 4 (N, H, W, C) with H, W and C known. */
export function isImageShape(shape: Shape): boolean {
  return shape.length === 4 && shape.slice(1).every((d) => typeof d === "number");
}

export function mapStride(h: number, w: number): number {
  return Math.max(1, Math.ceil(Math.max(h, w) / MAP_MAX_SIDE));
}

export function channelOf(options: WidgetOptions, channels: number): number {
  const c = options.channel;
  return typeof c === "number" && Number.isInteger(c) && c >= 0 && c < channels ? c : 0;
}

/**
 * The three requests: the first samples' maps, the class-mean maps, and every probe label. For a layer
 * the plan reduced (`reduction`), the maps of the logged sample subset (`form: "samples"`), and no
 * request (null) of what is not stored.
 */
export function activationMapsRequests(
  run: string,
  layer: string,
  hwc: [number, number, number],
  options: WidgetOptions,
  classes: string[] | null,
  reduction: ReducedLayer | null = null,
): { samples: DataRequest | null; means: DataRequest | null; labels: DataRequest } {
  const [h, w, c] = hwc;
  const channel = channelOf(options, c);
  const s = mapStride(h, w);
  const steps = singleStep(options);
  const samples: DataRequest = {
    run,
    unit: reduction ? { kind: "activations", layer, form: "samples" } : { kind: "activations", layer },
    steps,
    transform: [{ op: "slice", slices: [[0, MAP_SAMPLES], [0, h, s], [0, w, s], channel] }],
  };
  const means: DataRequest = {
    run,
    unit: { kind: "class_means", layer },
    steps,
    transform: [{ op: "slice", slices: [null, [0, h, s], [0, w, s], channel] }],
  };
  if (classes) {
    samples.classes = classes;
    means.classes = classes;
  }
  const labels: DataRequest = { run, unit: { kind: "labels" }, steps };
  return { samples: hasSampleMaps(reduction) ? samples : null, means: hasClassMaps(reduction) ? means : null, labels };
}

export interface ActivationMapsInputs {
  /** Every probe label, in probe order (the `labels` answer without a class selection). */
  allLabels: number[];
  /** Class names by label. */
  classNames: string[];
  /** The layer's output [H, W, C]. */
  hwc: [number, number, number];
  classes?: string[] | null;
}

type Row = { panel: string; order: number; kind: "sample" | "class"; sample: number | null; class: string; row: number; col: number; value: number | null };

function mapsSpec(cell: number, h: number, w: number, max: number): TopLevelSpec {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    params: [{ name: "highlight", value: null }],
    facet: { field: "panel", type: "nominal", title: null, sort: { field: "order", op: "min" }, header: { labelFontSize: 9, labelPadding: 2 } },
    columns: MAP_SAMPLES,
    spacing: 6,
    spec: {
      width: w * cell,
      height: h * cell,
      mark: { type: "rect" },
      encoding: {
        x: { field: "col", type: "ordinal", axis: null },
        y: { field: "row", type: "ordinal", axis: null },
        color: { field: "value", type: "quantitative", title: "activation", scale: divergingScale(max), legend: { gradientLength: 90 } },
        opacity: { condition: { test: "highlight == null || datum.sample === highlight", value: 1 }, value: 0.25 },
        tooltip: [
          { field: "panel", type: "nominal", title: "map" },
          { field: "row", type: "ordinal" },
          { field: "col", type: "ordinal" },
          { field: "value", type: "quantitative", format: ".4g" },
        ],
      },
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

/**
 * Maps the answers to rows {panel, order, kind, sample, class, row, col, value}: the sample maps (the
 * first 6 samples of the selection, `sample` their probe index) then one mean map per selected class.
 * A null answer (reduced data: not stored) shows none of its maps.
 */
export function activationMapsContent(samplesAnswer: DataAnswer | null, meansAnswer: DataAnswer | null, unit: UnitRef, options: WidgetOptions, inputs: ActivationMapsInputs): WidgetContent {
  const [, , channels] = inputs.hwc;
  const channel = channelOf(options, channels);
  const stride = mapStride(inputs.hwc[0], inputs.hwc[1]);
  const rows: Row[] = [];
  const sampleMaps = samplesAnswer ? (column(samplesAnswer).data as (number | null)[][][]) : [];
  const filteredLabels = samplesAnswer ? ((column(samplesAnswer, "label").data as number[]) ?? []) : [];
  // The sample subset of a reduced layer names its probe rows; otherwise rows follow the probe's order.
  const indices = (samplesAnswer && subsetRows(samplesAnswer)) ?? keptSamples(inputs.allLabels, filteredLabels);
  const name = (label: number) => inputs.classNames[label] ?? String(label);
  sampleMaps.forEach((map, i) => {
    const sample = indices[i];
    const cls = name(filteredLabels[i]);
    const panel = `#${sample} (${cls})`;
    map.forEach((line, r) => line.forEach((value, c) => rows.push({ panel, order: i, kind: "sample", sample, class: cls, row: r, col: c, value })));
  });
  const means = meansAnswer ? (column(meansAnswer).data as (number | null)[][][]) : [];
  const meanClasses = (meansAnswer && Array.isArray(meansAnswer.classes) ? meansAnswer.classes : inputs.classNames).map(String);
  means.forEach((map, k) => {
    const cls = meanClasses[k] ?? String(k);
    const panel = `mean of ${cls}`;
    map.forEach((line, r) => line.forEach((value, c) => rows.push({ panel, order: MAP_SAMPLES + k, kind: "class", sample: null, class: cls, row: r, col: c, value })));
  });
  const h = sampleMaps[0]?.length ?? means[0]?.length ?? 1;
  const w = sampleMaps[0]?.[0]?.length ?? means[0]?.[0]?.length ?? 1;
  const cell = Math.max(2, Math.floor(40 / Math.max(h, w)));
  const max = maxAbs(rows.map((r) => r.value));
  const steps = answerSteps((samplesAnswer ?? meansAnswer)!);
  const strided = stride > 1 ? `, every ${stride}th pixel` : "";
  const shown = sampleMaps.length ? `${sampleMaps.length} of ${filteredLabels.length} samples` : "no samples";
  const meansShown = meansAnswer ? " and the class means" : ", no class mean maps stored";
  const content: WidgetContent = {
    spec: mapsSpec(cell, h, w, max),
    rows: rows as unknown as Record<string, unknown>[],
    sampleField: "sample",
    caption: `step ${steps[steps.length - 1]}, channel ${channel} of ${channels}${strided}: ${shown}${meansShown} (${classesCaption(inputs.classes)}); colours symmetric around 0`,
  };
  return withNotes(content, samplesAnswer, meansAnswer);
}

export const activationMapsTool: Tool = {
  id: "activation-maps",
  name: "Activation Maps",
  category: "Activations",
  description: "One channel of an image-shaped layer output for the first probe samples of the selected classes and the mean map of each class.",
  icon: "M3 3h8v8H3zM13 3h8v8h-8zM3 13h8v8H3zM13 13h8v8h-8zM6 6h2v2H6zM16 5h3v3h-3zM5 15h4v4H5zM15 16h2v2h-2z",
  classDependent: true,
  appliesTo(unit, ctx) {
    return appliesToActivations(unit, ctx, isImageShape, (r) => r.sample_maps || r.class_maps);
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    const arch = await ctx.graph(run);
    const shape = outputShape(findLayer(arch, unit.layer));
    if (!unit.layer || !shape || shape.length !== 4) throw new Error(`${unit.label} has no image-shaped output`);
    const hwc = shape.slice(1).map((d) => d ?? 0) as [number, number, number];
    const requests = activationMapsRequests(run, unit.layer, hwc, options, ctx.classes, reductionOf(ctx, run, unit.layer));
    const ask = (request: DataRequest | null) => (request ? ctx.api.data(request) : Promise.resolve(null));
    const [samples, means, labels] = await Promise.all([ask(requests.samples), ask(requests.means), ctx.api.data(requests.labels)]);
    const content = activationMapsContent(samples, means, unit, options, {
      allLabels: column(labels).data as number[],
      classNames: classNamesOf(ctx, run),
      hwc,
      classes: ctx.classes,
    });
    const channels = hwc[2];
    const choices = Array.from({ length: Math.min(channels, MAX_CHANNEL_CHOICES) }, (_, c) => ({ value: String(c), label: String(c) }));
    const channelSelect = selectControl("channel", choices, String(channelOf(options, channels)), (v) => host.reload({ channel: Number(v) }));
    return withControls(content, channelSelect, oneStepControl(ctx, run, options, host));
  },
};
