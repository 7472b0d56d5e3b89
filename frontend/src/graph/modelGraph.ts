// The L2 graph of one model: layers grouped into namespaces (nested models) and, for big models,
// blocks found from name prefixes, so that what is laid out at once stays small. Pure functions.

import type { Architecture, Layer } from "../types";

export interface Group {
  id: string;
  label: string;
  kind: "namespace" | "block";
  parent: string | null;
  /** Direct members: layer ids and group ids, in the order of the layer list. */
  members: string[];
  /** Layers anywhere under the group. */
  layerCount: number;
  /** What a namespace is, when not a nested model: a traced custom layer or subclassed model ("TransformerBlock (traced)"). */
  detail?: string;
}

export interface ModelGraph {
  layers: Map<string, Layer>;
  groups: Map<string, Group>;
  /** Members of the model itself (top level). */
  top: string[];
  /** Data-flow edges between layers (deduplicated over calls). */
  edges: { from: string; to: string }[];
  /** Each layer's innermost group. */
  groupOf: Map<string, string | null>;
}

/** More members than this in one container and its layers get grouped into blocks. */
export const MAX_MEMBERS = 40;

const BLOCK_PREFIX = "block:";

/** Splits a layer name into prefix tokens: "conv2_block1_1_conv" -> ["conv2", "block1", "1", "conv"]. */
export function nameTokens(name: string): string[] {
  return name.split(/[_/.:-]+/).filter(Boolean);
}

/** A member, or a block of members found by `findBlocks`. */
export type BlockTree = string | { members: BlockTree[]; chunk: boolean };

/**
 * Groups a long run of members into blocks so that no container shows more than `max` members:
 * consecutive members sharing a name prefix (the shortest prefix that makes runs of several layers,
 * as Keras applications name them: conv2_block1_*) form a block, blocks too big are split the same
 * way one prefix token deeper, and if a container still holds too many, consecutive items are
 * gathered into evenly sized blocks.
 */
export function findBlocks(members: string[], nameOf: (id: string) => string, max = MAX_MEMBERS, from = 1): BlockTree[] {
  if (members.length <= max) return members;
  const depth = Math.max(...members.map((m) => nameTokens(nameOf(m)).length));
  let items: BlockTree[] = members;
  for (let prefixLength = from; prefixLength < depth; prefixLength++) {
    const runs = runsByPrefix(members, nameOf, prefixLength);
    // A useful prefix makes blocks of several members, and not one block of everything.
    if (runs.length > 1 && runs.length < members.length * 0.6) {
      items = runs.map((run) =>
        run.length === 1 ? run[0] : { members: findBlocks(run, nameOf, max, prefixLength + 1), chunk: false },
      );
      break;
    }
  }
  while (items.length > max) {
    // Up to `max` evenly sized chunks of at most `max` items; past max² another level forms.
    const size = Math.min(max, Math.ceil(items.length / max));
    items = chunk(items, size).map((c) => (c.length === 1 ? c[0] : { members: c, chunk: true }));
  }
  return items;
}

function runsByPrefix(members: string[], nameOf: (id: string) => string, length: number): string[][] {
  const runs: string[][] = [];
  let key: string | null = null;
  for (const member of members) {
    const tokens = nameTokens(nameOf(member));
    const k = tokens.length > length ? tokens.slice(0, length).join("_") : `\u0000${member}`;
    if (k === key) runs[runs.length - 1].push(member);
    else runs.push([member]);
    key = k;
  }
  return runs;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function leaves(tree: BlockTree): string[] {
  return typeof tree === "string" ? [tree] : tree.members.flatMap(leaves);
}

function commonPrefix(names: string[]): string {
  const split = names.map(nameTokens);
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length && split.every((t) => t[n] === first[n])) n++;
  return first.slice(0, n).join("_");
}

export function buildModelGraph(arch: Architecture, max = MAX_MEMBERS): ModelGraph {
  const layers = new Map(arch.layers.map((layer) => [layer.id, layer]));
  const groups = new Map<string, Group>();
  const groupOf = new Map<string, string | null>();
  const containers = new Map<string, string[]>(); // container id ("" = model) -> members

  const namespaceIds = new Set(arch.namespaces.map((ns) => ns.id));
  for (const ns of arch.namespaces) {
    const parent = typeof ns.parent === "string" && namespaceIds.has(ns.parent) ? ns.parent : null;
    // Written by capture/tracing.py, open in the schema: older logs have no `traced`.
    const traced = "traced" in ns && ns.traced === true;
    const detail = traced ? `${ns.type ?? "custom layer"} (traced)` : undefined;
    groups.set(ns.id, { id: ns.id, label: String(ns.name ?? ns.id), kind: "namespace", parent, members: [], layerCount: 0, detail });
    containers.set(parent ?? "", [...(containers.get(parent ?? "") ?? []), ns.id]);
  }
  for (const layer of arch.layers) {
    const container = layer.namespace && namespaceIds.has(layer.namespace) ? layer.namespace : "";
    containers.set(container, [...(containers.get(container) ?? []), layer.id]);
    groupOf.set(layer.id, container || null);
  }

  const nameOf = (id: string) => layers.get(id)?.name ?? groups.get(id)?.label ?? id;
  const top: string[] = [];
  for (const [container, members] of containers) {
    let counter = 0;
    // Turns a block tree into groups; returns the ids of the container's direct members.
    const materialise = (items: BlockTree[], parent: string): string[] =>
      items.map((item) => {
        if (typeof item === "string") {
          if (layers.has(item)) groupOf.set(item, parent || null);
          else if (groups.has(item)) groups.get(item)!.parent = parent || null;
          return item;
        }
        const id = `${BLOCK_PREFIX}${container}#${counter++}`;
        const names = leaves(item).map(nameOf);
        const prefix = commonPrefix(names);
        // A prefix block is named by its prefix; an even chunk by its first and last layers.
        const label = prefix && !item.chunk ? prefix : `${names[0]} … ${names[names.length - 1]}`;
        groups.set(id, { id, label, kind: "block", parent: parent || null, members: [], layerCount: 0 });
        groups.get(id)!.members = materialise(item.members, id);
        return id;
      });
    const grouped = materialise(findBlocks(members, nameOf, max), container);
    if (container) groups.get(container)!.members = grouped;
    else top.push(...grouped);
  }
  for (const group of groups.values()) group.layerCount = countLayers(group.id, groups, layers);

  const seen = new Set<string>();
  const edges: { from: string; to: string }[] = [];
  for (const edge of arch.edges) {
    const key = `${edge.from}\u0000${edge.to}`;
    if (seen.has(key) || !layers.has(edge.from) || !layers.has(edge.to)) continue;
    seen.add(key);
    edges.push({ from: edge.from, to: edge.to });
  }
  return { layers, groups, top, edges, groupOf };
}

function countLayers(id: string, groups: Map<string, Group>, layers: Map<string, Layer>): number {
  const group = groups.get(id);
  if (!group) return layers.has(id) ? 1 : 0;
  return group.members.reduce((sum, member) => sum + countLayers(member, groups, layers), 0);
}

/** The groups enclosing a layer or group, outermost first. */
export function ancestors(graph: ModelGraph, id: string): string[] {
  const chain: string[] = [];
  let current = graph.layers.has(id) ? (graph.groupOf.get(id) ?? null) : (graph.groups.get(id)?.parent ?? null);
  while (current) {
    chain.unshift(current);
    current = graph.groups.get(current)?.parent ?? null;
  }
  return chain;
}

/** What stands for a layer on screen: itself, or its outermost closed group. */
export function representative(graph: ModelGraph, layer: string, open: Set<string>): string {
  for (const group of ancestors(graph, layer)) if (!open.has(group)) return group;
  return layer;
}

export interface VisibleNode {
  id: string;
  kind: "layer" | "group";
  open: boolean;
  children: VisibleNode[];
}

/** The visible tree: open groups show their members, closed groups are one box. */
export function visibleTree(graph: ModelGraph, open: Set<string>): VisibleNode[] {
  const visit = (id: string): VisibleNode => {
    const group = graph.groups.get(id);
    if (!group) return { id, kind: "layer", open: false, children: [] };
    const isOpen = open.has(id);
    return { id, kind: "group", open: isOpen, children: isOpen ? group.members.map(visit) : [] };
  };
  return graph.top.map(visit);
}

/** Edges between visible nodes: each end moved to its representative, self-loops and repeats dropped. */
export function visibleEdges(graph: ModelGraph, open: Set<string>): { from: string; to: string; count: number }[] {
  const merged = new Map<string, { from: string; to: string; count: number }>();
  for (const edge of graph.edges) {
    const from = representative(graph, edge.from, open);
    const to = representative(graph, edge.to, open);
    if (from === to) continue;
    const key = `${from}\u0000${to}`;
    const entry = merged.get(key);
    if (entry) entry.count++;
    else merged.set(key, { from, to, count: 1 });
  }
  return [...merged.values()];
}
