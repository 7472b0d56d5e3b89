// Units of analysis (a variable, a layer's activations, one neuron) as the `data` route reads them.

import type { DataRequest } from "../../../types";
import type { UnitRef } from "../../types";

/** Where the data of a unit is read: the `unit` of a data request plus ops to apply first. */
export interface DataSource {
  unit: DataRequest["unit"];
  /** Ops applied before the tool's own (a neuron: select its index along the last axis). */
  pre: Record<string, unknown>[];
  /** Per-sample data, so the class selection applies. */
  perSample: boolean;
  /** For captions: "kernel", "activations", "neuron 3". */
  what: string;
  /** The `statistics`/`histogram` unit name: "conv_1/kernel", "conv_1/activations" (not for neurons). */
  statsUnit: string | null;
}

export function dataSource(unit: UnitRef): DataSource | null {
  const layer = unit.layer;
  if (!layer) return null;
  switch (unit.kind) {
    case "variable":
      if (!unit.variable) return null;
      return { unit: { kind: "weights", layer, variable: unit.variable }, pre: [], perSample: false, what: unit.variable, statsUnit: `${layer}/${unit.variable}` };
    case "activation":
    case "layer":
      return { unit: { kind: "activations", layer }, pre: [], perSample: true, what: "activations", statsUnit: `${layer}/activations` };
    case "neuron":
      if (typeof unit.neuron !== "number") return null;
      return {
        unit: { kind: "activations", layer },
        pre: [{ op: "select", indices: [unit.neuron], axis: -1 }],
        perSample: true,
        what: `neuron ${unit.neuron}`,
        statsUnit: null,
      };
    default:
      return null;
  }
}

/** A request of a unit's data: the source's own ops, then `ops`; the class selection applies to per-sample data. */
export function sourceRequest(unit: UnitRef, steps: DataRequest["steps"], ops: Record<string, unknown>[], classes: string[] | null): DataRequest {
  const source = dataSource(unit);
  if (!source) throw new Error(`no data for ${unit.label}`);
  const request: DataRequest = { run: unit.runs[0], unit: source.unit, steps, transform: [...source.pre, ...ops] };
  if (source.perSample && classes) request.classes = classes;
  return request;
}
