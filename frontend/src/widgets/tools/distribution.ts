// Distribution over training: quantile bands of a variable's values or a layer's (or neuron's)
// activations at every step (5–95 %, 25–75 %, the median), computed on the server; for a layer the
// logging plan keeps statistics of only, and a plain run's tf.summary.histogram data, interpolated in
// the histograms logged at every step.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataRequest } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { answerSteps, column } from "./shared/answers";
import { classesCaption } from "./shared/classes";
import { dataSource, sourceRequest } from "./shared/dataSource";
import { loggedHistogramRequest, loggedHistograms, usesLoggedHistogram } from "./histogram";
import { mergedNotes, withNotes } from "./shared/reduced";
import { colorOf, seriesColorScale, seriesOf } from "./shared/seriesColors";
import { CHART_CONFIG, extentOf, scaleWith } from "./shared/spec";
import { evenSample, halfOf, overElementLimit, withStepBudget } from "./shared/steps";
import { onPlainRuns, unitHasData } from "./shared/unitPredicates";

export const QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95];
/** Above this many steps, an even sample of them is read (each step is a whole array). */
export const DISTRIBUTION_MAX_STEPS = 100;

/** The steps asked for first: "all", or an even sample of them above 100 steps. */
export function distributionSteps(modelSteps: number[]): number[] | "all" {
  return modelSteps.length > DISTRIBUTION_MAX_STEPS ? evenSample(modelSteps, DISTRIBUTION_MAX_STEPS) : "all";
}

export function distributionRequest(unit: UnitRef, steps: number[] | "all", classes: string[] | null): DataRequest {
  return sourceRequest(unit, steps, [{ op: "flatten", start_axis: 1 }, { op: "quantiles", q: QUANTILES, axis: 1 }], classes);
}

export interface DistributionInputs {
  run: string;
  color: string;
  classes?: string[] | null;
  totalSteps?: number;
}

function bandsSpec(options: WidgetOptions, colors: { domain: string[]; range: string[] }, legend: boolean): TopLevelSpec {
  const x = { field: "step", type: "quantitative", title: "step", scale: scaleWith(options.xDomain, { zero: false }), axis: { tickMinStep: 1, format: "d" } };
  const color = { field: "series", type: "nominal", title: null, scale: colors, legend: legend ? { orient: "top", direction: "horizontal" } : null };
  const y = (field: string) => ({ field, type: "quantitative", title: "value", scale: scaleWith(options.yDomain, { zero: false }) });
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: 300,
    height: 180,
    data: { name: "table" },
    layer: [
      { mark: { type: "area", opacity: 0.2, clip: true }, encoding: { x, y: y("q05"), y2: { field: "q95" }, color } },
      { mark: { type: "area", opacity: 0.4, clip: true }, encoding: { x, y: y("q25"), y2: { field: "q75" }, color } },
      {
        mark: { type: "line", point: { size: 18 }, clip: true },
        encoding: {
          x,
          y: y("q50"),
          color,
          tooltip: [
            { field: "series", type: "nominal" },
            { field: "step", type: "quantitative" },
            ...["q05", "q25", "q50", "q75", "q95"].map((f) => ({ field: f, type: "quantitative", format: ".4g" })),
          ],
        },
      },
    ],
    config: CHART_CONFIG,
  };
  return spec as unknown as TopLevelSpec;
}

/**
 * Quantiles of the values a histogram counts, [edges, counts], each interpolated linearly within its bin
 * (values spread evenly in a bin, as the histogram cannot say more); null for an empty histogram.
 */
export function histogramQuantiles(edges: number[], counts: number[], qs: number[] = QUANTILES): (number | null)[] {
  const total = counts.reduce((sum, c) => sum + Math.max(0, c), 0);
  if (!(total > 0) || edges.length !== counts.length + 1) return qs.map(() => null);
  return qs.map((q) => {
    const target = q * total;
    let below = 0;
    for (let i = 0; i < counts.length; i++) {
      const count = Math.max(0, counts[i]);
      if (count > 0 && below + count >= target) return edges[i] + ((target - below) / count) * (edges[i + 1] - edges[i]);
      below += count;
    }
    return edges[edges.length - 1];
  });
}

/** Quantile rows of the histograms an answer of logged histograms holds, [5, S] like the server's. */
export function loggedQuantiles(answer: DataAnswer): (number | null)[][] {
  const perStep = loggedHistograms(answer).map((h) => histogramQuantiles(h.edges, h.counts));
  return QUANTILES.map((_, k) => perStep.map((row) => row[k]));
}

/** Quantiles [5, S] over steps to rows {step, q05, q25, q50, q75, q95} and a band chart. */
export function distributionContent(answer: DataAnswer, unit: UnitRef, options: WidgetOptions, inputs: DistributionInputs): WidgetContent {
  const steps = answerSteps(answer);
  const q = column(answer).data as (number | null)[][] | (number | null)[];
  // One step gives [5] (shape of the quantiles without the steps axis), several give [5, S].
  const matrix = Array.isArray(q[0]) ? (q as (number | null)[][]) : (q as (number | null)[]).map((v) => [v]);
  return bandsContent(steps, matrix, unit, options, inputs);
}

function bandsContent(
  steps: number[],
  matrix: (number | null)[][],
  unit: UnitRef,
  options: WidgetOptions,
  inputs: DistributionInputs,
  what = dataSource(unit)?.what ?? "",
): WidgetContent {
  if (matrix.length !== QUANTILES.length) throw new Error(`expected ${QUANTILES.length} quantiles, got ${matrix.length}`);
  const rows = steps.map((step, i) => ({
    series: inputs.run,
    run: inputs.run,
    color: inputs.color,
    step,
    q05: matrix[0][i],
    q25: matrix[1][i],
    q50: matrix[2][i],
    q75: matrix[3][i],
    q95: matrix[4][i],
  }));
  const x = extentOf(steps);
  const y = extentOf(rows.flatMap((r) => [r.q05, r.q95]));
  const sampled = inputs.totalSteps && inputs.totalSteps > steps.length ? ` (${steps.length} of ${inputs.totalSteps} steps)` : "";
  const classNote = inputs.classes !== undefined && unit.kind !== "variable" ? `; ${classesCaption(inputs.classes)}` : "";
  return {
    spec: bandsSpec(options, seriesColorScale([{ name: inputs.run, color: inputs.color }]), false),
    rows,
    seriesField: "series",
    extents: { ...(x ? { x } : {}), ...(y ? { y } : {}) },
    caption: `${what}: 5–95 % and 25–75 % bands, median; ${steps.length} steps${sampled}${classNote}`,
  };
}

/** Bands of several units (e.g. one kernel in two models) overlaid, colour per series. */
export function mergeDistributions(parts: { unit: UnitRef; content: WidgetContent }[]): WidgetContent {
  // The same unit in several models: label by model; otherwise by the unit's full path.
  const path = (u: UnitRef) => `${u.layer}/${u.variable ?? ""}/${u.kind === "neuron" ? u.neuron : ""}`;
  const samePath = parts.every((p) => path(p.unit) === path(parts[0].unit));
  const labels = parts.map((p) => (samePath ? p.unit.runs[0] : p.unit.label));
  const rows: Record<string, unknown>[] = parts.flatMap((p, i) => p.content.rows.map((r) => ({ ...r, series: labels[i] })));
  const x = extentOf(parts.flatMap((p) => p.content.extents?.x ?? []));
  const y = extentOf(parts.flatMap((p) => p.content.extents?.y ?? []));
  return {
    spec: bandsSpec({}, seriesColorScale(seriesOf(rows, "series")), true),
    rows,
    seriesField: "series",
    extents: { ...(x ? { x } : {}), ...(y ? { y } : {}) },
    caption: `quantile bands of ${labels.join("; ")}`,
    notes: mergedNotes(parts),
  };
}

export const distributionTool: Tool = {
  id: "distribution",
  name: "Distribution",
  category: "Weights",
  description: "Quantile bands (5–95 %, 25–75 %, median) of a variable's values or a layer's activations over the steps of training.",
  icon: "M2 18 C6 16 8 8 12 8 S18 12 22 6 V12 C18 16 16 13 12 14 S6 20 2 21Z",
  classDependent: true,
  plainRuns: true,
  appliesTo(unit, ctx) {
    // A plain run has the histograms it logged of its variables; a reduced layer its logged histograms.
    if (onPlainRuns(unit, ctx)) return unitHasData(unit, ctx, ["variable"]);
    return unitHasData(unit, ctx, ["variable", "activation", "layer", "neuron"]) || usesLoggedHistogram(unit, ctx);
  },
  async load(unit, ctx, options) {
    const run = unit.runs[0];
    if (usesLoggedHistogram(unit, ctx) || onPlainRuns(unit, ctx)) {
      const answer = await ctx.api.data(loggedHistogramRequest(unit, "all"));
      const what = unit.kind === "variable" ? `${unit.layer}/${unit.variable}` : `${unit.layer} activations`;
      const content = bandsContent(answerSteps(answer), loggedQuantiles(answer), unit, options, { run, color: colorOf(ctx, run) }, what);
      const source = unit.kind === "variable" ? "the histograms the run logged (tf.summary.histogram)" : "the histograms logged of every probe sample (the logging plan keeps only statistics of this layer; the class selection does not apply)";
      return { ...content, notes: [`quantiles interpolated within the bins of ${source}`] };
    }
    const source = dataSource(unit);
    if (!source) throw new Error(`no data for ${unit.label}`);
    const steps = ctx.models.get(run)?.steps ?? [];
    // "all" first; if the route finds that too many elements, fewer steps (explicitly listed).
    const first = distributionSteps(steps);
    let answer: DataAnswer;
    try {
      answer = await ctx.api.data(distributionRequest(unit, first, ctx.classes));
    } catch (error) {
      if (!overElementLimit(error) || steps.length <= 2) throw error;
      const fewer = halfOf(first === "all" ? steps : first);
      answer = (await withStepBudget(fewer, (list) => ctx.api.data(distributionRequest(unit, list, ctx.classes)))).answer;
    }
    const content = distributionContent(answer, unit, options, {
      run,
      color: colorOf(ctx, run),
      classes: source.perSample ? ctx.classes : undefined,
      totalSteps: steps.length,
    });
    return withNotes(content, answer);
  },
  merge: mergeDistributions,
};
