// The widget panel: a vertical accordion with one flap per level; a widget lands in the flap of its
// unit's level; dropping a widget on another makes a group; a group opens side by side in an
// enlarged overlay, where compatible widgets share a common scale or merge into one meta-widget.

import { html } from "../svg";
import { download, downloadText, fileName, toCsv } from "./exports";
import type { RenderedChart } from "./render";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "./types";
import {
  addWidget,
  dropOn,
  emptyWorkspace,
  groupOf,
  parseWorkspace,
  removeWidget,
  serializeWorkspace,
  setGroupFlags,
  setOptions,
  ungroup,
  WorkspaceError,
  type GroupRecord,
  type WidgetRecord,
  type Workspace,
} from "./workspace";

export const WORKSPACE_KEY = "innspector-tb/workspace";

const LEVELS: { level: UnitRef["level"]; title: string }[] = [
  { level: "L3", title: "L3 · models" },
  { level: "L2", title: "L2 · layers" },
  { level: "L1", title: "L1 · neurons" },
];

type RenderModule = typeof import("./render");
let renderModule: Promise<RenderModule> | null = null;
/** Vega and Vega-Lite load with the first widget, not with the inspection panel. */
function loadRenderer(): Promise<RenderModule> {
  renderModule ??= import("./render");
  return renderModule;
}

export interface PanelDeps {
  tools(): Map<string, Tool>;
  context(): ToolContext;
  /** Shows the unit in the inspection panel. */
  jump(unit: UnitRef): void;
  /** A widget is hovered: highlight its unit in the inspection panel (null: none). */
  hoverUnit(key: string | null): void;
  storage: Storage | null;
}

interface Mounted {
  record: WidgetRecord;
  card: HTMLElement;
  chart: RenderedChart | null;
  content: WidgetContent | null;
  generation: number;
}

export class WidgetPanel {
  private workspace: Workspace = emptyWorkspace;
  private readonly mounted = new Map<string, Mounted>();
  private readonly charts = new Set<{ chart: RenderedChart; host: HTMLElement }>();
  private overlay: HTMLElement | null = null;
  private readonly flaps = new Map<string, HTMLElement>();
  private readonly status: HTMLElement;

  constructor(
    private readonly container: HTMLElement,
    private readonly deps: PanelDeps,
  ) {
    this.workspace = this.restore();
    container.replaceChildren();
    const bar = html("div", { class: "inn-widgets-bar" }, container);
    html("h3", {}, bar, "Widgets");
    const exportButton = html("button", { type: "button", id: "inn-export", title: "Download the workspace as JSON" }, bar, "Export");
    const importLabel = html("label", { class: "inn-button", title: "Load a workspace JSON file" }, bar, "Import");
    const importInput = html("input", { type: "file", accept: "application/json,.json", id: "inn-import", hidden: "" }, importLabel);
    const clear = html("button", { type: "button", id: "inn-clear", title: "Remove every widget" }, bar, "Clear");
    this.status = html("div", { class: "inn-small inn-muted", id: "inn-workspace-status" }, container);
    exportButton.addEventListener("click", () => downloadText("innspector-workspace.json", serializeWorkspace(this.workspace), "application/json"));
    importInput.addEventListener("change", () => void this.importFile(importInput));
    clear.addEventListener("click", () => this.replace(emptyWorkspace, "Workspace cleared."));
    for (const { level, title } of LEVELS) {
      const flap = html("details", { class: "inn-flap", "data-level": level, open: "" }, container);
      html("summary", {}, flap, title);
      this.flaps.set(level, html("div", { class: "inn-flap-body" }, flap));
    }
    this.rebuild();
  }

  // -- the workspace

  private restore(): Workspace {
    try {
      const text = this.deps.storage?.getItem(WORKSPACE_KEY);
      return text ? parseWorkspace(text) : emptyWorkspace;
    } catch {
      return emptyWorkspace; // a damaged saved workspace starts empty; an import says why
    }
  }

  private save(next: Workspace): void {
    this.workspace = next;
    try {
      this.deps.storage?.setItem(WORKSPACE_KEY, serializeWorkspace(next));
    } catch {
      // full or blocked storage costs persistence only
    }
  }

  private replace(next: Workspace, message: string): void {
    this.save(next);
    this.rebuild();
    this.status.textContent = message;
  }

  private async importFile(input: HTMLInputElement): Promise<void> {
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    try {
      const next = parseWorkspace(await file.text());
      this.replace(next, `Imported ${next.widgets.length} widgets from ${file.name}.`);
    } catch (error) {
      const reason = error instanceof WorkspaceError ? error.message : String(error);
      this.status.textContent = `Could not import ${file.name}: ${reason}. The workspace is unchanged.`;
      this.status.classList.add("inn-error-text");
      return;
    }
    this.status.classList.remove("inn-error-text");
  }

  get(): Workspace {
    return this.workspace;
  }

  /** Applies a tool to a unit: a new widget in the flap of the unit's level. */
  add(tool: Tool, unit: UnitRef): string {
    const { workspace, id } = addWidget(this.workspace, tool.id, unit);
    this.save(workspace);
    this.rebuild();
    const flap = this.flaps.get(unit.level)?.parentElement as HTMLDetailsElement | undefined;
    if (flap) flap.open = true;
    this.mounted.get(id)?.card.scrollIntoView({ block: "nearest" });
    return id;
  }

  /** The class selection changed: reload the widgets that follow it. */
  classesChanged(): void {
    for (const m of this.mounted.values()) {
      if (this.deps.tools().get(m.record.tool)?.classDependent) void this.load(m);
    }
    if (this.overlay) this.openOverlay(this.overlay.dataset.group ?? "");
  }

  /** The tools changed (JSON tools loaded): redraw. */
  toolsChanged(): void {
    this.rebuild();
  }

  /** A unit is hovered in the inspection panel: outline its widgets. */
  highlightUnit(key: string | null): void {
    for (const m of this.mounted.values()) m.card.classList.toggle("inn-linked", key !== null && m.record.unit.key === key);
  }

  private selected: number | null = null;

  /** A probe sample chosen in a widget: it stays highlighted (hovering shows others meanwhile). */
  selectSample(sample: number | null): void {
    this.selected = sample;
    this.container.dataset.selectedSample = sample === null ? "" : String(sample);
    this.highlightSample(sample);
    // Attribution widgets show the selected sample: every model in sync.
    if (sample === null) return;
    for (const m of this.mounted.values()) {
      if (m.record.tool !== "attribution" || m.record.options.sample === sample) continue;
      this.save(setOptions(this.workspace, m.record.id, { sample }));
      m.record.options = { ...m.record.options, sample };
      void this.load(m);
    }
  }

  /** Widgets of one tool on several units, grouped when there are several (e.g. one per model). */
  openMany(toolId: string, units: UnitRef[], options: WidgetOptions): void {
    const tool = this.deps.tools().get(toolId);
    if (!tool || !units.length) return;
    let ws = this.workspace;
    const ids: string[] = [];
    for (const unit of units) {
      const added = addWidget(ws, tool.id, unit, options);
      ws = added.workspace;
      ids.push(added.id);
    }
    for (const id of ids.slice(1)) ws = dropOn(ws, id, ids[0]);
    this.save(ws);
    this.rebuild();
    this.mounted.get(ids[0])?.card.scrollIntoView({ block: "nearest" });
  }

  /** A probe sample is hovered in some widget: highlight it in every widget that shows samples. */
  highlightSample(hovered: number | null): void {
    const sample = hovered ?? this.selected;
    for (const entry of this.charts) {
      const { chart, host } = entry;
      if (!host.isConnected) {
        this.charts.delete(entry); // closed or redrawn
        continue;
      }
      chart.highlight(sample);
      if (sample === null) host.removeAttribute("data-highlight");
      else host.setAttribute("data-highlight", String(sample));
    }
  }

  // -- drawing

  private rebuild(): void {
    for (const m of this.mounted.values()) m.chart?.finalize();
    this.mounted.clear();
    for (const body of this.flaps.values()) body.replaceChildren();
    const placed = new Set<string>();
    for (const record of this.workspace.widgets) {
      if (placed.has(record.id)) continue;
      const body = this.flaps.get(record.unit.level);
      if (!body) continue;
      const group = groupOf(this.workspace, record.id);
      if (group) {
        const box = this.groupCard(group, body);
        for (const id of group.widgets) {
          const member = this.workspace.widgets.find((w) => w.id === id);
          if (member) this.mount(member, box);
          placed.add(id);
        }
      } else {
        this.mount(record, body);
        placed.add(record.id);
      }
    }
    for (const { level, title } of LEVELS) {
      const count = this.workspace.widgets.filter((w) => w.unit.level === level).length;
      const summary = this.flaps.get(level)?.parentElement?.querySelector("summary");
      if (summary) summary.textContent = count ? `${title} (${count})` : title;
    }
  }

  private groupCard(group: GroupRecord, parent: HTMLElement): HTMLElement {
    const card = html("div", { class: "inn-group-card", "data-group": group.id }, parent);
    const head = html("div", { class: "inn-group-head" }, card);
    html("span", {}, head, `Group of ${group.widgets.length}`);
    const open = html("button", { type: "button", class: "inn-open-group" }, head, "Side by side");
    const split = html("button", { type: "button" }, head, "Ungroup");
    open.addEventListener("click", () => this.openOverlay(group.id));
    split.addEventListener("click", () => {
      this.save(ungroup(this.workspace, group.id));
      this.rebuild();
    });
    return html("div", { class: "inn-group-members" }, card);
  }

  private mount(record: WidgetRecord, parent: HTMLElement): void {
    const tool = this.deps.tools().get(record.tool);
    const ctx = this.deps.context();
    const card = html("div", { class: "inn-widget", "data-widget": record.id, "data-tool": record.tool, "data-unit-key": record.unit.key }, parent);
    const head = html("div", { class: "inn-widget-head", draggable: "true", title: "Drag onto another widget to group them" }, card);
    const colour = record.unit.runs.length === 1 ? (ctx.colors.get(record.unit.runs[0]) ?? "#999") : "#999";
    html("span", { class: "inn-widget-color", style: `background:${colour}` }, head);
    const titles = html("div", { class: "inn-widget-titles" }, head);
    html("b", {}, titles, tool?.name ?? `unknown tool ${record.tool}`);
    html("div", { class: "inn-small inn-muted inn-widget-unit" }, titles, record.unit.label);
    if (tool && !tool.classDependent) html("span", { class: "inn-no-classes", title: "Does not follow the class selection" }, head, "⊘ classes");
    const jump = html("button", { type: "button", class: "inn-jump", title: "Show the unit in the inspection panel" }, head, "show");
    const close = html("button", { type: "button", class: "inn-close", title: "Close" }, head, "×");
    jump.addEventListener("click", () => this.deps.jump(record.unit));
    close.addEventListener("click", () => {
      this.mounted.get(record.id)?.chart?.finalize();
      this.save(removeWidget(this.workspace, record.id));
      this.rebuild();
    });
    card.addEventListener("mouseenter", () => this.deps.hoverUnit(record.unit.key));
    card.addEventListener("mouseleave", () => this.deps.hoverUnit(null));
    head.addEventListener("dragstart", (e) => {
      e.dataTransfer?.setData("application/x-innspector-widget", record.id);
      e.dataTransfer!.effectAllowed = "move";
    });
    card.addEventListener("dragover", (e) => {
      if (e.dataTransfer?.types.includes("application/x-innspector-widget")) {
        e.preventDefault();
        card.classList.add("inn-drop-target");
      }
    });
    card.addEventListener("dragleave", () => card.classList.remove("inn-drop-target"));
    card.addEventListener("drop", (e) => {
      e.preventDefault();
      card.classList.remove("inn-drop-target");
      const dragged = e.dataTransfer?.getData("application/x-innspector-widget");
      if (dragged) this.group(dragged, record.id);
    });
    html("div", { class: "inn-widget-body" }, card);
    const mounted: Mounted = { record, card, chart: null, content: null, generation: 0 };
    this.mounted.set(record.id, mounted);
    void this.load(mounted);
  }

  /** Groups two widgets (the drop of one on the other); public for keyboard use and tests. */
  group(dragged: string, target: string): void {
    this.save(dropOn(this.workspace, dragged, target));
    this.rebuild();
  }

  private host(record: WidgetRecord, footer: () => HTMLElement): WidgetHost {
    return {
      saveOptions: (patch) => {
        this.save(setOptions(this.workspace, record.id, patch));
        record.options = { ...record.options, ...patch };
      },
      reload: (patch) => {
        this.save(setOptions(this.workspace, record.id, patch));
        record.options = { ...record.options, ...patch };
        const m = this.mounted.get(record.id);
        if (m) void this.load(m);
      },
      open: (toolId, units, options) => this.openMany(toolId, units, options),
      jump: (unit) => this.deps.jump(unit),
      selectSample: (sample) => this.selectSample(sample),
      showSamples: (title, samples) => {
        const box = footer();
        box.replaceChildren();
        html("b", {}, box, `${title}: `);
        html("span", { class: "inn-samples", "data-samples": samples.join(",") }, box, samples.length ? samples.map((s) => `#${s}`).join(", ") : "none");
      },
    };
  }

  private async load(m: Mounted): Promise<void> {
    const generation = ++m.generation;
    const body = m.card.querySelector<HTMLElement>(".inn-widget-body")!;
    const tool = this.deps.tools().get(m.record.tool);
    m.chart?.finalize();
    m.chart = null;
    body.replaceChildren(html("div", { class: "inn-muted inn-loading" }, undefined, "Loading…"));
    m.card.dataset.state = "loading";
    if (!tool) {
      body.replaceChildren(html("div", { class: "inn-error-text" }, undefined, `The tool '${m.record.tool}' is not available (a JSON tool no longer loaded?).`));
      m.card.dataset.state = "error";
      return;
    }
    try {
      const samples = html("div", { class: "inn-widget-samples inn-small" });
      const content = await tool.load(m.record.unit, this.deps.context(), m.record.options, this.host(m.record, () => samples));
      if (generation !== m.generation) return;
      m.content = content;
      body.replaceChildren();
      m.chart = await this.draw(body, content, m.record, tool);
      if (generation !== m.generation) {
        m.chart?.finalize();
        return;
      }
      body.appendChild(samples);
      m.card.dataset.state = "ready";
    } catch (error) {
      if (generation !== m.generation) return;
      body.replaceChildren(html("div", { class: "inn-error-text" }, undefined, `${tool.name}: ${(error as Error).message}`));
      m.card.dataset.state = "error";
    }
  }

  /** Draws a content (chart, html, caption, downloads) into `body`. */
  private async draw(body: HTMLElement, content: WidgetContent, record: { tool: string; unit: UnitRef }, tool: Tool): Promise<RenderedChart | null> {
    let chart: RenderedChart | null = null;
    if (content.spec) {
      const host = html("div", { class: "inn-chart" }, body);
      const { renderChart } = await loadRenderer();
      chart = await renderChart(host, content.spec, content.rows, (s) => this.highlightSample(s), content.sampleField, content.onClick, content.onHover);
      if (content.sampleField) this.charts.add({ chart, host });
    }
    if (content.html) body.appendChild(content.html);
    if (content.caption) html("div", { class: "inn-caption inn-small inn-muted" }, body, content.caption);
    if (content.notes?.length) html("div", { class: "inn-reduced-note inn-small", title: "The logs keep reduced data for this unit (docs/format.md, Reduced data)" }, body, `reduced data: ${content.notes.join("; ")}`);
    const footer = html("div", { class: "inn-widget-downloads" }, body);
    const name = (ext: string) => fileName(tool.id, record.unit.label, ext);
    if (chart) {
      for (const type of ["png", "svg"] as const) {
        html("button", { type: "button", "data-download": type }, footer, type.toUpperCase()).addEventListener("click", async () => download(name(type), await chart!.toImageURL(type)));
      }
    }
    html("button", { type: "button", "data-download": "csv" }, footer, "CSV").addEventListener("click", () => downloadText(name("csv"), toCsv(content.rows), "text/csv"));
    html("button", { type: "button", "data-download": "json" }, footer, "JSON").addEventListener("click", () => downloadText(name("json"), JSON.stringify(content.rows, null, 1), "application/json"));
    return chart;
  }

  // -- the enlarged overlay of a group

  closeOverlay(): void {
    this.overlay?.remove();
    this.overlay = null;
  }

  openOverlay(groupId: string): void {
    this.closeOverlay();
    const group = this.workspace.groups.find((g) => g.id === groupId);
    if (!group) return;
    const overlay = html("div", { class: "inn-overlay", "data-group": group.id, id: "inn-overlay" }, document.body);
    this.overlay = overlay;
    const bar = html("div", { class: "inn-overlay-bar" }, overlay);
    html("b", {}, bar, `Group of ${group.widgets.length}`);
    const records = group.widgets.map((id) => this.workspace.widgets.find((w) => w.id === id)).filter((w): w is WidgetRecord => !!w);
    const tools = records.map((r) => this.deps.tools().get(r.tool));
    const sameTool = tools.every((t) => t && t.id === tools[0]?.id);
    const toggle = (label: string, id: string, on: boolean, enabled: boolean, flip: () => void) => {
      const box = html("label", { class: "inn-toggle-label", title: enabled ? "" : "The widgets are not of one tool" }, bar);
      const input = html("input", { type: "checkbox", id }, box);
      input.checked = on && enabled;
      input.disabled = !enabled;
      box.append(label);
      input.addEventListener("change", flip);
    };
    toggle("Common scale", "inn-common-scale", group.commonScale, true, () => {
      this.save(setGroupFlags(this.workspace, group.id, { commonScale: !group.commonScale }));
      this.openOverlay(group.id);
    });
    toggle("Merge into one", "inn-merge", group.merged, sameTool && !!tools[0]?.merge, () => {
      this.save(setGroupFlags(this.workspace, group.id, { merged: !group.merged }));
      this.openOverlay(group.id);
    });
    html("button", { type: "button", class: "inn-overlay-close" }, bar, "Close").addEventListener("click", () => this.closeOverlay());
    const row = html("div", { class: "inn-overlay-row" }, overlay);
    void this.fillOverlay(row, group, records, sameTool && group.merged ? tools[0] : undefined);
  }

  private async fillOverlay(row: HTMLElement, group: GroupRecord, records: WidgetRecord[], merger: Tool | undefined): Promise<void> {
    const ctx = this.deps.context();
    const cells = records.map((record) => {
      const cell = html("div", { class: "inn-overlay-cell", "data-widget": record.id }, row);
      html("div", { class: "inn-small" }, cell, `${this.deps.tools().get(record.tool)?.name ?? record.tool} · ${record.unit.label}`);
      html("div", { class: "inn-muted" }, cell, "Loading…");
      return cell;
    });
    try {
      const load = (record: WidgetRecord, extra: Partial<WidgetOptions> = {}) => {
        const tool = this.deps.tools().get(record.tool);
        if (!tool) throw new Error(`the tool '${record.tool}' is not available`);
        const noop = () => {};
        return tool.load(record.unit, ctx, { ...record.options, ...extra }, {
          saveOptions: noop,
          reload: noop,
          showSamples: noop,
          open: (toolId, units, options) => this.openMany(toolId, units, options),
          jump: (unit) => this.deps.jump(unit),
          selectSample: (sample) => this.selectSample(sample),
        });
      };
      let contents = await Promise.all(records.map((r) => load(r)));
      if (group.commonScale) {
        const domains = commonDomains(contents);
        contents = await Promise.all(records.map((r) => load(r, domains)));
      }
      if (this.overlay?.dataset.group !== group.id) return;
      if (merger?.merge) {
        row.replaceChildren();
        const cell = html("div", { class: "inn-overlay-cell inn-merged", "data-merged": "true" }, row);
        html("div", { class: "inn-small" }, cell, `${merger.name} · ${records.map((r) => r.unit.label).join(" + ")}`);
        const merged = merger.merge(records.map((r, i) => ({ unit: r.unit, content: contents[i] })));
        await this.draw(cell, merged, { tool: merger.id, unit: records[0].unit }, merger);
        return;
      }
      for (let i = 0; i < records.length; i++) {
        cells[i].lastElementChild?.remove();
        const tool = this.deps.tools().get(records[i].tool)!;
        await this.draw(cells[i], contents[i], records[i], tool);
      }
    } catch (error) {
      row.replaceChildren(html("div", { class: "inn-error-text" }, undefined, `Could not open the group: ${(error as Error).message}`));
    }
  }
}

/** The union of the widgets' extents: the shared x and y domains of a common scale. Pure. */
export function commonDomains(contents: WidgetContent[]): Partial<WidgetOptions> {
  const union = (axis: "x" | "y"): [number, number] | undefined => {
    const ranges = contents.map((c) => c.extents?.[axis]).filter((r): r is [number, number] => !!r && r.every(Number.isFinite));
    if (!ranges.length) return undefined;
    return [Math.min(...ranges.map((r) => r[0])), Math.max(...ranges.map((r) => r[1]))];
  };
  const domains: Partial<WidgetOptions> = {};
  const x = union("x");
  const y = union("y");
  if (x) domains.xDomain = x;
  if (y) domains.yDomain = y;
  return domains;
}
