// The iNNspector tab: top bar (breadcrumbs, class selector, progress), toolbox and panels on the
// left, the inspection panel in the middle (pan, zoom, minimap), the widget panel on the right.

import { ApiError, api, forget, onBusyChange, setRunClasses } from "./api";
import { MISSING_COLOR, divergingColor, modelColors, textColorOn } from "./colors";
import { ancestors, buildModelGraph, type ModelGraph } from "./graph/modelGraph";
import { warmUpLayout } from "./layout";
import { layerBadges, layerScores, modelBadges, modelScores, type Badge } from "./overlayData";
import { renderBreadcrumbs } from "./panels/breadcrumbs";
import { renderClassSelector } from "./panels/classSelector";
import { ABNORMAL, type AbnormalEntry, abnormalTop } from "./panels/abnormal";
import { renderLint, renderMeasures } from "./panels/interestingness";
import { renderLocalization } from "./panels/localization";
import { ascendTo, openGroupsOf, reconcile, showModel, showModels, showNeurons, Store, type AppState } from "./state";
import { html, svg, svgText } from "./svg";
import type { Architecture, InterestingnessAnswer, LintFinding, Measure, Model, TreeAnswer } from "./types";
import { Minimap, Viewport } from "./viewport";
import { renderNeurons } from "./views/neurons";
import { renderModel } from "./views/layerGraph";
import { renderModels } from "./views/modelTree";
import type { RenderedView, ViewContext } from "./views/view";
import { WidgetPanel } from "./widgets/panel";
import { loadTools } from "./widgets/registry";
import { renderToolbox } from "./widgets/toolbox";
import type { Tool, ToolContext, UnitRef } from "./widgets/types";
import { onPlainRuns } from "./widgets/tools/shared/unitPredicates";
import { unitFromKey } from "./widgets/units";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.status ? `${error.message} (HTTP ${error.status} from ${error.route})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

export class App {
  readonly store = new Store(storage());
  private models: Model[] = [];
  private tree: TreeAnswer | null = null;
  private classes: string[] = [];
  private colors = new Map<string, string>();
  private readonly graphs = new Map<string, ModelGraph>();
  private measures: Measure[] = [];
  private view: RenderedView | null = null;
  private generation = 0;
  private paints = 0;
  private tools = new Map<string, Tool>();
  private toolErrors: string[] = [];
  private activeTool: string | null = null;
  private panel: WidgetPanel | null = null;

  private readonly el = this.buildShell();
  private readonly viewport = new Viewport(this.el.stage, this.el.canvas);
  private readonly minimap = new Minimap(this.el.minimap, this.viewport);

  constructor(private readonly body: HTMLElement) {}

  async start(): Promise<void> {
    onBusyChange((routes) => {
      this.el.progress.classList.toggle("inn-busy", routes.length > 0);
      this.el.progress.title = routes.length ? `loading ${[...new Set(routes)].join(", ")}` : "";
    });
    this.el.stage.addEventListener("click", (e) => this.onStageClick(e), { capture: true });
    this.el.stage.addEventListener("mouseover", (e) => this.onStageHover(e));
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      if (this.activeTool) {
        this.selectTool(null);
        return;
      }
      const state = this.store.get();
      this.store.update((s) => ascendTo(s, state.level === "L1" ? "L2" : "L3"));
    });
    this.el.reload.addEventListener("click", () => {
      forget();
      this.graphs.clear();
      this.architectures.clear();
      void this.load();
    });
    this.store.subscribe((next, previous) => this.onState(next, previous));
    await this.load();
  }

  private async load(): Promise<void> {
    this.message("Loading the models…");
    warmUpLayout();
    try {
      const [models, tree, measures] = await Promise.all([api.models(), api.tree(), api.measures()]);
      this.models = models.models;
      this.tree = tree;
      this.measures = measures.measures;
    } catch (error) {
      this.message(`Could not load the models: ${errorMessage(error)}`, true, () => void this.load());
      return;
    }
    if (!this.models.length) {
      this.message("No iNNspector data in this logdir yet. Add the InnspectorCallback (or the summary ops) to a training script and point TensorBoard at its log directory.", true);
      return;
    }
    const { tools, errors } = await loadTools();
    this.tools = new Map(tools.map((t) => [t.id, t]));
    this.toolErrors = errors;
    setRunClasses(this.models);
    this.classes = [...new Set(this.models.flatMap((m) => m.classes))].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    this.colors = modelColors(this.models.map((m) => m.run));
    this.store.update((s) => reconcile(s, this.models.map((m) => m.run), this.classes));
    this.renderTop();
    this.renderToolbox();
    if (this.panel) this.panel.toolsChanged();
    else
      this.panel = new WidgetPanel(this.el.widgets, {
        tools: () => this.tools,
        context: () => this.toolContext(),
        jump: (unit) => this.jumpTo(unit),
        hoverUnit: (key) => this.linkUnit(key),
        storage: storage(),
      });
    await this.draw();
  }

  // -- reacting to state

  private onState(next: AppState, previous: AppState): void {
    this.renderTop();
    if (String(next.classes) !== String(previous.classes)) this.panel?.classesChanged();
    const run = next.run ?? "";
    const viewChanged =
      next.level !== previous.level ||
      next.run !== previous.run ||
      next.layer !== previous.layer ||
      (next.level === "L2" && openGroupsOf(next, run).join() !== openGroupsOf(previous, run).join()) ||
      (next.level === "L1" && (next.k !== previous.k || String(next.classes) !== String(previous.classes))) ||
      // A neuron to focus that is not drawn: ask for it.
      (next.level === "L1" && next.focus !== previous.focus && !!next.focus?.startsWith("neuron:") && !this.view?.units.has(next.focus));
    if (viewChanged) {
      void this.draw();
      return;
    }
    if (next.focus !== previous.focus) this.centreOnFocus();
    if (next.measure !== previous.measure) void this.applyInterestingness();
    if (String(next.localization) !== String(previous.localization)) void this.applyLocalization();
  }

  private renderTop(): void {
    renderBreadcrumbs(this.el.crumbs, this.store);
    renderClassSelector(this.el.classes, this.store, this.classes);
  }

  // -- drawing the current level

  private context(): ViewContext {
    return {
      root: this.el.root,
      side: this.el.side,
      state: this.store.get(),
      store: this.store,
      modelColors: this.colors,
      tooltip: { show: (content, event) => this.showTooltip(content, event), hide: () => this.hideTooltip() },
    };
  }

  private async graphOf(run: string): Promise<ModelGraph> {
    let graph = this.graphs.get(run);
    if (!graph) {
      graph = buildModelGraph((await api.graph(run)).architecture);
      this.graphs.set(run, graph);
    }
    return graph;
  }

  private async draw(): Promise<void> {
    const generation = ++this.generation;
    const state = this.store.get();
    this.hideTooltip();
    this.message(state.level === "L1" ? "Loading the neurons…" : "Laying out the graph…");
    this.el.app.dataset.level = state.level;
    try {
      let view: RenderedView;
      this.view?.dispose?.();
      this.view = null;
      this.el.root.replaceChildren();
      this.el.side.replaceChildren();
      if (state.level === "L3" || !state.run) {
        view = await renderModels(this.context(), this.tree!, this.models);
      } else if (state.level === "L2" || !state.layer) {
        const graph = await this.graphOf(state.run);
        if (this.openToFocus(graph, state)) return; // the state change redraws
        if (generation !== this.generation) return;
        view = await renderModel(this.context(), graph, state.run);
      } else {
        // A neuron a tool points to (the focus) is drawn whatever its weights.
        const prefix = `neuron:${state.layer}:`;
        const keep = state.focus?.startsWith(prefix) ? [Number(state.focus.slice(prefix.length))].filter(Number.isInteger) : [];
        const answer = await api.neurons(state.run, state.layer, { classes: state.classes, k: state.k, keep });
        if (generation !== this.generation) return;
        view = renderNeurons(this.context(), answer, state.layer);
      }
      if (generation !== this.generation) return;
      this.view = view;
      this.el.side.hidden = state.level !== "L1";
      this.viewport.setContentSize(view.width, view.height);
      this.minimap.setItems(view.minimap);
      this.message(null);
      if (!this.centreOnFocus()) this.viewport.fit();
      this.paint(state.level);
      void this.markApplicable();
      void this.applyInterestingness();
      void this.applyLocalization();
      void this.renderPanels();
    } catch (error) {
      if (generation !== this.generation) return;
      this.el.root.replaceChildren();
      this.view = null;
      this.message(errorMessage(error), true, () => void this.draw());
      this.paint(`${state.level}-error`);
    }
  }

  /** Opens the groups hiding the focused layer; true when the state changed (and a redraw follows). */
  private openToFocus(graph: ModelGraph, state: AppState): boolean {
    if (!state.run || !state.focus?.startsWith("layer:")) return false;
    const layer = state.focus.slice("layer:".length);
    if (!graph.layers.has(layer)) return false;
    const open = new Set(openGroupsOf(state, state.run));
    const missing = ancestors(graph, layer).filter((g) => !open.has(g));
    if (!missing.length) return false;
    const run = state.run;
    this.store.update((s) => ({ ...s, openGroups: { ...s.openGroups, [run]: [...open, ...missing].sort() } }));
    return true;
  }

  private centreOnFocus(): boolean {
    const focus = this.store.get().focus;
    for (const el of this.el.root.querySelectorAll(".inn-focus")) el.classList.remove("inn-focus");
    const unit = focus ? this.view?.units.get(focus) : undefined;
    if (!unit) return false;
    unit.element.classList.add("inn-focus");
    this.viewport.centerOn(unit.x + unit.width / 2, unit.y + unit.height / 2, Math.max(this.viewport.get().k, 0.8));
    // A focused neuron's row of the Neurons x Classes matrix, too.
    for (const row of this.el.side.querySelectorAll(".inn-focus-row")) row.classList.remove("inn-focus-row");
    const row = focus ? this.el.side.querySelector(`tr[data-neuron="${CSS.escape(focus)}"]`) : null;
    row?.classList.add("inn-focus-row");
    row?.scrollIntoView({ block: "nearest" });
    return true;
  }

  /** Tells tests and benchmarks that a view is on screen: after the next frame is drawn. */
  private paint(level: string): void {
    const count = ++this.paints;
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        document.documentElement.dataset.innspectorPainted = `${level}:${count}`;
      }),
    );
  }

  // -- overlays

  private async applyInterestingness(): Promise<void> {
    const state = this.store.get();
    const view = this.view;
    if (!view) return;
    let scores: Map<string, number | null> | null = null;
    this.lastInterestingness = null;
    if (state.measure && state.level !== "L1") {
      try {
        const answer = await api.interestingness(state.measure);
        if (view !== this.view) return;
        this.lastInterestingness = answer;
        if (state.level === "L3") scores = modelScores(answer);
        else if (state.run) scores = layerScores(answer, state.run, await this.graphOf(state.run), new Set(openGroupsOf(state, state.run)));
      } catch (error) {
        this.flash(`Interestingness: ${errorMessage(error)}`);
      }
    }
    for (const unit of view.units.values()) {
      if (unit.key.startsWith("experiment:")) {
        // An experiment is an outline: its score colours the outline, not an area.
        const score = scores?.get(unit.key);
        unit.shape.style.stroke = scores ? (score === undefined || score === null ? MISSING_COLOR : divergingColor(score)) : "";
        unit.shape.style.strokeWidth = scores ? "3" : "";
        continue;
      }
      const colourable = /^(model|layer|group|var|op):/.test(unit.key);
      unit.element.classList.remove("inn-dark");
      if (!scores || !colourable) {
        unit.shape.setAttribute("fill", unit.baseFill);
        unit.shape.removeAttribute("data-score");
        continue;
      }
      const score = scores.get(unit.key);
      if (score === undefined && !/^(model|layer|group):/.test(unit.key)) {
        unit.shape.setAttribute("fill", unit.baseFill);
        continue;
      }
      const fill = score === undefined || score === null ? MISSING_COLOR : divergingColor(score);
      unit.shape.setAttribute("fill", fill);
      unit.element.classList.toggle("inn-dark", textColorOn(fill) === "#ffffff");
      unit.shape.setAttribute("data-score", score === undefined || score === null ? "none" : score.toFixed(3));
    }
    this.renderMeasurePanel(scores);
    this.el.app.dataset.measure = scores ? (state.measure ?? "") : "";
  }

  private lastInterestingness: InterestingnessAnswer | null = null;

  /** Opens the model at the layer and the widget that shows why it is abnormal. */
  private openEvidence(entry: AbnormalEntry): void {
    this.store.update((s) => showModel(s, entry.run, `layer:${entry.layer}`));
    this.panel?.openMany(entry.tool, [entry.unit], entry.options);
  }

  private renderMeasurePanel(scores: Map<string, number | null> | null): void {
    const state = this.store.get();
    const answer = this.lastInterestingness;
    if (state.measure === ABNORMAL && answer && scores && state.level !== "L1") {
      const entries = abnormalTop(answer, state.level === "L3" ? null : state.run);
      const top = entries.map((entry) => ({ label: entry.label, score: entry.score, go: () => this.openEvidence(entry) }));
      renderMeasures(this.el.measures, this.store, this.measures, top);
      return;
    }
    const top = [...(scores ?? new Map()).entries()]
      .filter(([key, score]) => score !== null && /^(model|layer):/.test(key))
      .sort((a, b) => (b[1] as number) - (a[1] as number))
      .slice(0, 5)
      .map(([key, score]) => ({
        label: key.slice(key.indexOf(":") + 1),
        score: score as number,
        go: () =>
          this.store.update((s) =>
            key.startsWith("model:") ? { ...s, focus: key } : { ...s, level: "L2", focus: key },
          ),
      }));
    renderMeasures(this.el.measures, this.store, this.measures, state.level === "L1" ? [] : top);
    if (state.level === "L1" && state.measure) {
      html("div", { class: "inn-muted inn-small" }, this.el.measures, "At L1 neurons are coloured by their mean activation; measures colour L3 and L2.");
    }
  }

  private async applyLocalization(): Promise<void> {
    const state = this.store.get();
    const view = this.view;
    for (const old of this.el.root.querySelectorAll(".inn-badges")) old.remove();
    if (!view || !state.localization.length || state.level === "L1") return;
    let badges: Map<string, Badge>;
    try {
      if (state.level === "L3") {
        const experimentOf = new Map((this.tree?.nodes ?? []).map((n) => [n.run, `${n.experiment}`]));
        badges = modelBadges(await api.structures(), state.localization, experimentOf);
      } else {
        const run = state.run!;
        badges = layerBadges(await api.structures(run), state.localization, await this.graphOf(run), new Set(openGroupsOf(state, run)));
      }
    } catch (error) {
      this.flash(`Localization: ${errorMessage(error)}`);
      return;
    }
    if (view !== this.view) return;
    const layer = svg("g", { class: "inn-badges" }, this.el.root);
    for (const [key, badge] of badges) {
      const unit = view.units.get(key);
      if (!unit) continue;
      const g = svg("g", { class: "inn-badge", "data-badge-for": key, transform: `translate(${unit.x + unit.width - 4},${unit.y + 4})` }, layer);
      svg("circle", { r: 10 }, g);
      svgText(g, 0, 4, String(badge.count), { "text-anchor": "middle" });
      const title = svg("title", {}, g);
      title.textContent = badge.labels.join(", ");
    }
  }

  // -- side panels

  private async renderPanels(): Promise<void> {
    const state = this.store.get();
    const run = state.level === "L3" ? null : state.run;
    if (run !== null && this.models.find((m) => m.run === run)?.plain) {
      // A plain run has no iNNspector data to localize structures in or lint: say so, quietly.
      const note = `${run} is a plain run (no iNNspector data): no localization or lint.`;
      this.el.localization.replaceChildren(html("div", { class: "inn-small inn-muted" }, undefined, note));
      renderLint(this.el.lint, this.store, [], []);
      return;
    }
    try {
      renderLocalization(this.el.localization, this.store, await api.structures(run ?? undefined), run);
    } catch (error) {
      this.el.localization.replaceChildren(html("div", { class: "inn-error-text" }, undefined, `Localization: ${errorMessage(error)}`));
    }
    const findings: { run: string; finding: LintFinding }[] = [];
    const failures: string[] = [];
    try {
      // One model's lint, or every model's in one request.
      const answers = run ? [{ ...(await api.lint(run)), error: null }] : (await api.lintAll()).models;
      for (const answer of answers) {
        for (const finding of answer.findings) findings.push({ run: answer.run, finding });
        if (answer.error) failures.push(`${answer.run}: ${answer.error}`);
      }
    } catch (error) {
      failures.push(`Lint: ${errorMessage(error)}`);
    }
    const rank: Record<string, number> = { error: 0, warning: 1, info: 2 };
    findings.sort((a, b) => (rank[a.finding.severity] ?? 3) - (rank[b.finding.severity] ?? 3));
    renderLint(this.el.lint, this.store, findings, failures);
  }

  // -- messages and tooltip

  private message(text: string | null, isError = false, retry?: () => void): void {
    const box = this.el.message;
    box.replaceChildren();
    box.hidden = text === null;
    box.classList.toggle("inn-error", isError);
    if (text === null) return;
    html("div", {}, box, text);
    if (retry) html("button", { type: "button", class: "inn-retry" }, box, "Retry").addEventListener("click", retry);
  }

  private flash(text: string): void {
    const note = html("div", { class: "inn-flash inn-error-text" }, this.el.stage, text);
    setTimeout(() => note.remove(), 6000);
  }

  private showTooltip(content: string | Node, event: MouseEvent): void {
    const tip = this.el.tooltip;
    tip.replaceChildren(typeof content === "string" ? document.createTextNode(content) : content);
    tip.hidden = false;
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.transform = `translate(${Math.max(4, x)}px, ${Math.max(4, y)}px)`;
  }

  private hideTooltip(): void {
    this.el.tooltip.hidden = true;
  }

  // -- toolbox and widgets

  private toolContext(): ToolContext {
    const state = this.store.get();
    return {
      models: new Map(this.models.map((m) => [m.run, m])),
      graph: (run: string) => this.architectureOf(run),
      classes: state.classes,
      allClasses: this.classes,
      colors: this.colors,
      api,
    };
  }

  private readonly architectures = new Map<string, Promise<Architecture>>();

  /** One promise per run: tools cache what they derive from it by identity. */
  private architectureOf(run: string): Promise<Architecture> {
    let answer = this.architectures.get(run);
    if (!answer) {
      answer = api.graph(run).then((g) => g.architecture);
      answer.catch(() => this.architectures.delete(run));
      this.architectures.set(run, answer);
    }
    return answer;
  }

  private renderToolbox(): void {
    renderToolbox(this.el.toolbox, [...this.tools.values()], this.activeTool, (id) => this.selectTool(id), this.toolErrors);
  }

  private selectTool(id: string | null): void {
    this.activeTool = id;
    this.el.app.dataset.activeTool = id ?? "";
    this.renderToolbox();
    void this.markApplicable();
  }

  private unitAt(target: EventTarget | null): { key: string; unit: UnitRef | null } | null {
    const element = target instanceof Element ? target.closest("[data-unit]") : null;
    if (!element) return null;
    const key = element.getAttribute("data-unit")!;
    const state = this.store.get();
    return { key, unit: unitFromKey(key, { level: state.level, run: state.run, experiments: this.tree?.experiments ?? [] }) };
  }

  /** Greys out the units the active tool cannot apply to (the dependency dimension). */
  private async markApplicable(): Promise<void> {
    const view = this.view;
    const tool = this.activeTool ? this.tools.get(this.activeTool) : undefined;
    if (!view) return;
    const state = this.store.get();
    const ctx = this.toolContext();
    await Promise.all(
      [...view.units.values()].map(async (box) => {
        let applicable: boolean | null = null;
        if (tool) {
          const unit = unitFromKey(box.key, { level: state.level, run: state.run, experiments: this.tree?.experiments ?? [] });
          try {
            applicable = !!unit && (await tool.appliesTo(unit, ctx)) && (tool.plainRuns || !onPlainRuns(unit, ctx));
          } catch {
            applicable = false;
          }
        }
        if (view !== this.view || tool !== (this.activeTool ? this.tools.get(this.activeTool) : undefined)) return;
        box.element.classList.toggle("inn-applicable", applicable === true);
        box.element.classList.toggle("inn-inapplicable", applicable === false);
      }),
    );
  }

  /** With a tool active, a click on a unit applies it (and nothing else happens). */
  private onStageClick(event: MouseEvent): void {
    if (!this.activeTool) return;
    const tool = this.tools.get(this.activeTool);
    const hit = this.unitAt(event.target);
    if (!tool || !hit) return;
    event.stopPropagation();
    event.preventDefault();
    const element = this.el.root.querySelector(`[data-unit="${CSS.escape(hit.key)}"]`);
    if (!hit.unit || !element?.classList.contains("inn-applicable")) {
      this.flash(`${tool.name} does not apply to ${hit.unit?.label ?? hit.key}${this.whyNot(tool, hit.unit)}.`);
      return;
    }
    this.panel?.add(tool, hit.unit);
    this.selectTool(null);
  }

  /** ": <reason>" for a unit the tool greys out: the tool's own, else that a plain run lacks the data. */
  private whyNot(tool: Tool, unit: UnitRef | null): string {
    if (!unit) return "";
    const ctx = this.toolContext();
    const reason = tool.whyNot?.(unit, ctx) ?? (!tool.plainRuns && onPlainRuns(unit, ctx) ? "a plain run has no iNNspector data" : undefined);
    return reason ? `: ${reason}` : "";
  }

  private onStageHover(event: MouseEvent): void {
    this.panel?.highlightUnit(this.unitAt(event.target)?.key ?? null);
  }

  /** A widget is hovered: outline its unit in the inspection panel. */
  private linkUnit(key: string | null): void {
    for (const element of this.el.root.querySelectorAll(".inn-linked")) element.classList.remove("inn-linked");
    if (key) this.el.root.querySelector(`[data-unit="${CSS.escape(key)}"]`)?.classList.add("inn-linked");
  }

  /** Shows a widget's unit in the inspection panel. */
  private jumpTo(unit: UnitRef): void {
    const run = unit.runs[0];
    if (unit.kind === "experiment") this.store.update((s) => showModels(s, unit.key));
    else if (unit.kind === "model") this.store.update((s) => showModels(s, unit.key));
    else if (unit.kind === "neuron" && unit.layer) {
      const layer = unit.layer;
      this.store.update((s) => {
        const shown = s.level === "L1" && s.run === run ? s : showNeurons(showModel(s, run), layer);
        return { ...shown, focus: unit.key };
      });
    } else if (unit.layer) this.store.update((s) => showModel(s, run, `layer:${unit.layer}`));
  }

  // -- the page's skeleton

  private buildShell() {
    const app = html("div", { class: "inn-app" });
    const top = html("header", { class: "inn-top" }, app);
    html("span", { class: "inn-brand" }, top, "iNNspector");
    const crumbs = html("nav", { class: "inn-crumbs", id: "inn-crumbs" }, top);
    const classes = html("div", { class: "inn-classes", id: "inn-classes" }, top);
    const reload = html("button", { type: "button", class: "inn-reload", title: "Reload data from TensorBoard" }, top, "⟳");
    const progress = html("div", { class: "inn-progress" }, top);

    const left = html("aside", { class: "inn-left" }, app);
    const toolbox = html("section", { class: "inn-toolbox", id: "inn-toolbox" }, left);
    const localization = html("section", { class: "inn-panel", id: "inn-localization" }, left);
    const measures = html("section", { class: "inn-panel", id: "inn-interestingness" }, left);
    const lint = html("section", { class: "inn-panel", id: "inn-lint" }, left);

    const center = html("main", { class: "inn-center" }, app);
    const stage = html("div", { class: "inn-stage", id: "inn-stage" }, center);
    const canvas = svg("svg", { class: "inn-canvas" }, stage);
    const defs = svg("defs", {}, canvas);
    const marker = svg("marker", { id: "inn-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, defs);
    svg("path", { d: "M0,0L10,5L0,10z", class: "inn-arrowhead" }, marker);
    const root = svg("g", { class: "inn-root" }, canvas);
    const message = html("div", { class: "inn-message", id: "inn-message" }, stage);
    const minimap = html("canvas", { class: "inn-minimap", id: "inn-minimap", width: 180, height: 120 }, stage);
    const side = html("aside", { class: "inn-side", id: "inn-side" }, center);
    side.hidden = true;

    const widgets = html("aside", { class: "inn-right", id: "inn-widgets" }, app);

    const tooltip = html("div", { class: "inn-tooltip" }, app);
    tooltip.hidden = true;
    return { app, crumbs, classes, reload, progress, toolbox, localization, measures, lint, stage, canvas, root, message, minimap, side, widgets, tooltip };
  }

  mount(): void {
    this.body.replaceChildren(this.el.app);
  }
}

