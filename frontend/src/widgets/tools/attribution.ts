// Attribution maps (iNNvestigate-GUI): what in an input a class score depends on, logged at each
// step for a subset of the probe. The widget shows one probe sample, its input beside the map of the
// chosen method, and the model's top predictions; attribution widgets follow the selected sample, so
// a group shows the same sample across models in sync.

import type { TopLevelSpec } from "vega-lite";
import type { DataAnswer, DataArray, DataRequest, Model } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { column, flatValues } from "./shared/answers";
import { selectControl } from "./shared/controls";
import { isClassifier } from "./shared/models";
import { CHART_CONFIG } from "./shared/spec";
import { areaTable, curveRows, curvesLayer } from "./deletionCurves";
import { isTokenSequence, loadVocabulary, sequenceText, tokenRows, tokenStripLayer } from "./shared/tokens";

type Method = Extract<DataRequest["unit"], { kind: "attributions" }>["method"];

export const METHODS: { id: Method; label: string }[] = [
  { id: "saliency", label: "gradient (saliency)" },
  { id: "gradient_x_input", label: "gradient × input" },
  { id: "smoothgrad", label: "SmoothGrad" },
  { id: "integrated_gradients", label: "integrated gradients" },
  { id: "grad_cam", label: "Grad-CAM" },
  { id: "lrp_z", label: "LRP-z" },
  { id: "lrp_epsilon", label: "LRP-ε" },
  { id: "lrp_gamma", label: "LRP-γ" },
  { id: "lrp_alpha1_beta0", label: "LRP-α1β0" },
  { id: "lrp_alpha2_beta1", label: "LRP-α2β1" },
  { id: "lrp_z_plus", label: "LRP-z⁺" },
  { id: "lrp_w_square", label: "LRP-w²" },
  { id: "lrp_flat", label: "LRP-flat" },
  { id: "lrp_epsilon_plus_flat", label: "LRP EpsilonPlusFlat" },
  { id: "lrp_epsilon_gamma_box", label: "LRP EpsilonGammaBox" },
  { id: "deep_taylor", label: "Deep Taylor" },
  { id: "guided_backprop", label: "Guided Backprop" },
  { id: "deconvnet", label: "DeconvNet" },
  { id: "guided_grad_cam", label: "Guided Grad-CAM" },
  { id: "occlusion", label: "occlusion" },
  { id: "gradient_x_embedding", label: "gradient × embedding" },
];
export const TARGETS = ["predicted", "true"] as const;
/** Maps that are never negative (a one-sided colour scale); the others are signed. */
const NON_NEGATIVE: readonly string[] = ["grad_cam"];

/** The methods a model logged (its models entry), in METHODS order; all when unknown. Pure. */
export function loggedMethods(logged: readonly string[] | null | undefined): { id: Method; label: string }[] {
  if (!logged?.length) return METHODS;
  const found = METHODS.filter((m) => logged.includes(m.id));
  return found.length ? found : METHODS;
}

/** The method a widget shows: the one asked for if logged, else integrated gradients, else the first logged. Pure. */
export function chooseMethod(asked: unknown, offered: { id: Method }[]): Method {
  return (
    offered.find((m) => m.id === asked)?.id ??
    offered.find((m) => m.id === "integrated_gradients")?.id ??
    offered[0]?.id ??
    "integrated_gradients"
  );
}

export interface PixelRow {
  image: "input" | "attribution";
  row: number;
  col: number;
  value: number | null;
  sample: number;
  [key: string]: unknown;
}

/** A 2-D map from an array of rank 2 or 3 (channels summed, keeping the sign). Pure. */
export function toMap(array: unknown): (number | null)[][] {
  const grid = array as unknown[][];
  return grid.map((line) =>
    line.map((cell) => {
      if (Array.isArray(cell)) {
        const values = (cell as (number | null)[]).filter((v): v is number => v !== null && Number.isFinite(v));
        return values.length ? values.reduce((a, b) => a + b, 0) : null;
      }
      return cell === null ? null : Number(cell);
    }),
  );
}

/** Rows of both images of one sample. Pure. */
export function pixelRows(input: (number | null)[][], attribution: (number | null)[][], sample: number): PixelRow[] {
  const rows: PixelRow[] = [];
  input.forEach((line, r) => line.forEach((value, c) => rows.push({ image: "input", row: r, col: c, value, sample })));
  attribution.forEach((line, r) => line.forEach((value, c) => rows.push({ image: "attribution", row: r, col: c, value, sample })));
  return rows;
}

function heatmap(image: "input" | "attribution", title: string, color: Record<string, unknown>, size: number): Record<string, unknown> {
  return {
    transform: [{ filter: `datum.image === '${image}'` }],
    width: size,
    height: size,
    title,
    mark: { type: "rect", tooltip: true },
    encoding: {
      x: { field: "col", type: "ordinal", axis: null },
      y: { field: "row", type: "ordinal", axis: null },
      color: { field: "value", type: "quantitative", ...color },
    },
  };
}

/** The input beside the map; below them, with `withCurves`, the deletion curves (rows of deletionCurves.curveRows). */
export function attributionSpec(methodLabel: string, signed: boolean, maxAbs: number, withCurves = false): TopLevelSpec {
  const mapColor = signed
    ? { scale: { scheme: "redblue", reverse: true, domain: [-maxAbs || -1, maxAbs || 1] }, title: "attribution", legend: { gradientLength: 90 } }
    : { scale: { scheme: "reds", domain: [0, maxAbs || 1] }, title: "attribution", legend: { gradientLength: 90 } };
  const maps = {
    hconcat: [
      heatmap("input", "input", { scale: { scheme: "greys" }, legend: null }, 120),
      heatmap("attribution", methodLabel, mapColor, 120),
    ],
    resolve: { scale: { color: "independent" } },
  };
  return withDeletionCurves(maps, withCurves);
}

/** A token sequence coloured by each token's attribution; below it, with `withCurves`, the deletion curves. */
export function tokenAttributionSpec(methodLabel: string, maxAbs: number, withCurves = false): TopLevelSpec {
  return withDeletionCurves(tokenStripLayer(methodLabel, maxAbs, "datum.image === 'tokens'"), withCurves);
}

/** The whole chart: `maps` over the shared table, with the deletion curves below them when asked. */
function withDeletionCurves(maps: object, withCurves: boolean): TopLevelSpec {
  const layout = withCurves ? { vconcat: [maps, curvesLayer(240)], resolve: { scale: { color: "independent" } } } : maps;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "table" },
    params: [{ name: "highlight", value: null }],
    ...layout,
    config: CHART_CONFIG,
  } as unknown as TopLevelSpec;
}

/** The label of a method (its id when unknown). */
export function methodLabel(method: string): string {
  return METHODS.find((m) => m.id === method)?.label ?? method;
}

async function dataArray(ctx: ToolContext, body: Parameters<ToolContext["api"]["data"]>[0]): Promise<DataArray> {
  const answer: DataAnswer = await ctx.api.data(body);
  return column(answer);
}

/** Whether a model logged attribution maps (the models answer lists their methods). */
export function hasAttributions(model: Model | undefined): boolean {
  return Boolean(model?.attributions?.methods?.length);
}

export async function loadAttribution(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent> {
  const run = unit.runs[0];
  const model = ctx.models.get(run);
  const classNames = model?.classes ?? [];
  const offered = loggedMethods(model?.attributions?.methods);
  const method = chooseMethod(options.method, offered);
  const target = options.target === "true" ? "true" : "predicted";
  // The maps of every attributed sample (32 by default, a few kB): the row of the chosen one is picked here.
  const attributed: DataAnswer = await ctx.api.data({ run, unit: { kind: "attributions", method, target }, steps: "last" });
  const subset = flatValues(attributed.result.sample as DataArray).map(Number);
  if (!subset.length) throw new Error(`${run} has no attributions at its last step`);
  const wanted = typeof options.sample === "number" ? options.sample : subset[0];
  const row = subset.indexOf(wanted);
  const controls = document.createElement("div");
  controls.className = "inn-widget-controls inn-small";
  controls.style.display = "flex";
  controls.style.flexWrap = "wrap";
  controls.style.gap = "6px";
  const pick = (patch: Partial<WidgetOptions>) => host.reload(patch);
  const sampleChoices = subset.map((s) => ({ value: String(s), label: `#${s}` }));
  if (row < 0) sampleChoices.unshift({ value: String(wanted), label: `#${wanted} (no attributions)` });
  const controlsList = [
    selectControl("method", offered.map((m) => ({ value: m.id, label: m.label })), method, (v) => pick({ method: v })),
    selectControl("class", TARGETS.map((t) => ({ value: t, label: t })), target, (v) => pick({ target: v })),
    selectControl("sample", sampleChoices, String(wanted), (v) => host.selectSample(Number(v))),
  ];
  for (const control of controlsList) if (control) controls.append(control);
  if (row < 0) {
    const note = document.createElement("div");
    note.className = "inn-error-text inn-small";
    note.textContent = `Probe sample #${wanted} is not in ${run}'s attribution subset (${subset.length} samples): choose one above.`;
    return { spec: null, rows: [], html: wrap(controls, note), sampleField: "sample" };
  }
  const [input, top, labels] = await Promise.all([
    dataArray(ctx, { run, unit: { kind: "samples" }, transform: [{ op: "select", indices: [wanted], axis: 0 }] }),
    ctx.api.data({ run, unit: { kind: "predictions" }, steps: "last", transform: [{ op: "select", indices: [wanted], axis: 0 }, { op: "topk", k: 3, axis: -1 }] }),
    dataArray(ctx, { run, unit: { kind: "labels" }, transform: [{ op: "select", indices: [wanted], axis: 0 }] }),
  ]);
  const inputSample = (input.data as unknown[])[0];
  const tokens = isTokenSequence(inputSample);
  const vocabulary = tokens ? await loadVocabulary(ctx, model) : null;
  const inputMap = tokens ? [] : toMap(inputSample);
  const attributionMap = tokens ? [((column(attributed).data as unknown[])[row] as unknown[]).flat(Infinity).map((v) => (v === null ? null : Number(v)))] : toMap((column(attributed).data as unknown[])[row]);
  const signed = !NON_NEGATIVE.includes(method);
  const values = attributionMap.flat().filter((v): v is number => v !== null);
  const maxAbs = Math.max(0, ...values.map(Math.abs));
  const topk = top.result.value as { values: { data: number[][] }; indices: { data: number[][] } };
  const predictions = topk.indices.data[0].map((c, i) => `${classNames[c] ?? c} (${topk.values.data[0][i].toFixed(2)})`);
  const truth = Number(flatValues(labels)[0]);
  const facts = document.createElement("div");
  facts.className = "inn-small inn-attribution-facts";
  facts.dataset.sample = String(wanted);
  facts.textContent = `sample #${wanted}, true class ${classNames[truth] ?? truth}; top predictions: ${predictions.join(" · ")}`;
  if (tokens) facts.title = sequenceText(inputSample, vocabulary);
  // Faithfulness: the deletion curves of every logged method at this step, the areas of this sample and the model.
  const deletion = attributed.attribution?.deletion ?? null;
  const faithfulness = deletion ? areaTable(deletion, row, wanted, method, methodLabel) : document.createElement("div");
  if (!deletion) {
    faithfulness.className = "inn-small inn-deletion-note";
    faithfulness.textContent = `No deletion curves: ${attributed.attribution?.deletion_note ?? "not logged"}.`;
  }
  const curves = deletion ? curveRows(deletion, methodLabel, method) : [];
  if (tokens) {
    return {
      spec: tokenAttributionSpec(methodLabel(method), maxAbs, deletion !== null),
      rows: [...tokenRows(inputSample, attributionMap[0], vocabulary, wanted).map((r) => ({ ...r, image: "tokens" })), ...curves],
      sampleField: "sample",
      html: wrap(controls, facts, faithfulness),
      caption: `${target} class, last step; each token's attribution through the embedding, blue negative, red positive${vocabulary ? "" : " (no vocabulary logged: token ids shown)"}${deletion ? "; deletion curves: tokens removed (a zero embedding), a lower area is a more faithful map" : ""}`,
    };
  }
  return {
    spec: attributionSpec(methodLabel(method), signed, maxAbs, deletion !== null),
    rows: [...pixelRows(inputMap, attributionMap, wanted), ...curves],
    sampleField: "sample",
    html: wrap(controls, facts, faithfulness),
    caption: `${target} class, last step; ${signed ? "blue negative, red positive" : "Grad-CAM at the last convolution, upsampled by the grid"}${method === "occlusion" ? "; the score's drop when a patch is greyed out" : ""}${deletion ? "; deletion curves: a lower area is a more faithful map" : ""}`,
  };
}

function wrap(...parts: HTMLElement[]): HTMLElement {
  const box = document.createElement("div");
  box.append(...parts);
  return box;
}

export const attributionTool: Tool = {
  id: "attribution",
  name: "Attribution",
  category: "Explain",
  description:
    "What in the input a class score depends on (for token inputs, each token through its embedding: gradient × embedding, integrated gradients): gradient, gradient × input, SmoothGrad, integrated gradients, Grad-CAM, relevance propagation (LRP-z, ε, γ, αβ, z⁺, w², flat, EpsilonPlusFlat, EpsilonGammaBox, Deep Taylor), Guided Backprop, DeconvNet, Guided Grad-CAM or occlusion (those the model logged), for the predicted or the true class, logged at each step for a subset of the probe. Widgets follow the selected sample, in sync across models.",
  icon: "M4 4h7v7H4zM13 13h7v7h-7zM13 4h7v7h-7M4 13h7v7H4M15 6l3 3M6 15l3 3",
  classDependent: false,
  // Only models that logged maps: the callback logs them for image and text classifiers (tokens through
  // their embedding), so a classifier without any is greyed out with the reason.
  appliesTo: (unit, ctx) => unit.kind === "model" && isClassifier(ctx.models.get(unit.runs[0])) && hasAttributions(ctx.models.get(unit.runs[0])),
  whyNot: (unit, ctx) =>
    unit.kind === "model" && isClassifier(ctx.models.get(unit.runs[0])) && !hasAttributions(ctx.models.get(unit.runs[0]))
      ? "no attribution maps logged (the callback attributes image and text classifiers; see the training log for why not)"
      : undefined,
  load: loadAttribution,
};
