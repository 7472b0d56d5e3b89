// Model Save Size: each model's size on disk (the saved .keras file) next to its trainable parameter
// count, one bar per model in the model's colour.

import type { TopLevelSpec } from "vega-lite";
import type { Model, RuntimeStats } from "../../types";
import type { Tool, WidgetContent } from "../types";
import { modelsOf } from "./shared/models";
import { finiteNumber, readableUnit } from "./shared/quantities";
import { modelColorScale } from "./shared/seriesColors";
import { appliesToModels } from "./shared/unitPredicates";

type Json = Record<string, unknown>;

export interface SaveSizeRow extends Record<string, unknown> {
  model: string;
  save_size_bytes: number | null;
  /** The save size in `size_unit` (kB or MB, the same for every row). */
  save_size: number | null;
  size_unit: string;
  save_format: string | null;
  trainable_params: number | null;
  non_trainable_params: number | null;
}

export function saveSizeRows(models: Model[]): SaveSizeRow[] {
  const found = models.map((model) => {
    const runtime: Partial<RuntimeStats> = model.runtime ?? {};
    const runtimeParams = (runtime.params ?? null) as { trainable?: unknown; non_trainable?: unknown } | null;
    return {
      model: model.run,
      bytes: finiteNumber(runtime.save_size_bytes),
      format: typeof runtime.save_format === "string" ? runtime.save_format : null,
      trainable: finiteNumber(model.params?.trainable) ?? finiteNumber(runtimeParams?.trainable),
      nonTrainable: finiteNumber(model.params?.non_trainable) ?? finiteNumber(runtimeParams?.non_trainable),
    };
  });
  const known = found.filter((f) => f.bytes !== null || f.trainable !== null);
  const [unit, factor] = readableUnit("bytes", known.flatMap((f) => (f.bytes === null ? [] : [f.bytes])));
  return known.map((f) => ({
    model: f.model,
    save_size_bytes: f.bytes,
    save_size: f.bytes === null ? null : f.bytes * factor,
    size_unit: unit,
    save_format: f.format,
    trainable_params: f.trainable,
    non_trainable_params: f.nonTrainable,
  }));
}

/** The pure mapping: two bar charts side by side, save size and trainable parameters, per model. */
export function modelSaveSizeContent(models: Model[], colors: Map<string, string>): WidgetContent {
  const rows = saveSizeRows(models);
  const runs = rows.map((r) => r.model);
  const unit = rows[0]?.size_unit ?? "kB";
  const missing = models.map((m) => m.run).filter((run) => !runs.includes(run));
  const color = { field: "model", type: "nominal", scale: modelColorScale(runs, colors), legend: null };
  const label = { type: "text", align: "left", baseline: "middle", dx: 3, fontSize: 10 };
  /** One of the charts: a horizontal bar per model, its value written beside it. */
  const bars = (chart: { width: number; title: string; transform: Json[]; yAxis: Json | null; x: Json; tooltip: Json[]; text: Json }) => ({
    width: chart.width,
    height: { step: 16 },
    title: { text: chart.title, fontSize: 11, fontWeight: "normal" },
    transform: chart.transform,
    encoding: {
      y: { field: "model", type: "nominal", sort: runs, title: null, axis: chart.yAxis },
      x: chart.x,
    },
    layer: [
      { mark: { type: "bar", tooltip: true }, encoding: { color, tooltip: chart.tooltip } },
      { mark: label, encoding: { text: chart.text } },
    ],
  });
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    hconcat: [
      bars({
        width: 110,
        title: `save size (${unit})`,
        transform: [
          { filter: "isValid(datum.save_size)" },
          { calculate: `format(datum.save_size, '.1f') + ' ${unit}'`, as: "size_label" },
        ],
        yAxis: { labelLimit: 110 },
        x: { field: "save_size", type: "quantitative", title: null, axis: { tickCount: 3, grid: false } },
        tooltip: [
          { field: "model", type: "nominal" },
          { field: "save_size_bytes", type: "quantitative", title: "bytes", format: "," },
          { field: "save_format", type: "nominal", title: "format" },
        ],
        text: { field: "size_label", type: "nominal" },
      }),
      bars({
        width: 100,
        title: "trainable parameters",
        transform: [{ filter: "isValid(datum.trainable_params)" }],
        yAxis: null,
        x: { field: "trainable_params", type: "quantitative", title: null, axis: { tickCount: 3, format: "~s", grid: false } },
        tooltip: [
          { field: "model", type: "nominal" },
          { field: "trainable_params", type: "quantitative", title: "trainable", format: "," },
          { field: "non_trainable_params", type: "quantitative", title: "non-trainable", format: "," },
        ],
        text: { field: "trainable_params", type: "quantitative", format: ".3~s" },
      }),
    ],
    resolve: { scale: { y: "shared" } },
    config: { view: { stroke: null } },
  } as unknown as TopLevelSpec;
  return {
    spec,
    rows,
    seriesField: "model",
    caption:
      (runs.length === 1 ? runs[0] : `${runs.length} models`) +
      (missing.length ? `; nothing logged for ${missing.join(", ")}` : ""),
  };
}

export const modelSaveSizeTool: Tool = {
  id: "model-save-size",
  name: "Model Save Size",
  category: "Performance",
  description: "Size of each model on disk (saved .keras file) and its number of trainable parameters.",
  // A floppy disk.
  icon: "M17 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V7l-4-4zm-5 16a3 3 0 1 1 0-6 3 3 0 0 1 0 6zm3-10H5V5h10v4z",
  appliesTo: appliesToModels,
  classDependent: false,
  async load(unit, ctx) {
    const models = modelsOf(unit, ctx);
    const content = modelSaveSizeContent(models, ctx.colors);
    if (!content.rows.length) throw new Error(`${unit.label}: no save size or parameter count logged`);
    return content;
  },
};
