// The contract between the toolbox, its tools and the widget panel (paper §5.1: Toolbox, Widgets).

import type { TopLevelSpec } from "vega-lite";
import type { api } from "../api";
import type { Architecture, Model } from "../types";

/** The kinds of units of analysis a tool can apply to. */
export type UnitKind = "experiment" | "model" | "layer" | "variable" | "activation" | "neuron";

/** A unit of analysis, as picked in the inspection panel. */
export interface UnitRef {
  kind: UnitKind;
  level: "L3" | "L2" | "L1";
  /** The models concerned: one, or every model of an experiment. */
  runs: string[];
  /** Layer id, for layer, variable, activation and neuron units. */
  layer?: string;
  /** Variable name ("kernel", "bias", "gamma", ...), for variable units. */
  variable?: string;
  /** Neuron index in `layer`, for neuron units. */
  neuron?: number;
  /**
   * Where the unit is drawn in the inspection panel: "experiment:<id>", "model:<run>", "layer:<id>",
   * "var:<layer>/<variable>", "op:<layer>/activation", "neuron:<layer>:<index>".
   */
  key: string;
  /** The unit's path for people: "cnn_skip / conv_1 / kernel". */
  label: string;
}

export interface ToolContext {
  /** Every model (run) of the logdir, by run name. */
  models: Map<string, Model>;
  /** The architecture of a run (cached). */
  graph(run: string): Promise<Architecture>;
  /** Selected class names; null means every class. */
  classes: string[] | null;
  allClasses: string[];
  /** Colour of each model, the same as in the inspection panel. */
  colors: Map<string, string>;
  api: typeof api;
}

/** Per-widget options, saved with the workspace. */
export interface WidgetOptions {
  /** A step, "last" (default) or "all" for tools that show data over training. */
  step?: number | "last" | "all";
  /** Shared axes of a group of widgets (a common scale), set by the widget panel. */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Tool-specific settings (e.g. a note's text, the method of a tool). */
  [key: string]: unknown;
}

export interface WidgetContent {
  /**
   * A Vega-Lite spec whose data is the named dataset "table" (`data: {name: "table"}`), filled with
   * `rows`; or null for widgets that are plain HTML. A spec that shows probe samples declares the
   * top-level param `{"name": "highlight", "value": null}` and emphasises marks where
   * `datum[sampleField] === highlight`: the panel sets it when a sample is hovered in any widget.
   */
  spec: TopLevelSpec | null;
  /** The data behind the widget: the spec's "table", and what CSV/JSON downloads contain. */
  rows: Record<string, unknown>[];
  /** A body of plain HTML instead of (or below) the chart: tables, notes, code. */
  html?: HTMLElement;
  /** The field of `rows` holding the probe sample index, for highlighting a sample across widgets. */
  sampleField?: string;
  /** The field naming each row's series (usually the model), for merging widgets into one. */
  seriesField?: string;
  /** Numeric extents of the x and y axes, for a common scale across a group. */
  extents?: { x?: [number, number]; y?: [number, number] };
  /** One line under the chart: what is shown (e.g. "step 12", "64 samples, classes 3, 8"). */
  caption?: string;
  /**
   * What the widget rests on when the logs keep reduced data ("pooled over 8x8 positions (mean per
   * channel)", "6 of 40 probe samples", "kernel from step 40"): shown as a small caption of its own.
   */
  notes?: string[];
  /** Called with the datum of a clicked mark (e.g. a point of a scatter, a bar of a histogram). */
  onClick?(datum: Record<string, unknown>): void;
  /** Called with the datum of a hovered mark, and null when the pointer leaves it (e.g. a preview). */
  onHover?(datum: Record<string, unknown> | null): void;
}

/** What a tool can ask of the widget that shows it. */
export interface WidgetHost {
  /** Saves options with the workspace (e.g. a note's text) without reloading the widget. */
  saveOptions(patch: Partial<WidgetOptions>): void;
  /** Reloads the widget with changed options (e.g. another step or method). */
  reload(patch: Partial<WidgetOptions>): void;
  /** Lists probe samples (e.g. those of a confusion-matrix cell) in the widget's footer. */
  showSamples(title: string, samples: number[]): void;
  /** Opens widgets of a tool on units (grouped when several), e.g. attributions of a chosen sample. */
  open(tool: string, units: UnitRef[], options: WidgetOptions): void;
  /** Shows a unit in the inspection panel (e.g. a neuron found by a tool). */
  jump(unit: UnitRef): void;
  /** Selects a probe sample for every widget (highlighted until another is chosen). */
  selectSample(sample: number | null): void;
}

export interface Tool {
  id: string;
  name: string;
  /** Toolbox group: "Performance", "Weights", "Activations", "Data", "Notes", or a JSON tool's own. */
  category: string;
  /** Shown on hover in the toolbox. */
  description: string;
  /** SVG path data of the icon, drawn in a 24x24 box. */
  icon: string;
  /**
   * The dependency dimension: which units it applies to (others are greyed out). May answer
   * asynchronously when it needs the architecture (`ctx.graph`).
   */
  appliesTo(unit: UnitRef, ctx: ToolContext): boolean | Promise<boolean>;
  /** Whether it works on plain runs (no iNNspector data: metrics only); other tools are greyed out there. */
  plainRuns?: boolean;
  /** Why it does not apply to a unit it greys out, said when the unit is clicked (e.g. "no images logged"). */
  whyNot?(unit: UnitRef, ctx: ToolContext): string | undefined;
  /** Whether its data follows the class selector. */
  classDependent: boolean;
  /** Loads the data through the backend routes and maps it to a widget. */
  load(unit: UnitRef, ctx: ToolContext, options: WidgetOptions, host: WidgetHost): Promise<WidgetContent>;
  /** Merges widgets of this tool (e.g. two models' loss curves) into one meta-widget. */
  merge?(parts: { unit: UnitRef; content: WidgetContent }[]): WidgetContent;
}
