// The interestingness panel: pick a measure and every unit at the current level is recoloured
// blue (least) to red (most interesting); the lint's findings are listed, a click jumps to the unit.

import { legendStops } from "../colors";
import { setMeasure, showModel, type Store } from "../state";
import { html } from "../svg";
import type { LintFinding, Measure } from "../types";

export function renderMeasures(container: HTMLElement, store: Store, measures: Measure[], top: { label: string; score: number; go: () => void }[]): void {
  container.replaceChildren();
  html("h3", {}, container, "Interestingness");
  const select = html("select", { id: "inn-measure" }, container);
  html("option", { value: "" }, select, "none");
  for (const measure of measures) html("option", { value: measure.id, title: measure.description }, select, measure.name);
  select.value = store.get().measure ?? "";
  select.addEventListener("change", () => store.update((s) => setMeasure(s, select.value)));
  const current = measures.find((m) => m.id === store.get().measure);
  if (!current) return;
  html("div", { class: "inn-muted inn-small" }, container, current.description);
  const legend = html("div", { class: "inn-legend", id: "inn-legend" }, container);
  const stops = legendStops().map((s) => `${s.color} ${(s.offset * 100).toFixed(0)}%`).join(", ");
  html("div", { class: "inn-legend-bar", style: `background: linear-gradient(to right, ${stops})` }, legend);
  const labels = html("div", { class: "inn-legend-labels" }, legend);
  html("span", {}, labels, "least");
  html("span", {}, labels, "most interesting");
  html("div", { class: "inn-muted inn-small" }, container, "grey: no data for this measure");
  if (top.length) {
    html("div", { class: "inn-subtitle" }, container, "Most interesting here");
    const list = html("ol", { class: "inn-toplist" }, container);
    for (const item of top) {
      const li = html("li", {}, list);
      const link = html("button", { class: "inn-link", type: "button" }, li, `${item.label} (${item.score.toFixed(2)})`);
      link.addEventListener("click", item.go);
    }
  }
}

// Plain glyphs: TensorBoard's iframe may have no emoji font.
const SEVERITY_ICONS: Record<string, string> = { error: "✖", warning: "▲", info: "i" };

export function renderLint(container: HTMLElement, store: Store, findings: { run: string; finding: LintFinding }[], failures: string[]): void {
  container.replaceChildren();
  html("h3", {}, container, `Lint${findings.length ? ` (${findings.length})` : ""}`);
  if (!findings.length && !failures.length) html("div", { class: "inn-muted" }, container, "No careless mistakes found.");
  const list = html("ul", { class: "inn-lint" }, container);
  for (const { run, finding } of findings) {
    const li = html("li", { class: `inn-lint-${finding.severity}`, "data-rule": finding.rule, "data-run": run, "data-layer": finding.layer ?? "" }, list);
    html("span", { class: "inn-severity" }, li, SEVERITY_ICONS[finding.severity] ?? "•");
    const body = html("button", { class: "inn-link", type: "button", title: finding.message }, li);
    html("b", {}, body, `${run}${finding.layer ? ` / ${finding.layer}` : ""}`);
    html("span", {}, body, ` ${finding.rule}`);
    html("div", { class: "inn-small inn-muted" }, li, finding.message);
    body.addEventListener("click", () => store.update((s) => showModel(s, run, finding.layer ? `layer:${finding.layer}` : null)));
  }
  for (const failure of failures) html("div", { class: "inn-error-text" }, container, failure);
}
