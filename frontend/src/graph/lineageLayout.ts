// The layout of the tree of models (L3). Its layers are given (a model's depth in the lineage), so
// it reduces to ordering rows: a tidy tree per experiment, experiments stacked. ELK took ~300 ms
// for 200 models in a cold worker, a third of the 1 s budget for the view; this takes ~1 ms.

import type { TreeAnswer } from "../types";
import { MISSING_PREFIX, MODEL_BOX } from "./layoutInput";

export const COLUMN_GAP = 70;
export const ROW_GAP = 18;
export const EXPERIMENT_PADDING = { top: 32, left: 16, bottom: 16, right: 16 };
export const EXPERIMENT_GAP = 28;
export const MARGIN = 20;
export const GHOST_BOX = { width: 150, height: 40 };

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LineageLayout {
  width: number;
  height: number;
  /** Boxes of models (by node id), ghosts of missing parents (`missing:<id>`) and experiments (`experiment:<id>`). */
  boxes: Map<string, Box>;
  /** Edges as [from id, to id, SVG path]; ghosts' ids carry the MISSING_PREFIX. */
  edges: { from: string; to: string; path: string; index: number | null }[];
}

function curve(from: Box, to: Box): string {
  const x1 = from.x + from.width;
  const y1 = from.y + from.height / 2;
  const x2 = to.x;
  const y2 = to.y + to.height / 2;
  const mid = (x1 + x2) / 2;
  return `M${x1},${y1}C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
}

export function layoutLineage(tree: TreeAnswer): LineageLayout {
  const nodes = new Map(tree.nodes.map((n) => [n.id, n]));
  const boxes = new Map<string, Box>();
  const edges: LineageLayout["edges"] = [];
  const ghostEdges = tree.missing_parents.filter((m) => nodes.has(m.child) && !nodes.has(m.parent));
  let top = MARGIN;
  let width = 0;

  for (const experiment of tree.experiments) {
    const members = experiment.models.filter((id) => nodes.has(id));
    const memberSet = new Set(members);
    const ghosts = [...new Set(ghostEdges.filter((m) => memberSet.has(m.child)).map((m) => MISSING_PREFIX + m.parent))];
    // Children of each node in the lineage; a ghost parents the models that name it.
    const children = new Map<string, string[]>();
    const addChild = (parent: string, child: string) => children.set(parent, [...(children.get(parent) ?? []), child]);
    for (const edge of tree.edges) if (memberSet.has(edge.from) && memberSet.has(edge.to)) addChild(edge.from, edge.to);
    for (const m of ghostEdges) if (memberSet.has(m.child)) addChild(MISSING_PREFIX + m.parent, m.child);
    const runOf = (id: string) => nodes.get(id)?.run ?? id;
    for (const list of children.values()) list.sort((a, b) => runOf(a).localeCompare(runOf(b)));

    const shift = ghosts.length ? 1 : 0; // ghosts take the column before the roots
    const column = (id: string) => (id.startsWith(MISSING_PREFIX) ? 0 : (nodes.get(id)?.depth ?? 0) + shift);
    const roots = [...ghosts, ...members.filter((id) => !tree.edges.some((e) => e.to === id && memberSet.has(e.from)) && !ghostEdges.some((m) => m.child === id))];
    const placed = new Set<string>();
    let row = top + EXPERIMENT_PADDING.top;
    const size = (id: string) => (id.startsWith(MISSING_PREFIX) ? GHOST_BOX : MODEL_BOX);

    // Depth-first: leaves take the next rows, a parent is centred on the children it placed.
    const place = (id: string): number => {
      placed.add(id);
      const own = (children.get(id) ?? []).filter((c) => !placed.has(c));
      const box = size(id);
      let y: number;
      if (!own.length) {
        y = row;
        row += box.height + ROW_GAP;
      } else {
        const centres = own.map((c) => place(c));
        y = (centres[0] + centres[centres.length - 1]) / 2 - box.height / 2;
        y = Math.max(y, top + EXPERIMENT_PADDING.top);
      }
      const x = MARGIN + EXPERIMENT_PADDING.left + column(id) * (MODEL_BOX.width + COLUMN_GAP) + (MODEL_BOX.width - box.width);
      boxes.set(id, { x, y, ...box });
      return y + box.height / 2;
    };
    for (const root of roots) if (!placed.has(root)) place(root);
    for (const id of members) if (!placed.has(id)) place(id); // cycles: no root reaches them

    const columns = Math.max(0, ...members.map(column), ...ghosts.map(column)) + 1;
    const box: Box = {
      x: MARGIN,
      y: top,
      width: EXPERIMENT_PADDING.left + columns * MODEL_BOX.width + (columns - 1) * COLUMN_GAP + EXPERIMENT_PADDING.right,
      height: row - ROW_GAP - top + EXPERIMENT_PADDING.bottom,
    };
    boxes.set(`experiment:${experiment.id}`, box);
    width = Math.max(width, box.x + box.width + MARGIN);
    top += box.height + EXPERIMENT_GAP;
  }

  tree.edges.forEach((edge, index) => {
    const from = boxes.get(edge.from);
    const to = boxes.get(edge.to);
    if (from && to) edges.push({ from: edge.from, to: edge.to, path: curve(from, to), index });
  });
  for (const m of ghostEdges) {
    const from = boxes.get(MISSING_PREFIX + m.parent);
    const to = boxes.get(m.child);
    if (from && to) edges.push({ from: MISSING_PREFIX + m.parent, to: m.child, path: curve(from, to), index: null });
  }
  return { width, height: top - EXPERIMENT_GAP + MARGIN, boxes, edges };
}
