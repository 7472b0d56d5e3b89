// Colour scales: one colour per model (reused in every view), and a blue-to-red scale for
// interestingness scores and activations.

// Tableau 10 followed by its lighter companions: distinct on white, reused cyclically past 20.
const MODEL_PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e",
];

/** The colour of each model: by its position among the sorted run names, so it never depends on view order. */
export function modelColors(runs: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(runs)].sort();
  return new Map(sorted.map((run, i) => [run, MODEL_PALETTE[i % MODEL_PALETTE.length]]));
}

// ColorBrewer RdBu (reversed): blue for low, near white in the middle, red for high.
const DIVERGING: [number, number, number][] = [
  [33, 102, 172],
  [103, 169, 207],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [239, 138, 98],
  [178, 24, 43],
];

export const MISSING_COLOR = "#d0d0d0";

function hex([r, g, b]: number[]): string {
  return "#" + [r, g, b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
}

/** t in [0, 1] (clamped) to a blue-white-red colour; null or NaN (no data) is grey. */
export function divergingColor(t: number | null | undefined): string {
  if (t === null || t === undefined || !Number.isFinite(t)) return MISSING_COLOR;
  const x = Math.min(1, Math.max(0, t)) * (DIVERGING.length - 1);
  const i = Math.min(DIVERGING.length - 2, Math.floor(x));
  const f = x - i;
  const a = DIVERGING[i];
  const b = DIVERGING[i + 1];
  return hex([0, 1, 2].map((c) => a[c] + (b[c] - a[c]) * f));
}

/** Maps values onto [0, 1] by their finite min and max (all equal: 0.5). */
export function normalizer(values: Iterable<number | null>): (v: number | null) => number | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return (v) => {
    if (v === null || !Number.isFinite(v) || lo > hi) return null;
    return hi === lo ? 0.5 : (v - lo) / (hi - lo);
  };
}

/** Gradient stops for a legend of the diverging scale. */
export function legendStops(count = 7): { offset: number; color: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const offset = i / (count - 1);
    return { offset, color: divergingColor(offset) };
  });
}

/** Black or white, whichever reads better on the given background colour. */
export function textColorOn(background: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(background);
  if (!m) return "#000000";
  const [r, g, b] = m.slice(1).map((h) => parseInt(h, 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.55 ? "#000000" : "#ffffff";
}
