// What the overlays show at each level: interestingness scores per drawn unit, and localization
// badges (unit types and structures found), counted on the units that are visible. Pure.

import { representative, type ModelGraph } from "./graph/modelGraph";
import type { InterestingnessAnswer, StructuresAnswer } from "./types";
import { variableKey } from "./widgets/units";

/** The layer id at the start of a unit path ("encoder/dense_1/kernel" -> "encoder/dense_1"). */
export function layerOfUnit(unit: string, layerIds: Set<string>): string | null {
  let cut = unit.length;
  while (cut > 0) {
    const candidate = unit.slice(0, cut);
    if (layerIds.has(candidate)) return candidate;
    cut = unit.lastIndexOf("/", cut - 1);
  }
  return null;
}

/** Scores of the units of the tree of models: models and experiments. */
export function modelScores(answer: InterestingnessAnswer): Map<string, number | null> {
  const scores = new Map<string, number | null>();
  for (const m of answer.models) scores.set(`model:${m.run}`, m.score);
  for (const e of answer.experiments) scores.set(`experiment:${e.experiment}`, e.score);
  return scores;
}

/**
 * Scores of the units of one model: layers, their variables and activations, and groups (the max
 * of what they hold, so a closed block still shows the hot spot inside it).
 */
export function layerScores(answer: InterestingnessAnswer, run: string, graph: ModelGraph, open: Set<string>): Map<string, number | null> {
  const scores = new Map<string, number | null>();
  const raise = (key: string, score: number | null) => {
    const current = scores.get(key);
    if (score === null) {
      if (current === undefined) scores.set(key, null);
      return;
    }
    if (current === undefined || current === null || score > current) scores.set(key, score);
  };
  const layerIds = new Set(graph.layers.keys());
  for (const layer of answer.layers) {
    if (layer.run !== run || !layerIds.has(layer.layer)) continue;
    raise(`layer:${layer.layer}`, layer.score);
    const shown = representative(graph, layer.layer, open);
    if (shown !== layer.layer) raise(`group:${shown}`, layer.score);
  }
  for (const unit of answer.units) {
    if (unit.run !== run) continue;
    const layer = layerOfUnit(unit.unit, layerIds);
    if (!layer) continue;
    const rest = unit.unit.slice(layer.length + 1);
    if (unit.unit_type === "activations" || rest === "activations") {
      // A layer's activations are its output: the activation op when it has one.
      const hasActivation = graph.layers.get(layer)?.inner.nodes.some((n) => n.id === "activation");
      if (hasActivation) raise(`op:${layer}/activation`, unit.score);
    } else if (rest) {
      raise(variableKey(layer, rest), unit.score);
    }
  }
  return scores;
}

export interface Badge {
  count: number;
  /** What was found, e.g. "Conv2D" or "skip connection". */
  labels: string[];
}

function addBadge(badges: Map<string, Badge>, key: string, label: string, count = 1) {
  const badge = badges.get(key) ?? { count: 0, labels: [] };
  badge.count += count;
  if (!badge.labels.includes(label)) badge.labels.push(label);
  badges.set(key, badge);
}

/** "category:type" keys to readable labels ("structure:skip_connection" -> "skip connection"). */
export function localizationLabel(key: string): string {
  const [, type] = key.split(/:(.*)/s);
  return (type ?? key).replace(/_/g, " ");
}

/** Badges on the models (and experiments) of the tree, from the propagated counts. */
export function modelBadges(answer: StructuresAnswer, selected: string[], experimentOf: Map<string, string>): Map<string, Badge> {
  const badges = new Map<string, Badge>();
  for (const key of selected) {
    const [category, type] = key.split(/:(.*)/s);
    const countsCategory = category === "structure" ? "structures" : category;
    for (const [run, counts] of Object.entries(answer.propagated.models)) {
      const count = (counts as Record<string, Record<string, number> | undefined>)[countsCategory]?.[type] ?? 0;
      if (!count) continue;
      addBadge(badges, `model:${run}`, localizationLabel(key), count);
      const experiment = experimentOf.get(run);
      if (experiment) addBadge(badges, `experiment:${experiment}`, localizationLabel(key), count);
    }
  }
  return badges;
}

/** Badges on the visible units of one model: hidden units count on their closed group. */
export function layerBadges(answer: StructuresAnswer, selected: string[], graph: ModelGraph, open: Set<string>): Map<string, Badge> {
  const badges = new Map<string, Badge>();
  const layerIds = new Set(graph.layers.keys());
  const mark = (layer: string, label: string) => {
    const shown = representative(graph, layer, open);
    addBadge(badges, shown === layer ? `layer:${layer}` : `group:${shown}`, label);
  };
  for (const key of selected) {
    const [category, type] = key.split(/:(.*)/s);
    const label = localizationLabel(key);
    if (category === "structure") {
      for (const structure of answer.structures ?? []) {
        if (structure.kind !== type) continue;
        // One count per structure on each unit showing part of it, as the L3 badges count.
        const shown = new Set(structure.layers.filter((l) => layerIds.has(l)).map((l) => representative(graph, l, open)));
        for (const unit of shown) addBadge(badges, graph.layers.has(unit) ? `layer:${unit}` : `group:${unit}`, label);
      }
      continue;
    }
    const locations = answer.unit_types?.[category as keyof NonNullable<StructuresAnswer["unit_types"]>]?.[type] ?? [];
    for (const location of locations) {
      const layer = layerOfUnit(location, layerIds);
      if (layer) mark(layer, label);
    }
  }
  return badges;
}

/** The unit types present, with counts, for the localization panel: category -> [type, count]. */
export function localizationOptions(answer: StructuresAnswer, run: string | null): { key: string; category: string; type: string; count: number }[] {
  const counts: Record<string, Record<string, number>> = {};
  if (run && answer.counts) {
    Object.assign(counts, answer.counts);
  } else {
    for (const perModel of Object.values(answer.propagated.models)) {
      for (const [category, types] of Object.entries(perModel)) {
        for (const [type, n] of Object.entries(types)) {
          counts[category] ??= {};
          counts[category][type] = (counts[category][type] ?? 0) + n;
        }
      }
    }
  }
  const options: { key: string; category: string; type: string; count: number }[] = [];
  for (const [category, types] of Object.entries(counts)) {
    if (category === "by_namespace") continue;
    const name = category === "structures" ? "structure" : category;
    for (const [type, count] of Object.entries(types)) {
      if (typeof count === "number" && (count > 0 || name === "structure")) options.push({ key: `${name}:${type}`, category: name, type, count });
    }
  }
  return options;
}
