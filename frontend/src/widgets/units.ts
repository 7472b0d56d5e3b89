// From a unit drawn in the inspection panel (its data-unit key) to a unit of analysis for tools.

import type { Experiment } from "../types";
import type { UnitRef } from "./types";

export interface UnitLookup {
  level: "L3" | "L2" | "L1";
  /** The model shown at L2/L1. */
  run: string | null;
  experiments: Experiment[];
}

/**
 * The data-unit key of a layer's variable, "var:<layer>/<variable>". Layer ids hold "/" (namespaces) and so do
 * some variable names (MultiHeadAttention's "query/kernel", a Bidirectional's): the variable's "/" (and "%")
 * are escaped, so the last "/" of a key always ends the layer id. Keys of variables without "/" are unchanged.
 */
export function variableKey(layer: string, variable: string): string {
  return `var:${layer}/${variable.replace(/%/g, "%25").replace(/\//g, "%2F")}`;
}

function variableOfKey(escaped: string): string {
  return escaped.replace(/%2F/g, "/").replace(/%25/g, "%");
}

/** A UnitRef for a data-unit key, or null for what tools do not apply to (groups, plain ops). Pure. */
export function unitFromKey(key: string, where: UnitLookup): UnitRef | null {
  const colon = key.indexOf(":");
  const kind = key.slice(0, colon);
  const rest = key.slice(colon + 1);
  const run = where.run;
  switch (kind) {
    case "experiment": {
      const experiment = where.experiments.find((e) => e.id === rest);
      if (!experiment) return null;
      return { kind: "experiment", level: "L3", runs: [...experiment.runs], key, label: `experiment ${experiment.name}` };
    }
    case "model":
      return { kind: "model", level: "L3", runs: [rest], key, label: rest };
    case "layer":
      return run ? { kind: "layer", level: where.level, runs: [run], layer: rest, key, label: `${run} / ${rest}` } : null;
    case "var": {
      const slash = rest.lastIndexOf("/");
      if (!run || slash < 0) return null;
      const layer = rest.slice(0, slash);
      const variable = variableOfKey(rest.slice(slash + 1));
      return { kind: "variable", level: "L2", runs: [run], layer, variable, key, label: `${run} / ${layer} / ${variable}` };
    }
    case "op": {
      // Only a layer's activation op stands for a unit of analysis: its activations.
      const slash = rest.lastIndexOf("/");
      if (!run || slash < 0 || rest.slice(slash + 1) !== "activation") return null;
      const layer = rest.slice(0, slash);
      return { kind: "activation", level: "L2", runs: [run], layer, key, label: `${run} / ${layer} / activations` };
    }
    case "neuron": {
      const last = rest.lastIndexOf(":");
      const neuron = Number(rest.slice(last + 1));
      if (!run || last < 0 || !Number.isInteger(neuron)) return null;
      const layer = rest.slice(0, last);
      return { kind: "neuron", level: "L1", runs: [run], layer, neuron, key, label: `${run} / ${layer} / neuron ${neuron}` };
    }
    default:
      return null;
  }
}
