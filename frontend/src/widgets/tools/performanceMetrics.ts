// Performance Metrics: the final metrics of several models side by side, or the training and
// validation curves of one model over its steps (mergeable: several models' curves in one chart).

import type { TopLevelSpec } from "vega-lite";
import type { MetricsAnswer, Model } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetOptions } from "../types";
import { modelsOf } from "./shared/models";
import { perModelBarsSpec } from "./shared/perModelBars";
import { modelColorScale } from "./shared/seriesColors";
import { appliesToModels } from "./shared/unitPredicates";

/** Every `color` scale with a domain and range found in a spec: run -> colour (for merging widgets). */
export function colorsInSpec(spec: unknown, into: Map<string, string> = new Map()): Map<string, string> {
  if (Array.isArray(spec)) {
    for (const item of spec) colorsInSpec(item, into);
  } else if (spec && typeof spec === "object") {
    for (const [key, value] of Object.entries(spec as Record<string, unknown>)) {
      const scale = key === "color" ? (value as { scale?: { domain?: unknown; range?: unknown } })?.scale : undefined;
      if (scale && Array.isArray(scale.domain) && Array.isArray(scale.range)) {
        scale.domain.forEach((name, i) => {
          const color = (scale.range as unknown[])[i];
          if (typeof name === "string" && typeof color === "string" && !into.has(name)) into.set(name, color);
        });
      }
      colorsInSpec(value, into);
    }
  }
  return into;
}

/** The metric a series belongs to: "val_loss" -> "loss". */
export function baseMetric(name: string): string {
  return name.startsWith("val_") ? name.slice(4) : name;
}

function metricRank(name: string): [number, string, number] {
  const base = baseMetric(name);
  return [base === "loss" ? 0 : 1, base, name.startsWith("val_") ? 1 : 0];
}

/** Metric names in reading order: loss first, then alphabetically; training before validation. */
export function sortMetrics(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => {
    const [ra, rb] = [metricRank(a), metricRank(b)];
    return ra[0] - rb[0] || (ra[1] < rb[1] ? -1 : ra[1] > rb[1] ? 1 : 0) || ra[2] - rb[2];
  });
}

function extent(values: number[]): [number, number] | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return undefined;
  return [Math.min(...finite), Math.max(...finite)];
}

export interface FinalMetricRow extends Record<string, unknown> {
  model: string;
  metric: string;
  step: number;
  value: number;
}

export interface CurveRow extends Record<string, unknown> {
  model: string;
  /** The base metric ("loss" for both loss and val_loss): one facet each. */
  metric: string;
  /** The logged series ("val_loss"). */
  series: string;
  split: "train" | "validation";
  step: number;
  value: number;
}

/** Final metrics of several models (grouped bars, one group per metric, one bar per model). */
export function finalMetricsContent(models: Model[], colors: Map<string, string>): WidgetContent {
  const rows: FinalMetricRow[] = [];
  for (const model of models) {
    for (const metric of sortMetrics(Object.keys(model.latest_metrics ?? {}))) {
      const point = model.latest_metrics[metric];
      if (point && typeof point.value === "number" && Number.isFinite(point.value)) {
        rows.push({ model: model.run, metric, step: point.step, value: point.value });
      }
    }
  }
  return finalMetricsFromRows(rows, models.map((m) => m.run), colors);
}

function finalMetricsFromRows(rows: FinalMetricRow[], runs: string[], colors: Map<string, string>): WidgetContent {
  const metrics = sortMetrics(rows.map((r) => r.metric));
  const present = runs.filter((run) => rows.some((r) => r.model === run));
  const missing = runs.filter((run) => !present.includes(run));
  const columns = metrics.length <= 1 ? 1 : metrics.length <= 4 ? 2 : 3;
  const spec = perModelBarsSpec(present, colors, {
    facet: { field: "metric", sort: metrics, header: { labelFontSize: 11 } },
    columns,
    width: columns === 1 ? 260 : Math.floor(270 / columns),
    height: 80,
    tickCount: 4,
    tooltip: [
      { field: "model", type: "nominal" },
      { field: "metric", type: "nominal" },
      { field: "value", type: "quantitative", format: ".4f" },
      { field: "step", type: "quantitative" },
    ],
  });
  const y = extent(rows.map((r) => r.value));
  return {
    spec,
    rows,
    seriesField: "model",
    extents: y ? { y: [Math.min(0, y[0]), Math.max(0, y[1])] } : {},
    caption:
      `final metrics of ${present.length} model${present.length === 1 ? "" : "s"}` +
      (missing.length ? `; no metrics: ${missing.join(", ")}` : ""),
  };
}

/** Training and validation curves of one or more models over their steps. */
export function metricCurvesContent(
  answer: MetricsAnswer,
  runs: string[],
  colors: Map<string, string>,
  options: WidgetOptions = {},
): WidgetContent {
  const rows: CurveRow[] = [];
  for (const run of runs) {
    const series = answer.runs[run]?.series ?? {};
    for (const name of sortMetrics(Object.keys(series))) {
      for (const [step, value] of series[name]) {
        if (value === null || !Number.isFinite(value)) continue;
        rows.push({
          model: run,
          metric: baseMetric(name),
          series: name,
          split: name.startsWith("val_") ? "validation" : "train",
          step,
          value,
        });
      }
    }
  }
  return curvesFromRows(rows, runs, colors, options);
}

function curvesFromRows(
  rows: CurveRow[],
  runs: string[],
  colors: Map<string, string>,
  options: WidgetOptions = {},
): WidgetContent {
  const present = runs.filter((run) => rows.some((r) => r.model === run));
  const metrics = sortMetrics(rows.map((r) => r.metric));
  const columns = metrics.length > 1 ? 2 : 1;
  const x = extent(rows.map((r) => r.step));
  const y = extent(rows.map((r) => r.value));
  const xScale = options.xDomain ? { domain: options.xDomain } : {};
  const yScale = options.yDomain ? { domain: options.yDomain, zero: false } : { zero: false };
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    facet: { field: "metric", type: "nominal", sort: metrics, title: null, header: { labelFontSize: 11 } },
    columns,
    resolve: { scale: { y: options.yDomain ? "shared" : "independent" } },
    spec: {
      width: columns === 1 ? 270 : 130,
      height: columns === 1 ? 150 : 90,
      encoding: {
        x: {
          field: "step",
          type: "quantitative",
          title: "step",
          scale: xScale,
          axis: { tickMinStep: 1, format: "d" },
        },
        y: { field: "value", type: "quantitative", title: null, scale: yScale, axis: { tickCount: 4, labelFlush: true } },
        color: {
          field: "model",
          type: "nominal",
          scale: modelColorScale(present, colors),
          legend: present.length > 1 ? { orient: "bottom", title: null, columns: 3, labelLimit: 110 } : null,
        },
        detail: { field: "series", type: "nominal" },
        tooltip: [
          { field: "model", type: "nominal" },
          { field: "series", type: "nominal", title: "metric" },
          { field: "step", type: "quantitative" },
          { field: "value", type: "quantitative", format: ".4f" },
        ],
      },
      // Lines and points in separate layers, so the dash legend shows strokes (a line's point overlay hides them).
      layer: [
        {
          mark: { type: "line", strokeWidth: 1.5 },
          encoding: {
            strokeDash: {
              field: "split",
              type: "nominal",
              scale: { domain: ["train", "validation"], range: [[1, 0], [4, 3]] },
              legend: { orient: "bottom", title: null, symbolType: "stroke", symbolStrokeColor: "#555" },
            },
          },
        },
        { mark: { type: "point", filled: true, size: 18, tooltip: true } },
      ],
    },
  };
  const missing = runs.filter((run) => !present.includes(run));
  return {
    spec,
    rows,
    seriesField: "model",
    extents: { ...(x ? { x } : {}), ...(y ? { y } : {}) },
    caption:
      (present.length === 1 ? `${present[0]}: ` : `${present.length} models: `) +
      `${metrics.join(", ")} over steps (dashed: validation)` +
      (missing.length ? `; no metrics: ${missing.join(", ")}` : ""),
  };
}

/**
 * The pure mapping of the tool: several runs -> final metrics; one run -> its curves (needs `metrics`).
 */
export function performanceMetricsContent(
  models: Model[],
  metrics: MetricsAnswer | null,
  colors: Map<string, string>,
  options: WidgetOptions = {},
): WidgetContent {
  if (models.length !== 1) return finalMetricsContent(models, colors);
  if (!metrics) throw new Error("the metrics of the model are needed for its curves");
  return metricCurvesContent(
    metrics,
    models.map((m) => m.run),
    colors,
    options,
  );
}

/** Merges widgets: every part's curves in one chart (colour by model, dash by split), or final bars. */
export function mergePerformanceMetrics(parts: { unit: UnitRef; content: WidgetContent }[]): WidgetContent {
  const colors = new Map<string, string>();
  for (const part of parts) colorsInSpec(part.content.spec, colors);
  const runs: string[] = [];
  const addRun = (run: string) => {
    if (!runs.includes(run)) runs.push(run);
  };
  for (const part of parts) {
    for (const run of part.unit.runs) addRun(run);
    for (const row of part.content.rows) addRun(String(row.model));
  }
  const isCurve = (row: Record<string, unknown>) => "split" in row;
  const allCurves = parts.every((part) => part.content.rows.every(isCurve));
  if (allCurves) {
    const seen = new Set<string>();
    const rows: CurveRow[] = [];
    for (const part of parts) {
      for (const row of part.content.rows as CurveRow[]) {
        const key = `${row.model}\u0000${row.series}\u0000${row.step}`;
        if (seen.has(key)) continue;
        seen.add(key);
        rows.push(row);
      }
    }
    return curvesFromRows(rows, runs, colors);
  }
  // Mixed or final: the last point of each curve stands for the final value of its series.
  const last = new Map<string, FinalMetricRow>();
  for (const part of parts) {
    for (const row of part.content.rows) {
      const entry: FinalMetricRow = isCurve(row)
        ? { model: String(row.model), metric: String(row.series), step: Number(row.step), value: Number(row.value) }
        : (row as FinalMetricRow);
      const key = `${entry.model}\u0000${entry.metric}`;
      const previous = last.get(key);
      if (!previous || entry.step >= previous.step) last.set(key, entry);
    }
  }
  return finalMetricsFromRows([...last.values()], runs, colors);
}

export const performanceMetricsTool: Tool = {
  id: "performance-metrics",
  plainRuns: true,
  name: "Performance Metrics",
  category: "Performance",
  description:
    "Final metrics of the models side by side (several models), or training and validation curves over the steps (one model). Merge widgets to compare curves.",
  // A rising line chart over axes.
  icon: "M3 3v18h18v-2H5V3H3zm4 13l4-5 3 3 5-7 1.6 1.2-6.4 8.9-3-3-2.6 3.3L7 16z",
  appliesTo: appliesToModels,
  classDependent: false,
  async load(unit, ctx, options) {
    const models = modelsOf(unit, ctx);
    if (!models.length) throw new Error(`no model found for ${unit.label}`);
    const metrics = models.length === 1 ? await ctx.api.metrics([models[0].run]) : null;
    const content = performanceMetricsContent(models, metrics, ctx.colors, options);
    if (!content.rows.length) throw new Error(`${unit.label}: no metrics logged`);
    return content;
  },
  merge: mergePerformanceMetrics,
};
