// Faithfulness at a glance (issue 14): the deletion curves logged with the attribution maps. For each
// method, the attributed score (1 at the input, 0 with every feature at the baseline) as the features
// its map ranks first are deleted, beside a random ranking; the area under a curve is lower when the
// map finds what the score rests on. The Attribution widget draws the mean curves and lists the areas
// of the sample shown and of the model (the mean over the attributed samples).

import type { DataAnswer } from "../../types";

export type DeletionCurves = NonNullable<NonNullable<DataAnswer["attribution"]>["deletion"]>;

export const RANDOM_LABEL = "random ranking";

export interface CurveRow {
  image: "deletion";
  method: string;
  fraction: number;
  score: number;
  chosen: boolean;
  random: boolean;
  [key: string]: unknown;
}

/** The mean curve of every method and the random ranking as chart rows (undefined points left out). Pure. */
export function curveRows(deletion: DeletionCurves, label: (method: string) => string, chosen: string): CurveRow[] {
  const rows: CurveRow[] = [];
  for (const curve of deletion.curves) {
    const random = curve.method === "random";
    curve.mean.forEach((score, k) => {
      if (score === null || !Number.isFinite(score)) return;
      const name = random ? RANDOM_LABEL : label(curve.method);
      rows.push({ image: "deletion", method: name, fraction: deletion.fractions[k], score, chosen: curve.method === chosen, random });
    });
  }
  return rows;
}

/** A line chart of the curves: the chosen method thick, the random ranking dashed. */
export function curvesLayer(size: number): Record<string, unknown> {
  return {
    transform: [{ filter: "datum.image === 'deletion'" }],
    width: size,
    height: Math.round(size * 0.55),
    title: "deletion curves (mean over samples)",
    mark: { type: "line", tooltip: true, point: false },
    encoding: {
      x: { field: "fraction", type: "quantitative", title: "fraction deleted, most relevant first", scale: { domain: [0, 1] } },
      y: { field: "score", type: "quantitative", title: "score (1: input, 0: baseline)" },
      // Below the chart: a widget is narrower than the maps and a legend beside them.
      color: { field: "method", type: "nominal", title: null, legend: { orient: "bottom", columns: 2, symbolType: "stroke" } },
      strokeDash: { field: "random", type: "nominal", legend: null, scale: { domain: [false, true], range: [[1, 0], [4, 3]] } },
      strokeWidth: { condition: { test: "datum.chosen", value: 3 }, value: 1.2 },
    },
  };
}

export interface AreaRow {
  method: string;
  label: string;
  sample: number | null;
  model: number | null;
}

/** Each ranking's area for the sample at `row` of the answer and for the model, lowest model area first. Pure. */
export function areaRows(deletion: DeletionCurves, row: number, label: (method: string) => string): AreaRow[] {
  return deletion.curves
    .map((c) => ({
      method: c.method,
      label: c.method === "random" ? RANDOM_LABEL : label(c.method),
      sample: c.auc[row] ?? null,
      model: c.model_auc,
    }))
    .sort((a, b) => (a.model ?? Infinity) - (b.model ?? Infinity) || a.label.localeCompare(b.label));
}

/** Two decimals and a third: areas differ in the second decimal. */
export function formatArea(value: number | null): string {
  return value === null ? "–" : value.toFixed(3);
}

/** The table of areas: one row per method (data-method), the chosen one marked, the random ranking's last note. */
export function areaTable(deletion: DeletionCurves, row: number, sample: number, chosen: string, label: (method: string) => string): HTMLElement {
  const table = document.createElement("table");
  table.className = "inn-deletion-areas inn-small";
  table.style.borderCollapse = "collapse";
  table.style.marginTop = "4px";
  const head = table.createTHead().insertRow();
  for (const text of ["area under the deletion curve", `sample #${sample}`, "model (mean)"]) {
    const th = document.createElement("th");
    th.textContent = text;
    th.style.padding = "0 6px";
    th.style.textAlign = "left";
    head.append(th);
  }
  const body = table.createTBody();
  for (const area of areaRows(deletion, row, label)) {
    const tr = body.insertRow();
    tr.dataset.method = area.method;
    if (area.method === chosen) {
      tr.className = "inn-chosen";
      tr.style.fontWeight = "600";
    }
    tr.insertCell().textContent = area.label;
    for (const [kind, value] of [["sample", area.sample], ["model", area.model]] as const) {
      const td = tr.insertCell();
      td.className = `inn-area-${kind}`;
      td.dataset.value = value === null ? "" : String(value);
      td.textContent = formatArea(value);
      td.style.textAlign = "right";
      td.style.padding = "0 6px";
    }
  }
  table.title =
    "Lower is more faithful: the score falls sooner when the features the map ranks first are deleted " +
    `(set to the baseline ${deletion.baseline ?? ""}). Compare with the random ranking.`;
  return table;
}
