// Vega-Lite spec helpers shared by the tools: the common configuration, scales honouring a common
// domain, a diverging colour scale symmetric around 0, and the extents of values.

import { divergingColor } from "../../../colors";

/** A small common configuration: compact axes, no view border. */
export const CHART_CONFIG = {
  view: { stroke: null },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: "normal" },
  legend: { labelFontSize: 10, titleFontSize: 10, symbolSize: 60 },
  header: { labelFontSize: 10, titleFontSize: 10 },
};

/** The largest absolute finite value (1 when there is none or all are 0). */
export function maxAbs(values: Iterable<unknown>): number {
  let m = 0;
  for (const v of values) if (typeof v === "number" && Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m > 0 ? m : 1;
}

/** A Vega-Lite colour scale in the project's blue-white-red colours, symmetric around 0. */
export function divergingScale(max: number): Record<string, unknown> {
  const stops = 7;
  const domain = Array.from({ length: stops }, (_, i) => -max + (2 * max * i) / (stops - 1));
  const range = Array.from({ length: stops }, (_, i) => divergingColor(i / (stops - 1)));
  return { type: "linear", domain, range, clamp: true };
}

/** [min, max] of the finite numbers (null when there is none). */
export function extentOf(values: Iterable<unknown>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** A quantitative scale honouring a common domain set by the widget panel. */
export function scaleWith(domain: [number, number] | undefined, base: Record<string, unknown> = {}): Record<string, unknown> {
  return domain ? { ...base, domain: [...domain], nice: false, zero: false } : base;
}
