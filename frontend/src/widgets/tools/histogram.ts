// Histogram tool: the distribution of a variable's values or of a layer's (or one neuron's) activations at
// one step (30 bins, binned on the server), or over the steps of training (a heatmap step x bin).

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column, flatValues, opResult } from "./shared/answers";
import { classesCaption } from "./shared/classes";
import { stepControl } from "./shared/controls";
import { dataSource, sourceRequest } from "./shared/dataSource";
import { hasSampleVectors, mergedNotes, reductionOf, withNotes } from "./shared/reduced";
import { colorOf, seriesColorScale, seriesOf } from "./shared/seriesColors";
import { CHART_CONFIG, extentOf, scaleWith } from "./shared/spec";
import { evenSample, singleStep, withStepBudget } from "./shared/steps";
import { onPlainRuns, unitHasData } from "./shared/unitPredicates";
import type { ToolContext } from "../types";

type Json = Record<string, unknown>;

/** n + 1 equally spaced edges of n bins over [lo, hi]. */
export function binEdges(lo: number, hi: number, bins: number): number[] {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + ((hi - lo) * i) / bins));
}

export const HISTOGRAM_BINS = 30;
/** At most this many steps in the histogram over training (each costs two ops of the 32 allowed). */
export const HISTOGRAM_MAX_STEPS = 12;

interface HistogramResult {
  edges: number[];
  counts: number[];
  dropped?: number;
  nonfinite?: number;
  below?: number;
  above?: number;
}

export interface HistogramInputs {
  run: string;
  color: string;
  /** The series label (default "<run> step <n>"). */
  series?: string;
  /** Selected classes (captions only). */
  classes?: string[] | null;
  /** Steps of the model, when the histogram over training shows a sample of them. */
  totalSteps?: number;
}

/** The histogram op: 30 bins, or 30 equal bins over a common domain so grouped widgets share bins. */
export function histogramOp(options: WidgetOptions, input?: string): Json {
  const op: Json = options.xDomain ? { op: "histogram", edges: binEdges(options.xDomain[0], options.xDomain[1], HISTOGRAM_BINS) } : { op: "histogram", bins: HISTOGRAM_BINS };
  if (input) op.in = input;
  return op;
}

/** Request of one histogram at one step. */
export function histogramRequest(unit: UnitRef, options: WidgetOptions, classes: string[] | null): DataRequest {
  return sourceRequest(unit, singleStep(options), [histogramOp(options)], classes);
}

/** Request of the value range over some steps (for bins shared by the steps). */
export function rangeRequest(unit: UnitRef, steps: number[], classes: string[] | null): DataRequest {
  const ops = [{ op: "min", axis: null, out: "lo" }, { op: "max", axis: null, out: "hi" }, { op: "select_columns", columns: ["lo", "hi"] }];
  return sourceRequest(unit, steps, ops, classes);
}

/** Request of one histogram per step with common edges, in one pipeline: columns s0, s1, ... */
export function stepsHistogramRequest(unit: UnitRef, steps: number[], edges: number[], classes: string[] | null): DataRequest {
  const names = steps.map((_, i) => `s${i}`);
  const ops: Json[] = [{ op: "branch", from: "value", to: names }];
  names.forEach((name, i) => {
    ops.push({ op: "select", in: name, indices: [i], axis: 0 });
    ops.push({ op: "histogram", in: name, edges });
  });
  ops.push({ op: "select_columns", columns: names });
  return sourceRequest(unit, steps, ops, classes);
}

function histogramRows(h: HistogramResult, base: Json): Json[] {
  return h.counts.map((count, i) => ({ ...base, bin: i, lo: h.edges[i], hi: h.edges[i + 1], count }));
}

function outsideNote(hs: HistogramResult[]): string {
  const outside = hs.reduce((n, h) => n + (h.below ?? 0) + (h.above ?? 0), 0);
  const nonfinite = hs.reduce((n, h) => n + (h.nonfinite ?? 0), 0);
  const notes: string[] = [];
  if (outside) notes.push(`${outside} values outside the common range`);
  if (nonfinite) notes.push(`${nonfinite} non-finite values`);
  return notes.length ? `; ${notes.join(", ")}` : "";
}

function barsSpec(options: WidgetOptions, colors: { domain: string[]; range: string[] }, overlay: boolean): TopLevelSpec {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 300,
    height: 180,
    data: { name: "table" },
    mark: { type: "rect", opacity: overlay ? 0.5 : 0.85, stroke: "white", strokeWidth: overlay ? 0 : 0.5, clip: true },
    encoding: {
      x: { field: "lo", type: "quantitative", title: "value", scale: scaleWith(options.xDomain, { zero: false }) },
      x2: { field: "hi" },
      y: { field: "count", type: "quantitative", title: "count", stack: null, scale: scaleWith(options.yDomain) },
      color: { field: "series", type: "nominal", title: null, scale: colors, legend: overlay ? { orient: "top", direction: "horizontal" } : null },
      tooltip: [
        { field: "series", type: "nominal" },
        { field: "lo", type: "quantitative", format: ".4g" },
        { field: "hi", type: "quantitative", format: ".4g" },
        { field: "count", type: "quantitative" },
      ],
    },
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

function heatmapSpec(options: WidgetOptions, facet: boolean): TopLevelSpec {
  const inner = {
    width: 300,
    height: facet ? 90 : 180,
    mark: { type: "rect", clip: true },
    encoding: {
      x: { field: "lo", type: "quantitative", title: "value", scale: scaleWith(options.xDomain, { zero: false }) },
      x2: { field: "hi" },
      y: { field: "step", type: "ordinal", title: "step", sort: "descending" },
      color: { field: "count", type: "quantitative", title: "count", scale: { type: "sqrt", scheme: "blues" }, legend: { orient: "right", gradientLength: 100 } },
      // Empty bins stay blank.
      opacity: { condition: { test: "datum.count > 0", value: 1 }, value: 0 },
      tooltip: [
        { field: "step", type: "ordinal" },
        { field: "lo", type: "quantitative", format: ".4g" },
        { field: "hi", type: "quantitative", format: ".4g" },
        { field: "count", type: "quantitative" },
      ],
    },
  };
  const spec = facet
    ? { $schema: "https://vega.github.io/schema/vega-lite/v6.json", data: { name: "table" }, facet: { row: { field: "series", type: "nominal", title: null } }, spec: inner, config: CHART_CONFIG }
    : { $schema: "https://vega.github.io/schema/vega-lite/v6.json", data: { name: "table" }, ...inner, config: CHART_CONFIG };
  return spec as unknown as TopLevelSpec;
}

/**
 * Maps a histogram answer to a widget: one histogram (column `value`: edges and counts) as bars, or one
 * histogram per step (columns s0, s1, ... with common edges) as a heatmap step x bin.
 */
export function histogramContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: HistogramInputs): WidgetContent {
  const steps = answerSteps(answer);
  const classNote = inputs.classes !== undefined && unit.kind !== "variable" ? `, ${classesCaption(inputs.classes)}` : "";
  if (answer.result && "s0" in answer.result) {
    const hs = steps.map((_, i) => opResult<HistogramResult>(answer, `s${i}`));
    const series = inputs.series ?? inputs.run;
    const rows = hs.flatMap((h, i) => histogramRows(h, { series, run: inputs.run, step: steps[i], color: inputs.color, mode: "steps" }));
    const edges = hs[0]?.edges ?? [];
    const sampled = inputs.totalSteps && inputs.totalSteps > steps.length ? ` (${steps.length} of ${inputs.totalSteps} steps)` : "";
    const range = steps.length ? `steps ${steps[0]}–${steps[steps.length - 1]}` : "no steps";
    return {
      spec: heatmapSpec(options, false),
      rows,
      seriesField: "series",
      extents: edges.length ? { x: [edges[0], edges[edges.length - 1]] } : undefined,
      caption: `${range}${sampled}: ${unit.kind === "neuron" ? `neuron ${unit.neuron}` : dataSource(unit)?.what ?? ""}${classNote}${outsideNote(hs)}`,
    };
  }
  const h = opResult<HistogramResult>(answer, "value");
  if (!Array.isArray(h.edges) || !Array.isArray(h.counts)) throw new Error("the answer has no histogram");
  const step = steps[steps.length - 1];
  const series = inputs.series ?? `${inputs.run} step ${step}`;
  const rows = histogramRows(h, { series, run: inputs.run, step, color: inputs.color, mode: "step" });
  const colors = seriesColorScale([{ name: series, color: inputs.color }]);
  const maxCount = Math.max(0, ...h.counts);
  return {
    spec: barsSpec(options, colors, false),
    rows,
    seriesField: "series",
    extents: { x: [h.edges[0], h.edges[h.edges.length - 1]], y: [0, maxCount] },
    caption: `step ${step}${classNote}${outsideNote([h])}`,
  };
}

/** Labels that tell merged parts apart: the run, the unit when units differ, and the step. */
function mergeLabels(parts: { unit: UnitRef; content: WidgetContent }[]): string[] {
  const paths = parts.map((p) => [p.unit.layer, p.unit.variable ?? (p.unit.kind === "neuron" ? `neuron ${p.unit.neuron}` : "activations")].join("/"));
  const samePath = paths.every((p) => p === paths[0]);
  const labels = parts.map((p, i) => {
    const row = p.content.rows[0] ?? {};
    const run = String(row.run ?? p.unit.runs[0]);
    const step = row.mode === "steps" ? "" : ` step ${row.step}`;
    return `${run}${samePath ? "" : ` ${paths[i]}`}${step}`;
  });
  // Identical labels (the same histogram twice) get a number.
  return labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l} #${labels.slice(0, i + 1).filter((x) => x === l).length}`));
}

/** Overlays histograms (colour per series); histograms over steps go one under the other. */
export function mergeHistograms(parts: { unit: UnitRef; content: WidgetContent }[]): WidgetContent {
  const labels = mergeLabels(parts);
  const rows: Record<string, unknown>[] = parts.flatMap((p, i) => p.content.rows.map((r) => ({ ...r, series: labels[i] })));
  const overSteps = rows.some((r) => r.mode === "steps");
  const xs = parts.map((p) => p.content.extents?.x).filter((x): x is [number, number] => Boolean(x));
  const ys = parts.map((p) => p.content.extents?.y).filter((y): y is [number, number] => Boolean(y));
  const x = extentOf(xs.flat());
  const y = extentOf(ys.flat());
  const extents = { ...(x ? { x } : {}), ...(y && !overSteps ? { y } : {}) };
  const spec = overSteps ? heatmapSpec({}, true) : barsSpec({}, seriesColorScale(seriesOf(rows, "series")), true);
  return { spec, rows, seriesField: "series", extents, caption: `${labels.length} histograms: ${labels.join("; ")}`, notes: mergedNotes(parts) };
}

/**
 * Whether a layer's (or its activations') histogram comes from the event file's logged histograms: its
 * logging plan keeps only statistics (reduced data), so there are no arrays to bin, but the callback logs
 * a histogram of every layer output at every step (docs/format.md).
 */
export function usesLoggedHistogram(unit: UnitRef, ctx: Pick<ToolContext, "models">): boolean {
  if ((unit.kind !== "layer" && unit.kind !== "activation") || !unit.layer || !unit.runs.length) return false;
  return !hasSampleVectors(reductionOf(ctx, unit.runs[0], unit.layer));
}

/**
 * Request of logged histograms (the event file's, [bins, 3]: left edge, right edge, count): a layer's
 * activations, or on a plain run (store/plain_runs.py) a variable's `tf.summary.histogram` data.
 */
export function loggedHistogramRequest(unit: UnitRef, steps: number | "last" | "all"): DataRequest {
  const what = unit.kind === "variable" ? unit.variable : "activations";
  return { run: unit.runs[0], unit: { kind: "histogram", unit: `${unit.layer}/${what}` }, steps } as DataRequest;
}

/** The logged histograms of an answer as HistogramResults, one per answered step. */
export function loggedHistograms(answer: DataAnswer): HistogramResult[] {
  const steps = answerSteps(answer);
  const names = steps.length > 1 ? steps.map((s) => `value_${s}`) : ["value"];
  return names.map((name) => {
    const bins = flatValues(column(answer, name)) as number[];
    const edges: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i + 2 < bins.length; i += 3) {
      if (!edges.length) edges.push(bins[i]);
      edges.push(bins[i + 1]);
      counts.push(bins[i + 2]);
    }
    return { edges, counts };
  });
}

/** A widget of logged histograms: bars at one step, a heatmap step x bin over several (bins may differ per step). */
export function loggedHistogramContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: HistogramInputs): WidgetContent {
  const steps = answerSteps(answer);
  const hs = loggedHistograms(answer);
  const note =
    unit.kind === "variable"
      ? "the histogram the run logged of this variable (tf.summary.histogram; its own bins at each step)"
      : "the logged histogram of every probe sample (the logging plan keeps only statistics of this layer; the class selection does not apply)";
  const what = unit.kind === "variable" ? `${unit.layer}/${unit.variable}` : `${unit.layer} activations`;
  if (steps.length > 1) {
    const series = inputs.series ?? inputs.run;
    const rows = hs.flatMap((h, i) => histogramRows(h, { series, run: inputs.run, step: steps[i], color: inputs.color, mode: "steps" }));
    const x = extentOf(hs.flatMap((h) => (h.edges.length ? [h.edges[0], h.edges[h.edges.length - 1]] : [])));
    return {
      spec: heatmapSpec(options, false),
      rows,
      seriesField: "series",
      extents: x ? { x } : undefined,
      caption: `steps ${steps[0]}–${steps[steps.length - 1]}: ${what}`,
      notes: [note],
    };
  }
  const h = hs[0];
  if (!h || !h.edges.length) throw new Error("the logged histogram is empty");
  const step = steps[steps.length - 1];
  const series = inputs.series ?? `${inputs.run} step ${step}`;
  return {
    spec: barsSpec(options, seriesColorScale([{ name: series, color: inputs.color }]), false),
    rows: histogramRows(h, { series, run: inputs.run, step, color: inputs.color, mode: "step" }),
    seriesField: "series",
    extents: { x: [h.edges[0], h.edges[h.edges.length - 1]], y: [0, Math.max(0, ...h.counts)] },
    caption: `step ${step}: ${what}`,
    notes: [note],
  };
}

export const histogramTool: Tool = {
  id: "histogram",
  name: "Histogram",
  category: "Weights",
  description: "Distribution of a variable's values or a layer's (or neuron's) activations at one step, or over the steps of training.",
  icon: "M3 21h18v-1.5H3zM4 19V13h3v6zM8.5 19V6h3v13zM13 19V9h3v10zM17.5 19v-4h3v4z",
  classDependent: true,
  plainRuns: true,
  appliesTo(unit, ctx) {
    // A plain run has the histograms it logged of its variables, nothing else.
    if (onPlainRuns(unit, ctx)) return unitHasData(unit, ctx, ["variable"]);
    return unitHasData(unit, ctx, ["variable", "activation", "layer", "neuron"]) || usesLoggedHistogram(unit, ctx);
  },
  async load(unit, ctx, options, host) {
    const run = unit.runs[0];
    if (usesLoggedHistogram(unit, ctx) || onPlainRuns(unit, ctx)) {
      const modelSteps = ctx.models.get(run)?.steps ?? [];
      const steps = options.step === "all" ? "all" : singleStep(options);
      const answer = await ctx.api.data(loggedHistogramRequest(unit, steps as number | "last" | "all"));
      const content = loggedHistogramContent(answer, unit, options, { run, color: colorOf(ctx, run) });
      const html = stepControl(modelSteps, options.step, host, true);
      return html ? { ...content, html } : content;
    }
    const source = dataSource(unit);
    if (!source) throw new Error(`no data for ${unit.label}`);
    const modelSteps = ctx.models.get(run)?.steps ?? [];
    const classes = source.perSample ? ctx.classes : undefined;
    const inputs: HistogramInputs = { run, color: colorOf(ctx, run), classes };
    let content: WidgetContent;
    if (options.step === "all") {
      const sampled = evenSample(modelSteps, HISTOGRAM_MAX_STEPS);
      if (!sampled.length) throw new Error(`${run} has no steps`);
      const { answer } = await withStepBudget(sampled, async (steps) => {
        let edges: number[];
        if (options.xDomain) edges = binEdges(options.xDomain[0], options.xDomain[1], HISTOGRAM_BINS);
        else {
          const range = await ctx.api.data(rangeRequest(unit, steps, ctx.classes));
          const lo = column(range, "lo").data as number | null;
          const hi = column(range, "hi").data as number | null;
          if (typeof lo !== "number" || typeof hi !== "number") throw new Error("no finite values to bin");
          edges = binEdges(lo, hi, HISTOGRAM_BINS);
        }
        return ctx.api.data(stepsHistogramRequest(unit, steps, edges, ctx.classes));
      });
      content = withNotes(histogramContent(answer, unit, options, { ...inputs, series: run, totalSteps: modelSteps.length }), answer);
    } else {
      const answer = await ctx.api.data(histogramRequest(unit, options, ctx.classes));
      content = withNotes(histogramContent(answer, unit, options, inputs), answer);
    }
    const html = stepControl(modelSteps, options.step, host, true);
    return html ? { ...content, html } : content;
  },
  merge: mergeHistograms,
};
