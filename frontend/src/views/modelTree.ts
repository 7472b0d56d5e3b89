// L3, the tree of models: experiments outlined, one box per model with its label, name, short id
// and a glyph of its architecture, lineage edges left to right with a width from the change of
// trainable parameters (paper Fig. 4, 11).

import { MISSING_PREFIX, MODEL_BOX, lineageEdgeWidth } from "../graph/layoutInput";
import { layoutLineage } from "../graph/lineageLayout";
import { showModel } from "../state";
import { formatCount, formatNumber, html, svg, svgText } from "../svg";
import type { Model, TreeAnswer, TreeEdge } from "../types";
import type { RenderedView, UnitBox, ViewContext } from "./view";
import { colorByOptions, colorsBy, tint } from "./colorBy";

/** Colours of the glyph's bars by layer family. */
export function glyphColor(type: string): string {
  if (/Conv/.test(type)) return "#4e79a7";
  if (/Dense|EinsumDense/.test(type)) return "#f28e2b";
  if (/Normalization/.test(type)) return "#59a14f";
  if (/Pool/.test(type)) return "#b07aa1";
  if (/Dropout|Noise/.test(type)) return "#bab0ac";
  if (/Add|Concatenate|Multiply|Average|Subtract|Maximum|Minimum/.test(type)) return "#edc948";
  if (/Activation|ReLU|Softmax|ELU/.test(type)) return "#e15759";
  if (/LSTM|GRU|RNN/.test(type)) return "#76b7b2";
  return "#9c9c9c";
}

/** Bar heights of the glyph: log of the trainable parameters, layers without any as short ticks. Pure. */
export function glyphBars(glyph: Model["glyph"], width: number, height: number) {
  if (!glyph.length) return [];
  const maxLog = Math.max(1, ...glyph.map((g) => Math.log10(1 + g.params)));
  const step = width / glyph.length;
  return glyph.map((g, i) => {
    const h = g.params > 0 ? Math.max(3, (Math.log10(1 + g.params) / maxLog) * height) : 2;
    return { x: i * step, width: Math.max(1, step - 1), height: h, color: glyphColor(g.type), type: g.type };
  });
}

function edgeTooltip(edge: TreeEdge, byId: Map<string, Model>): HTMLElement {
  const box = html("div");
  const parent = byId.get(edge.from);
  const child = byId.get(edge.to);
  html("b", {}, box, `${parent?.run ?? edge.from.slice(0, 8)} → ${child?.run ?? edge.to.slice(0, 8)}`);
  const p = (m?: Model) => (m?.params ? formatCount(m.params.trainable) : "?");
  const change = edge.param_change === null ? "n/a" : `${(edge.param_change * 100).toFixed(1)}%`;
  html("div", {}, box, `trainable parameters: ${p(parent)} → ${p(child)} (change ${change})`);
  const diff = edge.diff;
  if (diff) {
    if (diff.added.length) html("div", {}, box, `added: ${diff.added.join(", ")}`);
    if (diff.removed.length) html("div", {}, box, `removed: ${diff.removed.join(", ")}`);
    for (const change of diff.changed.slice(0, 8)) {
      const fields = Object.entries(change.fields)
        .map(([k, [a, b]]) => `${k} ${JSON.stringify(a)} → ${JSON.stringify(b)}`)
        .join("; ");
      html("div", {}, box, `changed ${change.layer}: ${fields}`);
    }
    if (!diff.added.length && !diff.removed.length && !diff.changed.length) html("div", {}, box, "same architecture");
  }
  return box;
}

function modelTooltip(model: Model): HTMLElement {
  const box = html("div");
  html("b", {}, box, model.label);
  html("div", {}, box, `run ${model.run} · id ${model.id ?? "?"}`);
  if (model.plain) {
    html("div", {}, box, `plain run (no iNNspector data): its metrics only, from ${model.series_runs.join(", ")}`);
  }
  if (model.params) html("div", {}, box, `parameters: ${formatCount(model.params.trainable)} trainable, ${formatCount(model.params.non_trainable)} fixed`);
  html("div", {}, box, `${model.layer_count ?? "?"} layers · steps ${model.steps.length ? `${model.steps[0]}–${model.steps[model.steps.length - 1]}` : "none"}`);
  for (const [name, metric] of Object.entries(model.latest_metrics).slice(0, 6)) {
    // A non-finite value comes as the string "nan", "inf" or "-inf".
    const value = typeof metric.value === "number" ? formatNumber(metric.value) : metric.value;
    html("div", {}, box, `${name}: ${value} (step ${metric.step})`);
  }
  // What the logging plan reduced or paced ("logged every 3rd epoch: ..."), as the callback printed it.
  for (const note of model.plan?.notes ?? []) html("div", { class: "inn-reduced-note inn-small" }, box, note);
  for (const error of model.errors) html("div", { class: "inn-error-text" }, box, error);
  return box;
}

export function renderModels(ctx: ViewContext, tree: TreeAnswer, models: Model[]): RenderedView {
  const laid = layoutLineage(tree);
  const placed = laid.boxes;
  const byId = new Map<string, Model>();
  for (const m of models) if (m.id) byId.set(m.id, m);
  const byRun = new Map(models.map((m) => [m.run, m]));
  const units = new Map<string, UnitBox>();
  const minimap: RenderedView["minimap"] = [];
  const root = ctx.root;

  for (const experiment of tree.experiments) {
    const box = placed.get(`experiment:${experiment.id}`);
    if (!box) continue;
    const g = svg("g", { class: "inn-experiment", "data-unit": `experiment:${experiment.id}` }, root);
    const rect = svg("rect", { x: box.x, y: box.y, width: box.width, height: box.height, rx: 10, class: "inn-experiment-box" }, g);
    svgText(g, box.x + 12, box.y + 19, `Experiment ${experiment.name} · ${experiment.models.length} models`, { class: "inn-experiment-label" });
    units.set(`experiment:${experiment.id}`, { key: `experiment:${experiment.id}`, ...box, element: g, shape: rect, baseFill: "none" });
    minimap.push({ ...box, color: "#eeeeee" });
  }

  const edgeLayer = svg("g", { class: "inn-edges" }, root);
  for (const laidEdge of laid.edges) {
    if (laidEdge.index === null) {
      svg("path", { d: laidEdge.path, class: "inn-lineage-line inn-missing", "marker-end": "url(#inn-arrow)" }, edgeLayer);
      continue;
    }
    const edge = tree.edges[laidEdge.index];
    const g = svg("g", { class: "inn-lineage", "data-edge": `${byId.get(edge.from)?.run ?? edge.from}>${byId.get(edge.to)?.run ?? edge.to}` }, edgeLayer);
    svg("path", { d: laidEdge.path, class: "inn-lineage-line", "stroke-width": lineageEdgeWidth(edge.param_change), "marker-end": "url(#inn-arrow)" }, g);
    const hit = svg("path", { d: laidEdge.path, class: "inn-hit" }, g);
    hit.addEventListener("mousemove", (e) => ctx.tooltip.show(edgeTooltip(edge, byId), e));
    hit.addEventListener("mouseleave", () => ctx.tooltip.hide());
  }

  for (const node of tree.nodes) {
    const box = placed.get(node.id);
    const model = byRun.get(node.run);
    if (!box || !model) continue;
    const color = ctx.modelColors.get(model.run) ?? "#888888";
    const key = `model:${model.run}`;
    const g = svg("g", { class: "inn-model", "data-unit": key, "data-run": model.run, transform: `translate(${box.x},${box.y})` }, root);
    const rect = svg("rect", { width: MODEL_BOX.width, height: MODEL_BOX.height, rx: 6, class: "inn-model-box" }, g);
    svg("rect", { width: 6, height: MODEL_BOX.height, rx: 3, fill: color, class: "inn-model-color" }, g);
    svgText(g, 14, 16, ellipsis(model.label, 30), { class: "inn-model-label" });
    svgText(g, 14, 31, model.plain ? `${model.run} · plain run` : `${model.run} · ${(model.id ?? "").slice(0, 8)}`, {
      class: "inn-model-name",
    });
    if (model.plain) g.classList.add("inn-plain");
    const glyph = svg("g", { class: "inn-glyph", transform: `translate(14, ${MODEL_BOX.height - 8})` }, g);
    for (const bar of glyphBars(model.glyph ?? [], MODEL_BOX.width - 28, 30)) {
      svg("rect", { x: bar.x, y: -bar.height, width: bar.width, height: bar.height, fill: bar.color }, glyph);
    }
    if (model.errors.length) svgText(g, MODEL_BOX.width - 14, 16, "⚠", { class: "inn-warning", "text-anchor": "end" });
    if (node.in_cycle || node.duplicate_of) svgText(g, MODEL_BOX.width - 28, 16, "↻", { class: "inn-warning" });
    g.addEventListener("mousemove", (e) => ctx.tooltip.show(modelTooltip(model), e));
    g.addEventListener("mouseleave", () => ctx.tooltip.hide());
    g.addEventListener("dblclick", (e) => {
      e.stopPropagation();
      ctx.tooltip.hide();
      if (model.plain && model.layer_count === null) return; // no graph logged: only its metrics, in the toolbox
      ctx.store.update((s) => showModel(s, model.run));
    });
    units.set(key, { key, ...box, element: g, shape: rect, baseFill: "#ffffff" });
    minimap.push({ ...box, color });
  }

  for (const [id, box] of placed) {
    if (!id.startsWith(MISSING_PREFIX)) continue;
    const g = svg("g", { class: "inn-missing-parent", transform: `translate(${box.x},${box.y})` }, root);
    svg("rect", { width: box.width, height: box.height, rx: 6 }, g);
    svgText(g, 8, 16, "missing parent", {});
    svgText(g, 8, 31, id.slice(MISSING_PREFIX.length, MISSING_PREFIX.length + 8), {});
  }

  const control = renderColorBy(ctx, models, units);
  return { width: laid.width, height: laid.height, units, minimap, dispose: () => control?.remove() };
}

// The "colour by" choice outlives a redraw of the tree (it is a way of looking, not a state to share).
let colorByKey = "";

/** The "colour by" control over the tree (top right of the stage): model boxes filled by a hyper-parameter
 * or final metric. Returns the control (removed with the view). */
function renderColorBy(ctx: ViewContext, models: Model[], units: Map<string, UnitBox>): HTMLElement | null {
  const options = colorByOptions(models);
  const stage = ctx.side.parentElement;
  if (!options.length || !stage) return null;
  const box = html("div", { class: "inn-color-by inn-small" }, stage);
  const label = html("label", {}, box, "Colour models by ");
  const select = html("select", { id: "inn-color-by" }, label) as HTMLSelectElement;
  html("option", { value: "" }, select, "nothing");
  for (const option of options) html("option", { value: option.key }, select, option.label);
  if (!options.some((o) => o.key === colorByKey)) colorByKey = "";
  select.value = colorByKey;
  const legend = html("div", { class: "inn-muted", id: "inn-color-by-legend" }, box);
  const apply = () => {
    colorByKey = select.value;
    const coloured = colorByKey ? colorsBy(models, colorByKey) : null;
    legend.textContent = coloured?.legend ?? "";
    for (const model of models) {
      const unit = units.get(`model:${model.run}`);
      if (!unit) continue;
      const fill = coloured?.fills.get(model.run);
      unit.baseFill = fill ? tint(fill) : "#ffffff";
      unit.shape.setAttribute("fill", unit.baseFill);
    }
  };
  select.addEventListener("change", apply);
  apply();
  return box;
}

function ellipsis(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}
