// L2, one model: layer boxes (name top-left, type and output shape bottom-left) holding their
// inner graph of operations and variables, data-flow edges, nested models and blocks as groups
// that open and close, the model outlined in its colour (paper Fig. 5, 6, 12).

import type { ElkNode } from "elkjs/lib/elk-api";
import {
  CLOSED_GROUP,
  LAYER_HEADER,
  LAYER_PADDING,
  innerLayoutInput,
  layerBoxSize,
  layerFooter,
  modelLayoutInput,
} from "../graph/layoutInput";
import { visibleTree, type ModelGraph, type VisibleNode } from "../graph/modelGraph";
import { absolutePositions, edgePaths, layout, pathData } from "../layout";
import { CATEGORY_COLORS, opCategory, pictogramPath } from "../pictograms";
import { openGroupsOf, showNeurons, toggleGroup } from "../state";
import { formatCount, formatShape, html, svg, svgText } from "../svg";
import type { InnerNode, Layer } from "../types";
import { variableKey } from "../widgets/units";
import type { RenderedView, UnitBox, ViewContext } from "./view";

const INITIALIZER_KEYS = ["kernel_initializer", "bias_initializer", "gamma_initializer", "beta_initializer", "embeddings_initializer"];
const CONFIG_KEYS = ["units", "filters", "kernel_size", "strides", "padding", "activation", "rate", "pool_size", "axis", "momentum"];

function describeConfigValue(value: unknown): string {
  if (value && typeof value === "object" && "class_name" in (value as Record<string, unknown>)) {
    return String((value as { class_name: unknown }).class_name);
  }
  return JSON.stringify(value);
}

export function layerTooltip(layer: Layer): HTMLElement {
  const box = html("div");
  html("b", {}, box, `${layer.name}`);
  html("span", { class: "inn-muted" }, box, ` ${layer.type}${layer.custom ? " (custom)" : ""}`);
  html("div", {}, box, `input ${layer.input_shapes.map(formatShape).join(", ") || "?"} → output ${layer.output_shapes.map(formatShape).join(", ") || "?"}`);
  html("div", {}, box, `parameters: ${formatCount(layer.params.trainable)} trainable, ${formatCount(layer.params.non_trainable)} fixed`);
  for (const key of CONFIG_KEYS) {
    if (key in layer.config) html("div", {}, box, `${key}: ${describeConfigValue(layer.config[key])}`);
  }
  for (const key of INITIALIZER_KEYS) {
    if (key in layer.config) html("div", {}, box, `${key.replace("_initializer", "")} initializer: ${describeConfigValue(layer.config[key])}`);
  }
  if (layer.calls > 1) html("div", {}, box, `shared: called ${layer.calls} times`);
  return box;
}

function innerTooltip(layer: Layer, node: InnerNode): HTMLElement {
  const box = html("div");
  html("b", {}, box, node.label);
  html("span", { class: "inn-muted" }, box, ` ${node.kind}${node.op && node.op !== node.label ? ` (${node.op})` : ""} in ${layer.name}`);
  if (node.shape) html("div", {}, box, `shape ${formatShape(node.shape)}`);
  if (node.variable) {
    const init = layer.config[`${node.variable}_initializer`];
    if (init) html("div", {}, box, `initializer: ${describeConfigValue(init)}`);
    const count = node.shape?.reduce<number>((n, d) => n * (d ?? 1), 1);
    if (count !== undefined) html("div", {}, box, `${formatCount(count)} values`);
  }
  return box;
}

async function innerLayouts(graph: ModelGraph, layerIds: string[]): Promise<Map<string, ElkNode>> {
  const results = await Promise.all(layerIds.map((id) => layout(innerLayoutInput(graph.layers.get(id)!))));
  return new Map(layerIds.map((id, i) => [id, results[i]]));
}

function visibleLayers(nodes: VisibleNode[]): string[] {
  return nodes.flatMap((n) => (n.kind === "layer" ? [n.id] : visibleLayers(n.children)));
}

function drawInner(g: SVGGElement, layer: Layer, inner: ElkNode, ctx: ViewContext, units: Map<string, UnitBox>, origin: { x: number; y: number }) {
  const ox = LAYER_PADDING;
  const oy = LAYER_HEADER;
  const innerGroup = svg("g", { class: "inn-inner", transform: `translate(${ox},${oy})` }, g);
  const placed = absolutePositions(inner);
  for (const points of edgePaths(inner, placed).values()) {
    svg("path", { d: pathData(points), class: "inn-inner-edge" }, innerGroup);
  }
  for (const node of layer.inner.nodes) {
    const p = placed.get(node.id);
    if (!p) continue;
    if (node.kind === "input" || node.kind === "output") {
      svg("circle", { cx: p.x + p.width / 2, cy: p.y + p.height / 2, r: 3, class: "inn-port" }, innerGroup);
      continue;
    }
    const unitKey = node.kind === "variable" ? variableKey(layer.id, node.variable ?? node.label) : `op:${layer.id}/${node.id}`;
    const ng = svg("g", { class: `inn-${node.kind}`, "data-unit": unitKey, "data-op": node.op ?? null, transform: `translate(${p.x},${p.y})` }, innerGroup);
    let shape: SVGElement;
    let fill: string;
    if (node.kind === "variable") {
      fill = "#ffffff";
      shape = svg("rect", { width: p.width, height: p.height, rx: p.height / 2, class: "inn-variable-shape", fill }, ng);
      svgText(ng, p.width / 2, p.height - 4, node.label, { "text-anchor": "middle", class: "inn-variable-label" });
    } else {
      fill = CATEGORY_COLORS[opCategory(node.op)];
      shape = svg("circle", { cx: p.width / 2, cy: p.height / 2, r: p.width / 2, class: "inn-op-shape", fill }, ng);
      svg("path", { d: pictogramPath(node), transform: `translate(${p.width / 2},${p.height / 2}) scale(0.85)`, class: "inn-pictogram" }, ng);
    }
    ng.addEventListener("mousemove", (e) => {
      e.stopPropagation();
      ctx.tooltip.show(innerTooltip(layer, node), e);
    });
    ng.addEventListener("mouseleave", () => ctx.tooltip.hide());
    units.set(unitKey, { key: unitKey, x: origin.x + ox + p.x, y: origin.y + oy + p.y, width: p.width, height: p.height, element: ng, shape, baseFill: fill });
  }
}

export async function renderModel(ctx: ViewContext, graph: ModelGraph, run: string): Promise<RenderedView> {
  const open = new Set(openGroupsOf(ctx.state, run));
  const tree = visibleTree(graph, open);
  const layerIds = visibleLayers(tree);
  const inner = await innerLayouts(graph, layerIds);
  const sizeOf = (id: string) => layerBoxSize(graph.layers.get(id)!, { width: inner.get(id)?.width ?? 0, height: inner.get(id)?.height ?? 0 });
  const laid = await layout(modelLayoutInput(graph, open, sizeOf));
  const placed = absolutePositions(laid);
  const paths = edgePaths(laid, placed);
  const color = ctx.modelColors.get(run) ?? "#888888";
  const units = new Map<string, UnitBox>();
  const minimap: RenderedView["minimap"] = [];
  const root = ctx.root;
  const width = laid.width ?? 0;
  const height = laid.height ?? 0;

  // The model outlined in its colour, its name above.
  svg("rect", { x: 4, y: 4, width: width - 8, height: height - 8, rx: 12, class: "inn-model-outline", stroke: color }, root);
  svgText(root, 16, 24, run, { class: "inn-model-title", fill: color });

  const groupLayer = svg("g", { class: "inn-groups" }, root);
  const edgeLayer = svg("g", { class: "inn-edges" }, root);
  const nodeLayer = svg("g", { class: "inn-layers" }, root);

  const drawGroup = (node: VisibleNode) => {
    const p = placed.get(node.id);
    const group = graph.groups.get(node.id);
    if (!p || !group) return;
    const key = `group:${node.id}`;
    const parent = node.open ? groupLayer : nodeLayer;
    const g = svg("g", { class: `inn-group inn-${group.kind}${node.open ? " inn-open" : ""}`, "data-unit": key, transform: `translate(${p.x},${p.y})` }, parent);
    const rect = svg("rect", { width: p.width, height: node.open ? p.height : CLOSED_GROUP.height, rx: 8, class: "inn-group-box" }, g);
    const toggle = svgText(g, 10, 15, node.open ? "−" : "+", { class: "inn-toggle" });
    const info = `${group.kind === "namespace" ? (group.detail ?? "nested model") : "block"} · ${group.layerCount} layers`;
    if (node.open) {
      // One header line when open: the members start right below it.
      svgText(g, 24, 15, `${group.label} · ${info}`, { class: "inn-group-label" });
    } else {
      svgText(g, 24, 15, group.label, { class: "inn-group-label" });
      svgText(g, 24, 34, info, { class: "inn-group-info" });
    }
    const flip = (e: Event) => {
      e.stopPropagation();
      ctx.store.update((s) => toggleGroup(s, run, node.id));
    };
    toggle.addEventListener("click", flip);
    g.addEventListener("dblclick", flip);
    units.set(key, { key, ...p, element: g, shape: rect, baseFill: node.open ? "none" : "#f4f6fb" });
    minimap.push({ ...p, color: node.open ? "#f0f0f0" : "#c9d3e6" });
    for (const child of node.children) (child.kind === "group" ? drawGroup : drawLayer)(child);
  };

  const drawLayer = (node: VisibleNode) => {
    const p = placed.get(node.id);
    const layer = graph.layers.get(node.id);
    if (!p || !layer) return;
    const key = `layer:${layer.id}`;
    const g = svg("g", { class: `inn-layer${layer.custom ? " inn-custom" : ""}`, "data-unit": key, "data-layer": layer.id, "data-type": layer.type, transform: `translate(${p.x},${p.y})` }, nodeLayer);
    const rect = svg("rect", { width: p.width, height: p.height, rx: 5, class: "inn-layer-box" }, g);
    svgText(g, LAYER_PADDING, 13, layer.name, { class: "inn-layer-name" });
    svgText(g, LAYER_PADDING, p.height - 5, layerFooter(layer), { class: "inn-layer-type" });
    const laidInner = inner.get(layer.id);
    if (laidInner) drawInner(g, layer, laidInner, ctx, units, p);
    g.addEventListener("mousemove", (e) => ctx.tooltip.show(layerTooltip(layer), e));
    g.addEventListener("mouseleave", () => ctx.tooltip.hide());
    g.addEventListener("dblclick", (e) => {
      e.stopPropagation();
      ctx.tooltip.hide();
      if (!layer.is_input) ctx.store.update((s) => showNeurons(s, layer.id));
    });
    units.set(key, { key, ...p, element: g, shape: rect, baseFill: "#ffffff" });
    minimap.push({ ...p, color });
  };

  for (const node of tree) (node.kind === "group" ? drawGroup : drawLayer)(node);
  for (const [id, points] of paths) {
    svg("path", { d: pathData(points), class: "inn-flow", "marker-end": "url(#inn-arrow)", "data-edge": id.slice(id.indexOf(":") + 1) }, edgeLayer);
  }
  return { width, height, units, minimap };
}
