// The L1 neuron-weight view (paper §5.1, Fig. 7): the kept neurons of a layer and its predecessor,
// coloured by mean activation under the class selection, joined by the top-k weights; beside it the
// k slider and the Neurons × Classes matrix (Fig. 8a). Geometry lives in neuronLayout.ts.

import { divergingColor, legendStops, normalizer } from "../colors";
import { setK } from "../state";
import { rgbaDataUrl } from "../pixels";
import { ellipsize, formatNumber, html, svg, svgText } from "../svg";
import type { NeuronsAnswer } from "../types";
import css from "./neurons.css";
import {
  connectionsOf,
  layoutNeurons,
  mapToRgba,
  meanClassMap,
  neuronKey,
  nextSort,
  sortMatrix,
  strongestEdges,
  type MatrixSort,
  type NeuronLayout,
  type NeuronNode,
  type WeightEdge,
} from "./neuronLayout";
import { appendVisualisations } from "./neuronVisualisations";
import type { RenderedView, UnitBox, ViewContext } from "./view";

export const L1_CSS = css;

/** Rows of the Neurons × Classes matrix drawn at most; a wide layer would make the table crawl. */
export const MAX_MATRIX_ROWS = 256;
const K_SLIDER_MAX = 200;
const THUMB_INSET = 3;

// The matrix sort survives re-renders of the same layer (a new k or class selection).
const matrixSorts = new Map<string, MatrixSort>();
let gradientCount = 0;

export function renderNeurons(ctx: ViewContext, answer: NeuronsAnswer, layerLabel: string): RenderedView {
  // The answer does not name its layer; the state does (the key must match L2's "layer:<id>").
  const layerId = ctx.state.layer ?? layerLabel;
  const layout = layoutNeurons(answer, { layer: layerId });
  const view = svg("g", { class: "inn-l1" }, ctx.root);
  // Catches clicks on empty space (they unpin).
  svg("rect", { class: "inn-l1-bg", x: 0, y: 0, width: layout.width, height: layout.height }, view);
  drawHeaders(view, layout, layerLabel);
  const edgeElements = drawEdges(view, layout.edges);
  const { units, nodeElements } = drawNodes(view, layout, answer);
  drawLegend(view, layout);

  const highlight = new Highlighter(layout.edges, nodeElements, edgeElements);
  bindGraphEvents(ctx, layout, answer, view, highlight);
  const side = renderSide(ctx, answer, layerId, layout, highlight);

  return {
    width: layout.width,
    height: layout.height,
    units,
    minimap: layout.nodes.map((n) => ({ x: n.x - n.size / 2, y: n.y - n.size / 2, width: n.size, height: n.size, color: n.color })),
    dispose() {
      ctx.tooltip.hide();
      view.remove();
      side.remove();
    },
  };
}

// ---- Highlighting ------------------------------------------------------------------------------

/**
 * One highlight shared by the graph and the matrix: the hovered (else the pinned) neuron, its edges
 * and the neurons they join are marked `inn-hi`, everything else in the graph `inn-dim`.
 */
class Highlighter {
  private hovered: string | null = null;
  private pinned: string | null = null;
  private rows = new Map<string, HTMLTableRowElement>();

  constructor(
    private readonly edges: WeightEdge[],
    private readonly nodes: Map<string, SVGGElement>,
    private readonly edgeElements: Map<string, SVGPathElement>,
  ) {}

  has(key: string): boolean {
    return this.nodes.has(key);
  }

  hover(key: string | null): void {
    this.hovered = key !== null && this.has(key) ? key : null;
    this.apply();
  }

  /** Pins a neuron, or unpins it when it is pinned already. */
  togglePin(key: string): void {
    if (!this.has(key)) return;
    this.pinned = this.pinned === key ? null : key;
    this.apply();
    if (this.pinned) this.rows.get(this.pinned)?.scrollIntoView({ block: "nearest" });
  }

  unpin(): void {
    this.pinned = null;
    this.apply();
  }

  setRows(rows: Map<string, HTMLTableRowElement>): void {
    this.rows = rows;
    this.apply();
  }

  private apply(): void {
    const key = this.hovered ?? this.pinned;
    const linked = key ? connectionsOf(key, this.edges) : null;
    const mark = (element: Element, on: boolean) => {
      element.classList.toggle("inn-hi", !!linked && on);
      element.classList.toggle("inn-dim", !!linked && !on);
    };
    for (const [k, element] of this.nodes) {
      mark(element, !!linked?.neurons.has(k));
      element.classList.toggle("inn-pinned", k === this.pinned);
    }
    for (const [k, element] of this.edgeElements) mark(element, !!linked?.edges.has(k));
    for (const [k, row] of this.rows) row.classList.toggle("inn-hi", !!linked?.neurons.has(k));
  }
}

// ---- Graph -------------------------------------------------------------------------------------

function drawHeaders(parent: SVGGElement, layout: NeuronLayout, layerLabel: string): void {
  for (const column of layout.columns) {
    const name = column.side === "layer" ? layerLabel : column.layer;
    const attrs = { "text-anchor": column.headerAnchor };
    const title = svgText(parent, column.headerX, column.y + 14, ellipsize(name || "no predecessor", 30), { ...attrs, class: "inn-l1-header" });
    if (name.length > 30) svg("title", {}, title).textContent = name;
    if (column.layer) svgText(parent, column.headerX, column.y + 30, `${column.shown} of ${column.units} neurons shown`, { ...attrs, class: "inn-l1-subheader" });
  }
}

function edgePath(e: WeightEdge): string {
  const dx = (e.x2 - e.x1) / 2;
  return `M${e.x1},${e.y1} C${e.x1 + dx},${e.y1} ${e.x2 - dx},${e.y2} ${e.x2},${e.y2}`;
}

function drawEdges(parent: SVGGElement, edges: WeightEdge[]): Map<string, SVGPathElement> {
  const group = svg("g", { class: "inn-l1-edges" }, parent);
  const elements = new Map<string, SVGPathElement>();
  // Strongest last, so they are drawn on top.
  for (const edge of [...edges].sort((a, b) => a.magnitude - b.magnitude)) {
    const path = svg("path", { class: "inn-l1-edge", d: edgePath(edge), stroke: edge.color, "stroke-width": edge.width.toFixed(2), "data-edge": edge.key }, group);
    elements.set(edge.key, path);
  }
  return elements;
}

function drawNodes(parent: SVGGElement, layout: NeuronLayout, answer: NeuronsAnswer) {
  const group = svg("g", { class: "inn-l1-neurons" }, parent);
  const units = new Map<string, UnitBox>();
  const nodeElements = new Map<string, SVGGElement>();
  for (const node of layout.nodes) {
    const element = svg("g", { class: "inn-l1-neuron", "data-unit": node.key }, group);
    const shape = drawShape(element, node, answer);
    const label = svgText(element, node.labelX, node.y + node.fontSize * 0.35, "", { class: "inn-l1-label", "text-anchor": node.labelAnchor, "font-size": node.fontSize });
    svg("tspan", { "font-weight": 600 }, label).textContent = node.label;
    svg("tspan", { class: "inn-l1-share", dx: 4 }, label).textContent = node.shareLabel;
    const half = node.size / 2;
    units.set(node.key, { key: node.key, x: node.x - half, y: node.y - half, width: node.size, height: node.size, element, shape, baseFill: node.color });
    nodeElements.set(node.key, element);
  }
  return { units, nodeElements };
}

function drawShape(parent: SVGGElement, node: NeuronNode, answer: NeuronsAnswer): SVGElement {
  const half = node.size / 2;
  if (node.shape === "circle") {
    return svg("circle", { class: "inn-l1-shape", cx: node.x, cy: node.y, r: half, fill: node.color }, parent);
  }
  // A square framed in the neuron's colour around its mean map over the selected classes.
  const rect = svg("rect", { class: "inn-l1-shape", x: node.x - half, y: node.y - half, width: node.size, height: node.size, rx: 2, fill: node.color }, parent);
  const map = meanClassMap(answer.class_maps, answer.selected_classes, node.index);
  const href = map ? thumbnailUrl(map) : null;
  if (href) {
    const inner = node.size - 2 * THUMB_INSET;
    svg("image", { class: "inn-l1-thumb", href, x: node.x - half + THUMB_INSET, y: node.y - half + THUMB_INSET, width: inner, height: inner, preserveAspectRatio: "xMidYMid meet" }, parent);
  }
  return rect;
}

/** A data: URL of the map drawn pixel by pixel (TensorBoard's CSP allows data: images only). */
function thumbnailUrl(map: (number | null)[][]): string | null {
  return rgbaDataUrl(mapToRgba(map));
}

function drawLegend(parent: SVGGElement, layout: NeuronLayout): void {
  const { x, y } = layout.legend;
  const group = svg("g", { class: "inn-l1-legend" }, parent);
  const id = `inn-l1-gradient-${++gradientCount}`;
  const gradient = svg("linearGradient", { id, x1: 0, x2: 1, y1: 0, y2: 0 }, svg("defs", {}, group));
  for (const stop of legendStops()) svg("stop", { offset: stop.offset, "stop-color": stop.color }, gradient);
  svgText(group, x, y + 10, "low");
  svg("rect", { x: x + 28, y, width: 140, height: 12, fill: `url(#${id})`, stroke: "#bdbdbd" }, group);
  svgText(group, x + 174, y + 10, "high mean activation, each column on its own scale");
  const ranges = layout.columns
    .filter((c) => c.layer && c.min !== null)
    .map((c) => `${ellipsize(c.layer, 24)}: ${formatNumber(c.min)} … ${formatNumber(c.max)}`)
    .join("   ·   ");
  svgText(group, x, y + 30, ranges);
  // Weights: the two ends of the same scale, by sign.
  const wy = y + 46;
  svg("line", { x1: x, y1: wy, x2: x + 22, y2: wy, stroke: divergingColor(0.9), "stroke-width": 3 }, group);
  svgText(group, x + 26, wy + 4, "positive");
  svg("line", { x1: x + 84, y1: wy, x2: x + 106, y2: wy, stroke: divergingColor(0.1), "stroke-width": 3 }, group);
  svgText(group, x + 110, wy + 4, "negative weight; line width ∝ |w|");
}

function signed(v: number): string {
  return (v > 0 ? "+" : "") + formatNumber(v);
}

function neuronTooltip(node: NeuronNode, layout: NeuronLayout, answer: NeuronsAnswer, run: string | null): HTMLElement {
  const tip = html("div", { class: "inn-l1-tip" });
  html("strong", {}, tip, `${node.layer} #${node.index}`);
  appendVisualisations(tip, run, node.layer, node.index);
  const all = answer.selected_classes.length === answer.classes.length;
  html("div", {}, tip, `mean activation: ${formatNumber(node.mean)} (${all ? "all classes" : "classes " + answer.selected_classes.join(", ")})`);
  const column = layout.columns.find((c) => c.side === node.side);
  html("div", {}, tip, `share: ${node.shareLabel} of the summed activation of the ${column?.shown ?? 0} neurons shown`);
  // Logs with per-unit statistics over the probe (reduced data keeps them for every layer).
  const entry = (node.side === "layer" ? answer.layer : answer.previous).neurons.find((n) => n.index === node.index);
  if (entry && (entry.std !== undefined || entry.zero_fraction !== undefined)) {
    const zeros = typeof entry.zero_fraction === "number" ? `${(entry.zero_fraction * 100).toFixed(1)} %` : "–";
    html("div", {}, tip, `over the probe: std ${formatNumber(entry.std ?? null)}, zeros ${zeros}`);
  }
  const strongest = strongestEdges(node.key, layout.edges);
  if (!strongest.length) {
    html("div", { class: "inn-l1-note" }, tip, "no top-k weight touches it");
    return tip;
  }
  html("div", {}, tip, "strongest weights:");
  const list = html("ul", {}, tip);
  for (const e of strongest) {
    const item = html("li", {}, list);
    const other = e.fromKey === node.key ? `→ ${layout.columns[1].layer} #${e.to}` : `← ${answer.previous_layer} #${e.from}`;
    item.append(`${other}: `);
    html("span", { class: e.value >= 0 ? "inn-pos" : "inn-neg" }, item, signed(e.value));
    if (Math.abs(Math.abs(e.value) - e.magnitude) > 1e-9) item.append(` (Σ|w| ${formatNumber(e.magnitude)})`);
  }
  return tip;
}

function edgeTooltip(edge: WeightEdge, answer: NeuronsAnswer, layerId: string): HTMLElement {
  const tip = html("div", { class: "inn-l1-tip" });
  html("strong", {}, tip, `${answer.previous_layer} #${edge.from} → ${layerId} #${edge.to}`);
  const line = html("div", {}, tip, "weight: ");
  html("span", { class: edge.value >= 0 ? "inn-pos" : "inn-neg" }, line, signed(edge.value));
  if (Math.abs(Math.abs(edge.value) - edge.magnitude) > 1e-9) {
    html("div", {}, tip, `kernel summed over its positions; Σ|w| = ${formatNumber(edge.magnitude)}`);
  }
  return tip;
}

function bindGraphEvents(
  ctx: ViewContext,
  layout: NeuronLayout,
  answer: NeuronsAnswer,
  view: SVGGElement,
  highlight: Highlighter,
): void {
  const nodes = new Map(layout.nodes.map((n) => [n.key, n]));
  const edges = new Map(layout.edges.map((e) => [e.key, e]));
  const build = (key: string): HTMLElement | null => {
    const node = nodes.get(key);
    if (node) return neuronTooltip(node, layout, answer, ctx.state.run);
    const edge = edges.get(key);
    return edge ? edgeTooltip(edge, answer, layout.columns[1].layer) : null;
  };
  const tips = new Map<string, HTMLElement | null>(); // built on first hover
  const tipOf = (key: string): HTMLElement | null => {
    if (!tips.has(key)) tips.set(key, build(key));
    return tips.get(key) ?? null;
  };

  view.addEventListener("mouseover", (event) => {
    const key = neuronAt(event.target);
    if (key) highlight.hover(key);
  });
  view.addEventListener("mousemove", (event) => {
    const key = neuronAt(event.target) ?? edgeAt(event.target);
    const tip = key ? tipOf(key) : null;
    if (tip) ctx.tooltip.show(tip, event);
  });
  view.addEventListener("mouseout", (event) => {
    const from = neuronAt(event.target);
    if (from && from !== neuronAt(event.relatedTarget)) highlight.hover(null);
    if (from || edgeAt(event.target)) ctx.tooltip.hide();
  });

  // A click on a neuron pins it (again: unpins); a click anywhere else unpins, unless the pointer moved (that was a pan).
  let down = { x: 0, y: 0 };
  view.addEventListener("pointerdown", (event) => (down = { x: event.clientX, y: event.clientY }));
  view.addEventListener("click", (event) => {
    if (Math.hypot(event.clientX - down.x, event.clientY - down.y) >= 3) return;
    const key = neuronAt(event.target);
    if (key) highlight.togglePin(key);
    else highlight.unpin();
  });
}

function neuronAt(target: EventTarget | null): string | null {
  return target instanceof Element ? (target.closest(".inn-l1-neuron")?.getAttribute("data-unit") ?? null) : null;
}

function edgeAt(target: EventTarget | null): string | null {
  return target instanceof Element ? target.getAttribute("data-edge") : null;
}

// ---- Side panel: k slider and Neurons × Classes matrix -----------------------------------------

function renderSide(ctx: ViewContext, answer: NeuronsAnswer, layerId: string, layout: NeuronLayout, highlight: Highlighter): HTMLElement {
  const side = html("div", { class: "inn-l1-side" }, ctx.side);
  renderKSlider(ctx, answer, side);
  renderMatrix(ctx, answer, layerId, layout, highlight, side);
  return side;
}

function renderKSlider(ctx: ViewContext, answer: NeuronsAnswer, parent: HTMLElement): void {
  const section = html("section", { class: "inn-l1-k" }, parent);
  html("label", { for: "inn-k" }, section, "Top-k weights");
  const k = ctx.state.k;
  const input = html("input", { type: "range", id: "inn-k", min: 1, max: K_SLIDER_MAX, step: 1, value: Math.min(k, K_SLIDER_MAX) }, section);
  const output = html("output", { for: "inn-k" }, section, String(k));
  const drawn = answer.weights.length;
  const noKernel = answer.notes?.some((n) => n.startsWith("no step file holds the kernel"));
  const note = !drawn ? (noKernel ? "no weights: no step file holds the kernel" : "no weights: the layer has no kernel") : drawn < k ? `all ${drawn} weights of the layer drawn` : `${drawn} strongest weights drawn`;
  html("div", { class: "inn-l1-note" }, section, note);
  // Reduced data (docs/format.md): what the view rests on, e.g. "kernel from step 40".
  if (answer.notes?.length) html("div", { class: "inn-l1-note inn-reduced-note" }, section, `reduced data: ${answer.notes.join("; ")}`);
  // The number follows the thumb; the state (and a new request) only changes on release.
  input.addEventListener("input", () => (output.textContent = input.value));
  input.addEventListener("change", () => {
    const value = Number(input.value);
    ctx.store.update((s) => setK(s, value));
  });
}

function renderMatrix(ctx: ViewContext, answer: NeuronsAnswer, layerId: string, layout: NeuronLayout, highlight: Highlighter, parent: HTMLElement): void {
  const section = html("section", { class: "inn-l1-matrix" }, parent);
  html("h3", {}, section, "Neurons × Classes");
  html("div", { class: "inn-l1-note" }, section, "Mean activation per class. Click a class to sort by it, again to reverse.");
  const wrap = html("div", { class: "inn-matrix-wrap" }, section);
  const table = html("table", { class: "inn-matrix" }, wrap);
  const thead = html("thead", {}, table);
  const tbody = html("tbody", {}, table);
  const footer = html("div", { class: "inn-l1-note" }, section);

  const { classes, matrix } = answer.neurons_by_classes;
  const selected = new Set(answer.selected_classes);
  const norm = normalizer(matrix.flat());
  const drawn = new Set(layout.nodes.filter((n) => n.side === "layer").map((n) => n.index));
  const sortKey = `${ctx.state.run ?? answer.run}/${layerId}`;
  let sort: MatrixSort = matrixSorts.get(sortKey) ?? { byClass: null, descending: false };

  const renderBody = () => {
    renderMatrixHead(thead, classes, selected, sort);
    const order = sortMatrix(answer.neurons_by_classes, sort.byClass, sort.descending);
    const rows = new Map<string, HTMLTableRowElement>();
    tbody.replaceChildren();
    for (const index of order.slice(0, MAX_MATRIX_ROWS)) {
      const key = neuronKey(layerId, index);
      const row = html("tr", { class: drawn.has(index) ? "inn-drawn" : null, "data-neuron": key }, tbody);
      html("th", { scope: "row" }, row, `#${index}`);
      classes.forEach((name, c) => {
        const value = matrix[c]?.[index] ?? null;
        html("td", {
          class: selected.has(name) ? null : "inn-matrix-off",
          style: `background:${divergingColor(norm(value))}`,
          title: `class ${name}, #${index}: ${formatNumber(value)}`,
        }, row);
      });
      if (drawn.has(index)) rows.set(key, row);
    }
    footer.textContent = order.length > MAX_MATRIX_ROWS ? `Showing ${MAX_MATRIX_ROWS} of ${order.length} neurons in this order.` : `${order.length} neurons; ● drawn in the graph.`;
    highlight.setRows(rows);
  };

  thead.addEventListener("click", (event) => {
    const th = event.target instanceof Element ? event.target.closest("th") : null;
    if (!th) return;
    sort = nextSort(sort, th.getAttribute("data-class"));
    matrixSorts.set(sortKey, sort);
    renderBody();
  });
  const rowKey = (event: Event) => (event.target instanceof Element ? (event.target.closest("tr")?.getAttribute("data-neuron") ?? null) : null);
  tbody.addEventListener("mouseover", (event) => highlight.hover(rowKey(event)));
  tbody.addEventListener("mouseleave", () => highlight.hover(null));
  tbody.addEventListener("click", (event) => {
    const key = rowKey(event);
    if (key) highlight.togglePin(key);
  });
  renderBody();
}

function renderMatrixHead(thead: HTMLTableSectionElement, classes: string[], selected: Set<string>, sort: MatrixSort): void {
  thead.replaceChildren();
  const row = html("tr", {}, thead);
  const arrow = sort.descending ? " ▼" : " ▲";
  const corner = html("th", { class: sort.byClass === null ? "inn-sorted" : null, title: "sort by neuron index" }, row, "neuron" + (sort.byClass === null ? " ▲" : ""));
  corner.setAttribute("aria-sort", sort.byClass === null ? "ascending" : "none");
  for (const name of classes) {
    const active = sort.byClass === name;
    const classNames = [active ? "inn-sorted" : "", selected.has(name) ? "" : "inn-matrix-off"].filter(Boolean).join(" ");
    const th = html("th", { "data-class": name, class: classNames || null, title: selected.has(name) ? `sort by class ${name}` : `class ${name} (not selected)` }, row, name + (active ? arrow : ""));
    th.setAttribute("aria-sort", active ? (sort.descending ? "descending" : "ascending") : "none");
  }
}
