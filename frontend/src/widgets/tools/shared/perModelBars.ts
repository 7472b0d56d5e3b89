// One bar per model in the model's colour, in small charts side by side (one per metric or quantity):
// the final metrics of Performance Metrics and the quantities of Runtime Statistics.

import type { TopLevelSpec } from "vega-lite";
import { modelColorScale } from "./seriesColors";

export interface PerModelBars {
  /** The field of the small charts (rows have `model`, `value` and this field), their order and header. */
  facet: { field: string; sort: string[]; header: Record<string, unknown> };
  columns: number;
  /** The size of each small chart. */
  width: number;
  height: number;
  /** Ticks on each value axis. */
  tickCount: number;
  tooltip: Record<string, unknown>[];
}

/** Bars of `value` by `model` (in the order of `runs`), each value axis on its own scale. */
export function perModelBarsSpec(runs: string[], colors: Map<string, string>, bars: PerModelBars): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    facet: { field: bars.facet.field, type: "nominal", sort: bars.facet.sort, title: null, header: bars.facet.header },
    columns: bars.columns,
    resolve: { scale: { y: "independent" } },
    spec: {
      width: bars.width,
      height: bars.height,
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: { field: "model", type: "nominal", sort: runs, axis: null, title: null },
        y: { field: "value", type: "quantitative", title: null, axis: { tickCount: bars.tickCount, labelFlush: true } },
        color: {
          field: "model",
          type: "nominal",
          scale: modelColorScale(runs, colors),
          legend: { orient: "bottom", title: null, columns: 3, labelLimit: 110 },
        },
        tooltip: bars.tooltip,
      },
    },
  } as TopLevelSpec;
}
