// Runtime Statistics: inference time, size on disk, parameters, peak memory and time per step of
// the models, from the runtime statistics the Keras callback logs (`model.runtime`). Several models:
// one small bar chart per quantity; one model: a table.

import type { TopLevelSpec } from "vega-lite";
import type { Model } from "../../types";
import type { Tool, WidgetContent } from "../types";
import { modelsOf } from "./shared/models";
import { perModelBarsSpec } from "./shared/perModelBars";
import { finiteNumber, readableUnit } from "./shared/quantities";
import { appliesToModels } from "./shared/unitPredicates";

export interface RuntimeRow extends Record<string, unknown> {
  model: string;
  /** The field of `model.runtime` ("inference_seconds_per_sample", "params.total", ...). */
  field: string;
  /** What is measured: "inference / sample". */
  name: string;
  /** What is shown, with its unit: "inference / sample (ms)". */
  quantity: string;
  /** The value in the shown unit (ms, MB, kB, s, count). */
  value: number;
  unit: string;
  /** The value as logged (seconds, bytes, count). */
  raw: number;
}

interface RuntimeField {
  field: string;
  read(runtime: Record<string, unknown>, model: Model): number | null;
  name(runtime: Record<string, unknown>): string;
  kind: "bytes" | "seconds" | "count";
}

function stepUnit(runtime: Record<string, unknown>): string {
  return typeof runtime.step_unit === "string" && runtime.step_unit ? runtime.step_unit : "step";
}

/** The quantities shown, in order. */
export const RUNTIME_FIELDS: RuntimeField[] = [
  {
    field: "inference_seconds_per_sample",
    read: (r) => finiteNumber(r.inference_seconds_per_sample),
    name: () => "inference / sample",
    kind: "seconds",
  },
  { field: "save_size_bytes", read: (r) => finiteNumber(r.save_size_bytes), name: () => "save size", kind: "bytes" },
  {
    field: "params.total",
    read: (r, model) =>
      finiteNumber((r.params as { total?: unknown } | undefined)?.total) ?? finiteNumber(model.params?.total) ?? null,
    name: () => "parameters",
    kind: "count",
  },
  {
    field: "peak_memory_bytes",
    read: (r) => finiteNumber(r.peak_memory_bytes),
    name: () => "peak memory",
    kind: "bytes",
  },
  {
    field: "seconds_since_last_step",
    read: (r) => finiteNumber(r.seconds_since_last_step),
    name: (r) => `time per ${stepUnit(r)}`,
    kind: "seconds",
  },
];

/** A value in its unit, for people: "0.142 ms", "70.2 kB", "8,762". */
export function formatRuntimeValue(value: number, unit: string): string {
  if (!unit) return Math.round(value).toLocaleString("en-US");
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

export function runtimeRows(models: Model[]): RuntimeRow[] {
  const rows: RuntimeRow[] = [];
  for (const field of RUNTIME_FIELDS) {
    const found: { model: Model; raw: number; runtime: Record<string, unknown> }[] = [];
    for (const model of models) {
      const runtime = model.runtime;
      const raw = runtime ? field.read(runtime, model) : null;
      if (runtime && raw !== null) found.push({ model, raw, runtime });
    }
    if (!found.length) continue;
    const [unit, factor] = readableUnit(field.kind, found.map((f) => f.raw));
    for (const { model, raw, runtime } of found) {
      rows.push({
        model: model.run,
        field: field.field,
        name: field.name(runtime),
        quantity: field.name(runtime) + (unit ? ` (${unit})` : ""),
        value: raw * factor,
        unit,
        raw,
      });
    }
  }
  return rows;
}

export function runtimeStatisticsContent(models: Model[], colors: Map<string, string>): WidgetContent {
  const rows = runtimeRows(models);
  const present = models.map((m) => m.run).filter((run) => rows.some((r) => r.model === run));
  const missing = models.map((m) => m.run).filter((run) => !present.includes(run));
  const quantities = [...new Set(rows.map((r) => r.quantity))];
  const measuredAt = models
    .map((m) => finiteNumber(m.runtime?.inference_measured_at_step))
    .filter((s): s is number => s !== null);
  const note = missing.length ? `; no runtime statistics: ${missing.join(", ")}` : "";
  if (present.length <= 1) {
    const table = rows.map((r) => ({ ...r, text: formatRuntimeValue(r.value, r.unit) }));
    const names = [...new Set(rows.map((r) => r.name))];
    const spec: TopLevelSpec = {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      data: { name: "table" },
      width: 110,
      height: { step: 20 },
      mark: { type: "text", align: "left", baseline: "middle", fontSize: 12 },
      encoding: {
        y: {
          field: "name",
          type: "nominal",
          sort: names,
          title: null,
          axis: { domain: false, ticks: false, labelFontSize: 11, labelLimit: 240, labelPadding: 8 },
        },
        x: { value: 0 },
        text: { field: "text", type: "nominal" },
        tooltip: [
          { field: "field", type: "nominal", title: "logged as" },
          { field: "raw", type: "quantitative", title: "value" },
        ],
      },
      config: { view: { stroke: null } },
    };
    return {
      spec,
      rows: table,
      seriesField: "model",
      caption:
        (present.length ? `${present[0]}` : "no runtime statistics") +
        (measuredAt.length ? `; inference measured at step ${measuredAt[0]}` : "") +
        note,
    };
  }
  const spec = perModelBarsSpec(present, colors, {
    facet: { field: "quantity", sort: quantities, header: { labelFontSize: 10, labelLimit: 125 } },
    columns: 3,
    width: 90,
    height: 70,
    tickCount: 3,
    tooltip: [
      { field: "model", type: "nominal" },
      { field: "quantity", type: "nominal" },
      { field: "value", type: "quantitative", format: ",.4~f" },
    ],
  });
  return {
    spec,
    rows,
    seriesField: "model",
    caption: `${present.length} models` + (measuredAt.length ? `; inference measured at step ${Math.min(...measuredAt)}` : "") + note,
  };
}

export const runtimeStatisticsTool: Tool = {
  id: "runtime-statistics",
  name: "Runtime Statistics",
  category: "Performance",
  description:
    "Inference time per sample, save size, parameters, peak memory and time per step of the models (runtime statistics logged by the callback).",
  // A stopwatch.
  icon: "M9 1h6v2H9V1zm2 8h2v5h-2V9zm8.03-1.39l1.42-1.42-1.41-1.41-1.42 1.42A8.96 8.96 0 0 0 12 4a9 9 0 1 0 9 9c0-2.12-.74-4.07-1.97-5.39zM12 20a7 7 0 1 1 0-14 7 7 0 0 1 0 14z",
  appliesTo: appliesToModels,
  classDependent: false,
  async load(unit, ctx) {
    const models = modelsOf(unit, ctx);
    const content = runtimeStatisticsContent(models, ctx.colors);
    if (!content.rows.length) throw new Error(`${unit.label}: no runtime statistics logged`);
    return content;
  },
};
