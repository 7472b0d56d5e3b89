// The localization panel: the unit types present at this level with counts; toggling one puts
// badges on the units that have it (counted on closed groups and models for hidden ones).

import { localizationLabel, localizationOptions } from "../overlayData";
import { toggleLocalization, type Store } from "../state";
import { html } from "../svg";
import type { StructuresAnswer } from "../types";

const CATEGORY_TITLES: Record<string, string> = {
  structure: "Structures",
  layer: "Layer types",
  op: "Operations",
  variable: "Variables",
  activation: "Activation functions",
};

export function renderLocalization(container: HTMLElement, store: Store, answer: StructuresAnswer, run: string | null): void {
  container.replaceChildren();
  html("h3", {}, container, "Localization");
  const selected = new Set(store.get().localization);
  const options = localizationOptions(answer, run);
  const order = ["structure", "layer", "op", "variable", "activation"];
  for (const category of order) {
    const items = options.filter((o) => o.category === category).sort((a, b) => b.count - a.count || a.type.localeCompare(b.type));
    if (!items.length) continue;
    html("div", { class: "inn-subtitle" }, container, CATEGORY_TITLES[category] ?? category);
    const list = html("div", { class: "inn-toggles" }, container);
    for (const item of items) {
      const on = selected.has(item.key);
      const button = html("button", { class: `inn-chip${on ? " inn-on" : ""}`, type: "button", "data-localize": item.key, "aria-pressed": String(on) }, list, `${localizationLabel(item.key)} ${item.count}`);
      button.addEventListener("click", () => store.update((s) => toggleLocalization(s, item.key)));
    }
  }
}
