// The global class selector: toggle any class; class-dependent views follow it.

import { selectAllClasses, toggleClass, type Store } from "../state";
import { html } from "../svg";

export function renderClassSelector(container: HTMLElement, store: Store, classes: string[]): void {
  container.replaceChildren();
  if (!classes.length) {
    html("span", { class: "inn-muted" }, container, "no class labels");
    return;
  }
  html("span", { class: "inn-label" }, container, "Classes");
  const selected = store.get().classes;
  const all = html("button", { class: `inn-chip${selected === null ? " inn-on" : ""}`, type: "button", id: "inn-classes-all" }, container, "all");
  all.addEventListener("click", () => store.update(selectAllClasses));
  for (const name of classes) {
    const on = selected === null || selected.includes(name);
    const chip = html("button", { class: `inn-chip${on ? " inn-on" : ""}`, type: "button", "data-class": name, "aria-pressed": String(on) }, container, name);
    chip.addEventListener("click", () => store.update((s) => toggleClass(s, name, classes)));
  }
}
