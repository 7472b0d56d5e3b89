// Colours of series: each model's own colour, unless another series of the chart took it.

import type { ToolContext } from "../../types";

/** The fallback palette for series that would otherwise share a model's colour. */
export const SERIES_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/** A model's colour (grey when unknown). */
export function colorOf(ctx: Pick<ToolContext, "colors">, run: string): string {
  return ctx.colors.get(run) ?? "#4e79a7";
}

/** An explicit colour scale for series, each with its model's colour unless another series took it. */
export function seriesColorScale(series: { name: string; color?: string }[]): { domain: string[]; range: string[] } {
  const domain: string[] = [];
  const range: string[] = [];
  for (const s of series) {
    if (domain.includes(s.name)) continue;
    let color = s.color && !range.includes(s.color) ? s.color : undefined;
    color ??= SERIES_PALETTE.find((c) => !range.includes(c)) ?? SERIES_PALETTE[domain.length % SERIES_PALETTE.length];
    domain.push(s.name);
    range.push(color);
  }
  return { domain, range };
}

/** Series of rows (in order of appearance) with the colour of their first row. */
export function seriesOf(rows: Record<string, unknown>[], field: string): { name: string; color?: string }[] {
  const seen = new Map<string, string | undefined>();
  for (const row of rows) {
    const name = String(row[field]);
    if (!seen.has(name)) seen.set(name, typeof row.color === "string" ? row.color : undefined);
  }
  return [...seen].map(([name, color]) => ({ name, color }));
}

/** The explicit colour scale of one series per model: the panel's colour of each model (grey when unknown). */
export function modelColorScale(runs: string[], colors: Map<string, string>): { domain: string[]; range: string[] } {
  return { domain: runs, range: runs.map((run) => colors.get(run) ?? "#888888") };
}
