// The "anything abnormal" measure's top list: the most abnormal layers (of every model at L3, of the
// model shown at L2), each with the indicator that drove its score and the widget that shows the evidence.
// Pure: app.ts renders the entries and opens the widget.

import type { InterestingnessAnswer } from "../types";
import type { UnitRef, WidgetOptions } from "../widgets/types";
import { variableKey } from "../widgets/units";

export const ABNORMAL = "abnormal";

/** Readable names of the indicators (innspector_tb/analysis/interestingness/abnormal.py). */
export const INDICATOR_NAMES: Record<string, string> = {
  scale_jump: "activation scale jump",
  scale: "activation scale",
  saturation: "saturation",
  dead_units: "dead units",
  constant_units: "constant units",
  zero_fraction: "zero fraction",
  skew: "skew",
  kurtosis: "kurtosis",
  init_scale: "initialisation scale",
  frozen: "weights never move",
  growth: "weight growth",
  non_finite: "NaN/Inf",
};

// Indicators read over the steps of training show best as a histogram over steps; the weights' ones
// (first vs last step) in the statistics table.
const STATISTICS_INDICATORS = new Set(["init_scale", "frozen", "growth"]);

export interface AbnormalEntry {
  run: string;
  layer: string;
  score: number;
  /** The driving indicator's id, or null when the answer does not say. */
  indicator: string | null;
  step: number | null;
  label: string;
  /** The tool that shows the evidence, and the unit to open it on. */
  tool: "histogram" | "statistics";
  unit: UnitRef;
  /** The histogram over the steps of training: where it started shows. */
  options: WidgetOptions;
}

interface AbnormalDetail {
  measure?: string;
  step?: number;
}

/** The evidence widget's unit: a layer's activations or one of its variables. */
function evidenceUnit(run: string, layer: string, unit: string | null, unitType: string | null): UnitRef {
  const prefix = `${layer}/`;
  const rest = unit && unit.startsWith(prefix) ? unit.slice(prefix.length) : null;
  if (rest && !(unitType ?? "").startsWith("activations") && !rest.startsWith("activations")) {
    return { kind: "variable", level: "L2", runs: [run], layer, variable: rest, key: variableKey(layer, rest), label: `${run} / ${layer} / ${rest}` };
  }
  return { kind: "layer", level: "L2", runs: [run], layer, key: `layer:${layer}`, label: `${run} / ${layer}` };
}

/** The `n` most abnormal layers of `run` (all runs when null), most abnormal first. */
export function abnormalTop(answer: InterestingnessAnswer, run: string | null, n = 5): AbnormalEntry[] {
  const units = new Map(answer.units.map((u) => [`${u.run}\u0000${u.unit}`, u]));
  const entries: AbnormalEntry[] = [];
  for (const layer of answer.layers) {
    if ((run !== null && layer.run !== run) || layer.score === null) continue;
    const top = layer.top_unit ? units.get(`${layer.run}\u0000${layer.top_unit}`) : undefined;
    const detail = (top?.detail ?? null) as AbnormalDetail | null;
    const indicator = typeof detail?.measure === "string" ? detail.measure : null;
    const step = typeof detail?.step === "number" ? detail.step : null;
    const name = indicator ? (INDICATOR_NAMES[indicator] ?? indicator) : "abnormal";
    const statistics = indicator !== null && STATISTICS_INDICATORS.has(indicator);
    entries.push({
      run: layer.run,
      layer: layer.layer,
      score: layer.score,
      indicator,
      step,
      label: `${run === null ? `${layer.run} / ` : ""}${layer.layer}: ${name}${step === null ? "" : ` (step ${step})`}`,
      tool: statistics ? "statistics" : "histogram",
      unit: evidenceUnit(layer.run, layer.layer, layer.top_unit, top?.unit_type ?? null),
      options: statistics ? {} : { step: "all" },
    });
  }
  entries.sort((a, b) => b.score - a.score);
  return entries.slice(0, n);
}
