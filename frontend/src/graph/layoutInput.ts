// ELK inputs for the L2 and L3 views: sizes, options and nesting. Pure, so tests can check them.

import type { ElkExtendedEdge, ElkNode, LayoutOptions } from "elkjs/lib/elk-api";
import type { InnerNode, Layer } from "../types";
import { visibleEdges, visibleTree, type ModelGraph, type VisibleNode } from "./modelGraph";

export const CHAR_WIDTH = 6.6; // px per character of the 11px UI font, for sizing boxes before drawing
export const LAYER_HEADER = 18;
export const LAYER_FOOTER = 16;
export const LAYER_PADDING = 8;
export const GROUP_HEADER = 22;
export const CLOSED_GROUP = { width: 210, height: 46 };
export const MODEL_BOX = { width: 200, height: 78 };

const LAYERED: LayoutOptions = {
  "elk.algorithm": "layered",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.layered.crossingMinimization.strategy": "LAYER_SWEEP",
};

// -- the inner graph of one layer (ops and variables), laid out left to right

export const INNER_SIZES: Record<InnerNode["kind"], { width: number; height: number }> = {
  op: { width: 24, height: 24 },
  variable: { width: 0, height: 14 }, // width from the label
  input: { width: 8, height: 8 },
  output: { width: 8, height: 8 },
};

export function innerNodeSize(node: InnerNode): { width: number; height: number } {
  const size = INNER_SIZES[node.kind] ?? INNER_SIZES.op;
  if (node.kind === "variable") return { width: Math.max(30, node.label.length * 6 + 10), height: size.height };
  return size;
}

/** Layers whose inner graphs have the same structure share one layout: this is its key. */
export function innerSignature(layer: Layer): string {
  const nodes = layer.inner.nodes.map((n) => `${n.id}|${n.kind}|${n.label}`).join(";");
  const edges = layer.inner.edges.map(([a, b]) => `${a}>${b}`).join(";");
  return `${nodes}#${edges}`;
}

export function innerLayoutInput(layer: Layer): ElkNode {
  const ids = new Set(layer.inner.nodes.map((n) => n.id));
  return {
    id: "inner",
    layoutOptions: {
      ...LAYERED,
      "elk.direction": "RIGHT",
      "elk.spacing.nodeNode": "6",
      "elk.layered.spacing.nodeNodeBetweenLayers": "12",
      "elk.padding": "[top=2,left=2,bottom=2,right=2]",
    },
    children: layer.inner.nodes.map((n) => ({ id: n.id, ...innerNodeSize(n) })),
    edges: layer.inner.edges
      .filter(([a, b]) => ids.has(a) && ids.has(b))
      .map(([a, b], i) => ({ id: `e${i}`, sources: [a], targets: [b] })),
  };
}

/** The size of a layer's box around its laid-out inner graph and its labels. */
export function layerBoxSize(layer: Layer, inner: { width: number; height: number }): { width: number; height: number } {
  const title = layer.name.length * CHAR_WIDTH + 2 * LAYER_PADDING;
  const footer = layerFooter(layer).length * CHAR_WIDTH * 0.9 + 2 * LAYER_PADDING;
  return {
    width: Math.ceil(Math.max(title, footer, inner.width + 2 * LAYER_PADDING, 90)),
    height: Math.ceil(LAYER_HEADER + inner.height + LAYER_FOOTER + 4),
  };
}

export function layerFooter(layer: Layer): string {
  const shape = layer.output_shapes?.[0];
  const dims = shape ? shape.map((d) => (d === null ? "None" : String(d))).join(", ") : "?";
  return `${layer.type} (${dims})`;
}

// -- the layer graph of one model (L2), top to bottom, groups nested

export function modelLayoutInput(
  graph: ModelGraph,
  open: Set<string>,
  sizeOf: (layerId: string) => { width: number; height: number },
): ElkNode {
  const toElk = (node: VisibleNode): ElkNode => {
    if (node.kind === "layer") return { id: node.id, ...sizeOf(node.id) };
    if (!node.open) return { id: node.id, ...CLOSED_GROUP };
    return {
      id: node.id,
      layoutOptions: { "elk.padding": `[top=${GROUP_HEADER + 6},left=10,bottom=10,right=10]` },
      children: node.children.map(toElk),
    };
  };
  const edges: ElkExtendedEdge[] = visibleEdges(graph, open).map((e, i) => ({
    id: `edge${i}:${e.from}>${e.to}`,
    sources: [e.from],
    targets: [e.to],
  }));
  return {
    id: "root",
    layoutOptions: {
      ...LAYERED,
      "elk.direction": "DOWN",
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.spacing.nodeNode": "18",
      "elk.layered.spacing.nodeNodeBetweenLayers": "26",
      "elk.spacing.edgeNode": "10",
      "elk.padding": "[top=34,left=20,bottom=20,right=20]",
    },
    children: visibleTree(graph, open).map(toElk),
    edges,
  };
}

// -- the tree of models (L3): laid out by lineageLayout.ts

export const MISSING_PREFIX = "missing:";

/** Lineage edge width: thicker for a larger relative change of trainable parameters. */
export function lineageEdgeWidth(paramChange: number | null | undefined): number {
  if (paramChange === null || paramChange === undefined || !Number.isFinite(paramChange)) return 1.5;
  return Math.min(10, 1.5 + 6 * Math.log10(1 + 9 * Math.min(Math.abs(paramChange), 3) / 3));
}
