// A true class × predicted class heatmap, light to dark blue, with the values written in the cells:
// the Confusion Matrix (counts) and Class Probabilities (mean predicted probabilities).

import type { TopLevelSpec } from "vega-lite";

type Json = Record<string, unknown>;

export interface ClassHeatmap {
  /** Class names of the columns (rows have a `predicted` field) and of the rows (a `true` field), in order. */
  predicted: string[];
  true: string[];
  width: number;
  titles: { predicted: string; true: string };
  /** The field coloured, the domain of its scale, and its legend (null: none). */
  value: { field: string; domain: [number, number]; legend: Json | null };
  /** More encodings of the cells (after the colour, before the tooltip). */
  cell?: Json;
  tooltip: Json[];
  /** The values written in the cells: a filter of the cells written, the font size, the number format. */
  labels: { filter: string; fontSize: number; format?: string };
}

/** The spec; cells darker than the middle of the domain get white text. */
export function classHeatmapSpec(heatmap: ClassHeatmap): TopLevelSpec {
  const { field, domain, legend } = heatmap.value;
  const { filter, fontSize, format } = heatmap.labels;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    width: heatmap.width,
    height: 20 * Math.max(1, heatmap.true.length),
    encoding: {
      x: { field: "predicted", type: "ordinal", sort: heatmap.predicted, title: heatmap.titles.predicted, axis: { orient: "top", labelAngle: 0 } },
      y: { field: "true", type: "ordinal", sort: heatmap.true, title: heatmap.titles.true },
    },
    layer: [
      {
        mark: { type: "rect", tooltip: true },
        encoding: {
          color: { field, type: "quantitative", scale: { range: ["#f4f8fc", "#08519c"], domain }, legend },
          ...heatmap.cell,
          tooltip: heatmap.tooltip,
        },
      },
      {
        transform: [{ filter }],
        mark: { type: "text", fontSize },
        encoding: {
          text: { field, type: "quantitative", ...(format ? { format } : {}) },
          color: { condition: { test: `datum.${field} > ${(domain[0] + domain[1]) / 2}`, value: "white" }, value: "black" },
        },
      },
    ],
    config: { view: { stroke: null }, axis: { ticks: false, domain: false } },
  } as TopLevelSpec;
}
