// Pure geometry and data shaping of the L1 neuron-weight view (paper §5.1, Fig. 7): two columns of
// neurons joined by the top-k weights, and the Neurons × Classes matrix. No DOM, so tests cover it.

import { divergingColor, MISSING_COLOR, normalizer } from "../colors";
import type { NeuronEntry, NeuronsAnswer } from "../types";

export type Side = "previous" | "layer";

export interface NeuronNode {
  /** "neuron:<layer>:<index>", the data-unit of the neuron's group. */
  key: string;
  side: Side;
  layer: string;
  index: number;
  mean: number | null;
  share: number | null;
  /** Centre of the shape. */
  x: number;
  y: number;
  /** Diameter of the circle or side of the square. */
  size: number;
  /** A square leaves room for the neuron's class-map thumbnail. */
  shape: "circle" | "square";
  /** The mean activation mapped to [0, 1] (null: no data). */
  t: number | null;
  color: string;
  label: string;
  shareLabel: string;
  labelX: number;
  labelAnchor: "start" | "end";
  fontSize: number;
}

export interface WeightEdge {
  key: string;
  from: number;
  to: number;
  fromKey: string;
  toKey: string;
  value: number;
  magnitude: number;
  width: number;
  color: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface ColumnLayout {
  side: Side;
  layer: string;
  units: number;
  shown: number;
  /** Box of the column, header included. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Where the header text starts and which way it runs (towards the edges between the columns). */
  headerX: number;
  headerAnchor: "start" | "end";
  subColumns: number;
  /** Finite range of the means shown, for the legend. */
  min: number | null;
  max: number | null;
}

export interface NeuronLayout {
  nodes: NeuronNode[];
  edges: WeightEdge[];
  columns: ColumnLayout[];
  legend: { x: number; y: number; width: number; height: number };
  width: number;
  height: number;
}

export interface LayoutOptions {
  /** Layer id of the right column (the answer does not name it). */
  layer?: string;
  /**
   * "column" (default) normalises each column's colours on its own means: two consecutive layers
   * often differ in scale by an order of magnitude (a flatten of pooled maps vs. a ReLU dense
   * layer), and one shared scale would paint the weaker column a single blue. "shared" compares
   * both columns on one scale; the legend shows the ranges either way.
   */
  scale?: "column" | "shared";
  /** "index" (default) or by mean activation, highest first. */
  order?: "index" | "mean";
  /** Taller columns wrap into sub-columns. */
  maxColumnHeight?: number;
  /** Horizontal room for the weight edges. */
  gap?: number;
}

const MARGIN = 16;
const HEADER = 44;
const LEGEND = 68;
const MIN_COLUMN_WIDTH = 160;
const SUB_COLUMN_GAP = 14;
const LABEL_GAP = 6;
const EDGE_WIDTH = [0.5, 6] as const;

// Normal size first; the compact one when the column would not fit in maxColumnHeight.
const SIZES = {
  circle: [
    { size: 18, pitch: 26, font: 11 },
    { size: 10, pitch: 14, font: 9 },
  ],
  square: [
    { size: 40, pitch: 48, font: 11 },
    { size: 28, pitch: 32, font: 9 },
  ],
} as const;

export function neuronKey(layer: string, index: number): string {
  return `neuron:${layer}:${index}`;
}

/** "12.3%"; tiny shares stay visible as "<0.1%". */
export function formatShare(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return "–";
  if (share > 0 && share < 0.0005) return "<0.1%";
  return (share * 100).toFixed(1) + "%";
}

interface ColumnInput {
  side: Side;
  layer: string;
  units: number;
  neurons: NeuronEntry[];
  hasMap: (index: number) => boolean;
}

interface Grid {
  rows: number;
  subColumns: number;
  size: number;
  pitch: number;
  font: number;
  labelWidth: number;
  blockWidth: number;
  height: number;
}

function gridOf(column: ColumnInput, maxHeight: number): Grid {
  const n = column.neurons.length;
  const squares = column.neurons.some((neuron) => column.hasMap(neuron.index));
  const [normal, compact] = squares ? SIZES.square : SIZES.circle;
  const pick = n * normal.pitch <= maxHeight ? normal : compact;
  const perColumn = Math.max(1, Math.floor(maxHeight / pick.pitch));
  const subColumns = Math.max(1, Math.ceil(n / perColumn));
  // Balanced: 300 neurons in 6 sub-columns of 50, not 5 of 54 and one of 30.
  const rows = Math.max(1, Math.ceil(n / subColumns));
  const chars = Math.max(4, ...column.neurons.map((neuron) => labelText(neuron).length));
  const labelWidth = Math.ceil(chars * pick.font * 0.62);
  const subWidth = pick.size + LABEL_GAP + labelWidth;
  return {
    rows,
    subColumns,
    size: pick.size,
    pitch: pick.pitch,
    font: pick.font,
    labelWidth,
    blockWidth: subColumns * subWidth + (subColumns - 1) * SUB_COLUMN_GAP,
    height: n === 0 ? 0 : rows * pick.pitch,
  };
}

function labelText(neuron: NeuronEntry): string {
  return `#${neuron.index} ${formatShare(neuron.share)}`;
}

function ordered(neurons: NeuronEntry[], order: "index" | "mean"): NeuronEntry[] {
  const byIndex = (a: NeuronEntry, b: NeuronEntry) => a.index - b.index;
  if (order === "index") return [...neurons].sort(byIndex);
  const value = (n: NeuronEntry) => (n.mean !== null && Number.isFinite(n.mean) ? n.mean : -Infinity);
  return [...neurons].sort((a, b) => value(b) - value(a) || byIndex(a, b));
}

function finiteRange(neurons: NeuronEntry[]): [number | null, number | null] {
  const values = neurons.map((n) => n.mean).filter((v): v is number => v !== null && Number.isFinite(v));
  return values.length ? [Math.min(...values), Math.max(...values)] : [null, null];
}

/** Positions of both columns, their colours and the weight edges between them. */
export function layoutNeurons(answer: NeuronsAnswer, options: LayoutOptions = {}): NeuronLayout {
  const maxHeight = options.maxColumnHeight ?? 800;
  const gap = options.gap ?? 260;
  const order = options.order ?? "index";
  const layerName = options.layer ?? "layer";
  const maps = answer.class_maps;
  const hasLayerMap = (index: number) => !!maps && Object.values(maps).some((m) => m[String(index)] !== undefined);
  const inputs: ColumnInput[] = [
    {
      side: "previous",
      layer: answer.previous_layer ?? "",
      units: answer.previous?.units ?? 0,
      neurons: answer.previous_layer ? ordered(answer.previous?.neurons ?? [], order) : [],
      hasMap: () => false, // class maps are sent for the layer only
    },
    { side: "layer", layer: layerName, units: answer.layer.units, neurons: ordered(answer.layer.neurons, order), hasMap: hasLayerMap },
  ];
  const grids = inputs.map((c) => gridOf(c, maxHeight));
  const widths = grids.map((g) => Math.max(MIN_COLUMN_WIDTH, g.blockWidth));
  const contentHeight = Math.max(...grids.map((g) => g.height), 40);
  const top = MARGIN + HEADER;
  const xs = [MARGIN, MARGIN + widths[0] + gap];

  const colourOf = colourScales(inputs, options.scale ?? "column");
  const nodes: NeuronNode[] = [];
  const columns: ColumnLayout[] = inputs.map((input, c) => {
    const grid = grids[c];
    const left = input.side === "previous";
    // The node block hugs the gap so edges stay short; labels sit on the outer side.
    const blockX = left ? xs[c] + widths[c] - grid.blockWidth : xs[c];
    const blockY = top + (contentHeight - grid.height) / 2;
    input.neurons.forEach((neuron, i) => {
      nodes.push(placeNode(input, neuron, i, grid, blockX, blockY, colourOf(c, neuron.mean)));
    });
    const [min, max] = finiteRange(input.neurons);
    return {
      side: input.side,
      layer: input.layer,
      units: input.units,
      shown: input.neurons.length,
      x: xs[c],
      y: MARGIN,
      width: widths[c],
      height: HEADER + contentHeight,
      headerX: left ? xs[c] + widths[c] : xs[c],
      headerAnchor: left ? "end" : "start",
      subColumns: grid.subColumns,
      min,
      max,
    };
  });

  const width = xs[1] + widths[1] + MARGIN;
  const legendY = top + contentHeight + 16;
  return {
    nodes,
    edges: layoutEdges(answer, nodes),
    columns,
    legend: { x: MARGIN, y: legendY, width: width - 2 * MARGIN, height: LEGEND - 16 },
    width,
    height: legendY + LEGEND,
  };
}

function colourScales(inputs: ColumnInput[], scale: "column" | "shared"): (column: number, mean: number | null) => { t: number | null; color: string } {
  const means = (c: ColumnInput) => c.neurons.map((n) => n.mean);
  const shared = normalizer(inputs.flatMap(means));
  const perColumn = inputs.map((c) => normalizer(means(c)));
  return (column, mean) => {
    const t = (scale === "shared" ? shared : perColumn[column])(mean);
    return { t, color: divergingColor(t) };
  };
}

function placeNode(
  input: ColumnInput,
  neuron: NeuronEntry,
  i: number,
  grid: Grid,
  blockX: number,
  blockY: number,
  colour: { t: number | null; color: string },
): NeuronNode {
  const sub = Math.floor(i / grid.rows);
  const row = i % grid.rows;
  const subWidth = grid.size + LABEL_GAP + grid.labelWidth;
  const subX = blockX + sub * (subWidth + SUB_COLUMN_GAP);
  const left = input.side === "previous";
  // Left column: [label][node]; right column: [node][label].
  const x = left ? subX + grid.labelWidth + LABEL_GAP + grid.size / 2 : subX + grid.size / 2;
  return {
    key: neuronKey(input.layer, neuron.index),
    side: input.side,
    layer: input.layer,
    index: neuron.index,
    mean: neuron.mean,
    share: neuron.share,
    x,
    y: blockY + row * grid.pitch + grid.pitch / 2,
    size: grid.size,
    shape: input.hasMap(neuron.index) ? "square" : "circle",
    t: colour.t,
    color: colour.color,
    label: `#${neuron.index}`,
    shareLabel: formatShare(neuron.share),
    labelX: left ? x - grid.size / 2 - LABEL_GAP : x + grid.size / 2 + LABEL_GAP,
    labelAnchor: left ? "end" : "start",
    fontSize: grid.font,
  };
}

/** Stroke width by magnitude (min..max → 0.5..6 px), colour by sign. */
export function edgeWidth(magnitude: number, min: number, max: number): number {
  const [lo, hi] = EDGE_WIDTH;
  if (!Number.isFinite(magnitude)) return lo;
  if (!(max > min)) return (lo + hi) / 2;
  return lo + ((magnitude - min) / (max - min)) * (hi - lo);
}

export function edgeColor(value: number): string {
  if (!Number.isFinite(value) || value === 0) return MISSING_COLOR;
  return divergingColor(value > 0 ? 0.9 : 0.1);
}

// A convolution's weight joins two channels through a whole kernel: `magnitude` (sum of |w|, what
// top-k ranks by) says how strong it is, while `value` (the signed sum) may cancel out. For a dense
// layer both agree (magnitude = |value|).
function strength(w: { value: number; magnitude: number }): number {
  return Number.isFinite(w.magnitude) ? w.magnitude : Math.abs(w.value);
}

function layoutEdges(answer: NeuronsAnswer, nodes: NeuronNode[]): WeightEdge[] {
  const bySide = (side: Side) => new Map(nodes.filter((n) => n.side === side).map((n) => [n.index, n]));
  const sources = bySide("previous");
  const targets = bySide("layer");
  const strengths = answer.weights.map(strength).filter(Number.isFinite);
  const min = strengths.length ? Math.min(...strengths) : 0;
  const max = strengths.length ? Math.max(...strengths) : 0;
  const edges: WeightEdge[] = [];
  for (const w of answer.weights) {
    const a = sources.get(w.from);
    const b = targets.get(w.to);
    if (!a || !b) continue; // an endpoint that is not shown (no predecessor column)
    edges.push({
      key: `weight:${a.key}->${b.key}`,
      from: w.from,
      to: w.to,
      fromKey: a.key,
      toKey: b.key,
      value: w.value,
      magnitude: strength(w),
      width: edgeWidth(strength(w), min, max),
      color: edgeColor(w.value),
      x1: a.x + a.size / 2,
      y1: a.y,
      x2: b.x - b.size / 2,
      y2: b.y,
    });
  }
  return edges;
}

/** The edges touching a neuron and the neurons they join (the neuron itself included). */
export function connectionsOf(
  key: string,
  edges: readonly Pick<WeightEdge, "key" | "fromKey" | "toKey">[],
): { edges: Set<string>; neurons: Set<string> } {
  const result = { edges: new Set<string>(), neurons: new Set<string>([key]) };
  for (const edge of edges) {
    if (edge.fromKey !== key && edge.toKey !== key) continue;
    result.edges.add(edge.key);
    result.neurons.add(edge.fromKey);
    result.neurons.add(edge.toKey);
  }
  return result;
}

/** The n strongest edges of a neuron, strongest first (for its tooltip). */
export function strongestEdges<E extends Pick<WeightEdge, "fromKey" | "toKey" | "magnitude">>(key: string, edges: readonly E[], n = 5): E[] {
  return edges
    .filter((e) => e.fromKey === key || e.toKey === key)
    .sort((a, b) => b.magnitude - a.magnitude)
    .slice(0, n);
}

// ---- Neurons × Classes matrix ----------------------------------------------------------------

export interface MatrixSort {
  byClass: string | null;
  descending: boolean;
}

/** Clicking a class header: a new class sorts descending, the same class again flips the direction. */
export function nextSort(current: MatrixSort, clicked: string | null): MatrixSort {
  if (clicked === null) return { byClass: null, descending: false };
  if (current.byClass === clicked) return { byClass: clicked, descending: !current.descending };
  return { byClass: clicked, descending: true };
}

const isValue = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The neuron indices in row order of the Neurons × Classes matrix: by the given class's value
 * (ties by index), or by index when byClass is null or unknown. Missing values sort last either way.
 */
export function sortMatrix(matrix: NeuronsAnswer["neurons_by_classes"], byClass: string | null, descending: boolean): number[] {
  const units = Math.max(0, ...matrix.matrix.map((row) => row.length));
  const indices = Array.from({ length: units }, (_, i) => i);
  const row = byClass === null ? -1 : matrix.classes.indexOf(byClass);
  if (row < 0 || !matrix.matrix[row]) return indices;
  const values = matrix.matrix[row];
  const sign = descending ? -1 : 1;
  return indices.sort((a, b) => {
    const va = values[a];
    const vb = values[b];
    if (!isValue(va) || !isValue(vb)) {
      if (isValue(va) !== isValue(vb)) return isValue(va) ? -1 : 1;
      return a - b;
    }
    return sign * (va - vb) || a - b;
  });
}

// ---- Class-map thumbnails --------------------------------------------------------------------

type ClassMaps = NonNullable<NeuronsAnswer["class_maps"]>;

/**
 * The mean map of one neuron over the selected classes (the paper's avg(c)), pixel by pixel over
 * the classes that have a value there. Null when no selected class has a map of that neuron.
 */
export function meanClassMap(maps: ClassMaps | null, selected: readonly string[], index: number): (number | null)[][] | null {
  if (!maps) return null;
  const names = selected.length ? selected : Object.keys(maps);
  const grids = names.map((name) => maps[name]?.[String(index)]).filter((g): g is (number | null)[][] => Array.isArray(g) && g.length > 0);
  if (!grids.length) return null;
  const height = grids[0].length;
  const width = grids[0][0]?.length ?? 0;
  const same = grids.filter((g) => g.length === height && g.every((line) => line.length === width));
  return Array.from({ length: height }, (_, y) =>
    Array.from({ length: width }, (_, x) => {
      const values = same.map((g) => g[y][x]).filter(isValue);
      return values.length ? values.reduce((s, v) => s + v, 0) / values.length : null;
    }),
  );
}

function rgbOf(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [0, 0, 0];
}

/**
 * RGBA pixels of a map on the diverging scale, normalised on the map itself: a thumbnail is there
 * to show where in the image the neuron fires, which one scale for all neurons would wash out.
 */
export function mapToRgba(map: (number | null)[][]): { width: number; height: number; data: Uint8ClampedArray } {
  const height = map.length;
  const width = height ? map[0].length : 0;
  const norm = normalizer(map.flat());
  const data = new Uint8ClampedArray(width * height * 4);
  map.forEach((line, y) =>
    line.forEach((v, x) => {
      if (x >= width) return; // a ragged row: keep to the first row's width
      const [r, g, b] = rgbOf(divergingColor(norm(v)));
      data.set([r, g, b, 255], (y * width + x) * 4);
    }),
  );
  return { width, height, data };
}
