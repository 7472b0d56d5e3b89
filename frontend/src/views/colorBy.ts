// Colouring the tree of models by a hyper-parameter or a final metric (L3): which options the models
// offer, and the colour of each model under one. Numbers get the blue-to-red scale over their range,
// other values a colour each; a model without the value is grey. The model's own colour (its stripe and
// its series in widgets) does not change.

import { divergingColor, MISSING_COLOR, modelColors } from "../colors";
import type { Model } from "../types";

export interface ColorByOption {
  /** "hparam:<name>" or "metric:<name>". */
  key: string;
  label: string;
}

export function colorByOptions(models: Model[]): ColorByOption[] {
  const hparams = new Set<string>();
  const metrics = new Set<string>();
  for (const model of models) {
    for (const [name, value] of Object.entries(model.hparams ?? {})) if (value !== null && typeof value !== "object") hparams.add(name);
    for (const name of Object.keys(model.latest_metrics ?? {})) metrics.add(name);
  }
  return [
    ...[...hparams].sort().map((name) => ({ key: `hparam:${name}`, label: `hyper-parameter ${name}` })),
    ...[...metrics].sort().map((name) => ({ key: `metric:${name}`, label: `final ${name}` })),
  ];
}

function valueOf(model: Model, key: string): unknown {
  const [kind, ...rest] = key.split(":");
  const name = rest.join(":");
  if (kind === "hparam") return (model.hparams ?? {})[name];
  if (kind === "metric") return model.latest_metrics?.[name]?.value;
  return undefined;
}

/** A colour mixed with white (share 0..1 of white): a box fill its text stays readable on. */
export function tint(color: string, white = 0.55): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const channels = [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16));
  return "#" + channels.map((c) => Math.round(c + (255 - c) * white).toString(16).padStart(2, "0")).join("");
}

/** The fill of each model's box under an option (see tint for the box), and a legend line. */
export function colorsBy(models: Model[], key: string): { fills: Map<string, string>; legend: string } {
  const values = new Map(models.map((m) => [m.run, valueOf(m, key)]));
  const numbers = [...values.values()].filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const fills = new Map<string, string>();
  const present = [...values.values()].filter((v) => v !== undefined && v !== null);
  if (present.length && numbers.length === present.length) {
    const lo = Math.min(...numbers);
    const hi = Math.max(...numbers);
    for (const [run, v] of values) fills.set(run, typeof v === "number" && Number.isFinite(v) ? divergingColor(hi > lo ? (v - lo) / (hi - lo) : 0.5) : MISSING_COLOR);
    return { fills, legend: `blue ${formatValue(lo)} … red ${formatValue(hi)}; grey: no value` };
  }
  const categories = modelColors(present.map((v) => String(v)));
  for (const [run, v] of values) fills.set(run, v === undefined || v === null ? MISSING_COLOR : categories.get(String(v)) ?? MISSING_COLOR);
  const legend = [...categories.keys()].slice(0, 8).join(", ") + (categories.size > 8 ? ", …" : "");
  return { fills, legend: `${categories.size} values: ${legend}; grey: no value` };
}

function formatValue(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}
