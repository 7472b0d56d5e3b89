// Logged Images: the images a run logged with TensorBoard's own image summaries (tf.summary.image in a
// custom loop, Keras' TensorBoard callback with write_images=True), from the `images` and `image` routes
// (issue 13). A tag selector, a step slider, and the step's samples side by side, one column per model.

import type { ImagesAnswer, ImageSeries, Model } from "../../types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";
import { selectControl } from "./shared/controls";
import { modelsOf } from "./shared/models";
import { appliesToModels } from "./shared/unitPredicates";

/** Samples shown per model and step: a step may hold a whole batch. */
export const MAX_SAMPLES_SHOWN = 8;

export interface LoggedImageRow extends Record<string, unknown> {
  model: string;
  tag: string;
  /** The model's step shown: the chosen one, or its newest step before it when it has not that one. */
  step: number;
  sample: number;
  series_run: string;
  url: string;
}

type UrlOf = (params: { run: string; tag: string; step: number; sample: number; series_run: string }) => string;

/** Whether a model logged images (its `image_tags`, from the `models` route). */
export function hasLoggedImages(model: Model | undefined): boolean {
  return (model?.image_tags?.length ?? 0) > 0;
}

/** The models of a unit that logged images. */
function modelsWithImages(unit: UnitRef, ctx: Pick<ToolContext, "models">): Model[] {
  return modelsOf(unit, ctx).filter(hasLoggedImages);
}

/** The series of a tag in an answer (the first TensorBoard run holding it). */
function seriesOf(answer: ImagesAnswer, tag: string): ImageSeries | undefined {
  return answer.images.find((s) => s.tag === tag);
}

/** The step a model shows for the chosen step: that step, else its newest earlier one, else its first. */
export function stepShown(steps: number[], chosen: number): number | null {
  if (!steps.length) return null;
  const earlier = steps.filter((s) => s <= chosen);
  return earlier.length ? earlier[earlier.length - 1] : steps[0];
}

/**
 * The pure mapping: the tags of the answers, the chosen tag and step (the options' when they exist, else
 * the tag most models logged and its last step), and one row per model and sample with the image's address.
 */
export function loggedImagesRows(answers: ImagesAnswer[], options: WidgetOptions, urlOf: UrlOf) {
  const tags = [...new Set(answers.flatMap((a) => a.images.map((s) => s.tag)))].sort();
  // By default the tag most models logged (side by side), the first by name among those.
  const holders = (t: string) => answers.filter((a) => seriesOf(a, t)).length;
  const common = tags.reduce<string | undefined>((best, t) => (best === undefined || holders(t) > holders(best) ? t : best), undefined);
  const tag = typeof options.tag === "string" && tags.includes(options.tag) ? options.tag : (common ?? "");
  const steps = [...new Set(answers.flatMap((a) => seriesOf(a, tag)?.steps ?? []))].sort((a, b) => a - b);
  const step = typeof options.step === "number" && steps.includes(options.step) ? options.step : (steps[steps.length - 1] ?? 0);
  const rows: LoggedImageRow[] = [];
  for (const answer of answers) {
    const series = seriesOf(answer, tag);
    const shown = series ? stepShown(series.steps, step) : null;
    if (!series || shown === null) continue;
    for (let sample = 0; sample < Math.min(series.samples, MAX_SAMPLES_SHOWN); sample++) {
      const params = { run: answer.run, tag, step: shown, sample, series_run: series.series_run };
      rows.push({ model: answer.run, tag, step: shown, sample, series_run: series.series_run, url: urlOf(params) });
    }
  }
  return { tags, tag, steps, step, rows };
}

/** A slider over the steps (by position: steps need not be evenly spaced), reloading on release. */
function stepSlider(steps: number[], step: number, host: WidgetHost): HTMLElement | undefined {
  if (typeof document === "undefined" || steps.length === 0) return undefined;
  const wrap = document.createElement("label");
  wrap.className = "inn-small inn-widget-control inn-image-steps";
  const text = document.createElement("span");
  text.textContent = `step ${step}`;
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = String(steps.length - 1);
  slider.value = String(Math.max(0, steps.indexOf(step)));
  slider.disabled = steps.length < 2;
  slider.addEventListener("input", () => (text.textContent = `step ${steps[Number(slider.value)]}`));
  slider.addEventListener("change", () => host.reload({ step: steps[Number(slider.value)] }));
  wrap.append(text, " ", slider);
  return wrap;
}

/** One column per model: its name, the step it shows, and its samples. */
function imageGrid(rows: LoggedImageRow[], runs: string[]): HTMLElement {
  const grid = document.createElement("div");
  grid.className = "inn-image-grid";
  for (const run of runs) {
    const mine = rows.filter((r) => r.model === run);
    const column = document.createElement("figure");
    column.className = "inn-image-column";
    column.dataset.model = run;
    const caption = document.createElement("figcaption");
    caption.className = "inn-small";
    caption.textContent = mine.length ? `${run}, step ${mine[0].step}` : `${run}: no images of this tag`;
    column.append(caption);
    for (const row of mine) {
      const img = document.createElement("img");
      img.className = "inn-logged-image";
      img.src = row.url;
      img.alt = `${row.tag}, sample ${row.sample}, step ${row.step} of ${run}`;
      img.title = img.alt;
      column.append(img);
    }
    grid.append(column);
  }
  return grid;
}

export function loggedImagesContent(
  answers: ImagesAnswer[],
  options: WidgetOptions,
  urlOf: UrlOf,
  host?: WidgetHost,
): WidgetContent {
  const { tags, tag, steps, step, rows } = loggedImagesRows(answers, options, urlOf);
  const caption = `${tag}, step ${step}` + (answers.length > 1 ? `, ${answers.length} models` : "");
  if (typeof document === "undefined" || !host) return { spec: null, rows, caption };
  const body = document.createElement("div");
  const controls = document.createElement("div");
  controls.className = "inn-widget-controls";
  controls.style.display = "flex";
  controls.style.gap = "8px";
  controls.style.flexWrap = "wrap";
  const tagSelect = selectControl("tag", tags.map((t) => ({ value: t, label: t })), tag, (value) => host.reload({ tag: value, step: undefined }));
  const slider = stepSlider(steps, step, host);
  for (const control of [tagSelect, slider]) if (control) controls.append(control);
  body.append(controls, imageGrid(rows, answers.map((a) => a.run)));
  return { spec: null, rows, caption, html: body };
}

export const loggedImagesTool: Tool = {
  id: "logged-images",
  plainRuns: true,
  name: "Logged Images",
  category: "Data",
  description:
    "The images a run logged with TensorBoard's image summaries (tf.summary.image, Keras' callback with write_images): pick a tag and a step; several models side by side.",
  // A picture frame with a mountain and a sun.
  icon: "M3 4h18v16H3zM5 18l5-6 3 4 2-2 4 4M15 8.5a1.5 1.5 0 1 0 0.01 0",
  appliesTo: (unit, ctx) => appliesToModels(unit) && modelsWithImages(unit, ctx).length > 0,
  whyNot: (unit, ctx) =>
    appliesToModels(unit) && modelsWithImages(unit, ctx).length === 0 ? "no images logged (tf.summary.image, or Keras' TensorBoard callback with write_images=True)" : undefined,
  classDependent: false,
  async load(unit, ctx, options, host) {
    const models = modelsWithImages(unit, ctx);
    if (!models.length) throw new Error(`${unit.label}: no images logged (tf.summary.image)`);
    const answers = await Promise.all(models.map((m) => ctx.api.images(m.run)));
    const content = loggedImagesContent(answers, options, ctx.api.imageUrl, host);
    if (!content.rows.length) throw new Error(`${unit.label}: no images logged (tf.summary.image)`);
    return content;
  },
};
